"""The ``--http ADDR`` address: ``HOST:PORT``, ``[IPv6]:PORT`` or just ``PORT`` (loopback)."""

from __future__ import annotations


class HttpAddressError(ValueError):
    """An ``--http`` address that does not parse; the message says what is expected."""


def parse_http_address(text: str) -> tuple[str, int]:
    """``127.0.0.1:8080`` -> (host, port). A bare port (or ``:PORT``) binds loopback only.

    Port 0 asks the system for a free port (the server reports the one it got).
    """
    value = text.strip()
    if value.startswith("["):
        host, sep, port = value[1:].partition("]:")
        if not sep:
            raise HttpAddressError(f"{text!r}: write an IPv6 address as [ADDR]:PORT")
    elif ":" in value:
        host, _, port = value.rpartition(":")
        if ":" in host:
            raise HttpAddressError(f"{text!r}: write an IPv6 address as [ADDR]:PORT")
    else:
        host, port = "", value
    try:
        number = int(port)
    except ValueError:
        raise HttpAddressError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:8080)") from None
    if not 0 <= number <= 65535:
        raise HttpAddressError(f"{text!r}: the port must be 0..65535")
    return host or "127.0.0.1", number


def url_host(host: str) -> str:
    """How ``host`` appears in a URL (IPv6 in brackets; a wildcard bind is reached on loopback)."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host
