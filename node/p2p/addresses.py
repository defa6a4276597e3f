"""Turn wildcard listen addresses (``/ip4/0.0.0.0``) into addresses other peers can dial.

A bootstrap prints its multiaddrs for other nodes' configs, and nodes register theirs at rendezvous
points: ``/ip4/0.0.0.0/...`` is useless to a remote peer, so each wildcard is replaced by the
machine's interface addresses (loopback included, last).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct

_SIOCGIFADDR = 0x8915  # Linux


def local_ipv4_addresses() -> list[str]:
    """IPv4 addresses of this machine's interfaces, non-loopback first; falls back to the hostname."""
    found: list[str] = []
    try:
        import fcntl  # Unix only

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for _, name in socket.if_nameindex():
                try:
                    packed = fcntl.ioctl(sock.fileno(), _SIOCGIFADDR, struct.pack("256s", name[:15].encode()))
                except OSError:
                    continue  # interface without an IPv4 address
                found.append(socket.inet_ntoa(packed[20:24]))
    except (OSError, AttributeError, ImportError):
        found = []  # no interface listing here (not Linux): fall back to the hostname
    if not found:
        with contextlib.suppress(OSError):
            found.append(socket.gethostbyname(socket.gethostname()))
    found.append("127.0.0.1")
    unique = list(dict.fromkeys(found))
    return sorted(unique, key=lambda a: ipaddress.ip_address(a).is_loopback)


def expand_wildcards(addrs: list[str]) -> list[str]:
    """Replace ``/ip4/0.0.0.0`` (and ``/ip6/::``) in full multiaddrs by dialable addresses."""
    out: list[str] = []
    for addr in addrs:
        if addr.startswith("/ip4/0.0.0.0/"):
            rest = addr[len("/ip4/0.0.0.0") :]
            out.extend(f"/ip4/{ip}{rest}" for ip in local_ipv4_addresses())
        elif addr.startswith("/ip6/::/"):
            out.append("/ip6/::1" + addr[len("/ip6/::") :])
        else:
            out.append(addr)
    return list(dict.fromkeys(out))


def check_port_free(addr: str) -> None:
    """Raise OSError if a fixed TCP port in ``addr`` is taken.

    py-libp2p listens with SO_REUSEPORT (for hole punching), so a second node on the same port
    would bind silently and the kernel would split incoming connections between the two.
    A plain bind (no SO_REUSEPORT) fails on a taken port, which is the error users expect.
    """
    parts = addr.strip("/").split("/")
    if len(parts) < 4 or parts[0] not in ("ip4", "ip6") or parts[2] != "tcp" or parts[3] == "0":
        return
    family = socket.AF_INET if parts[0] == "ip4" else socket.AF_INET6
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((parts[1], int(parts[3])))
