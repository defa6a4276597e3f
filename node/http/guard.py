"""Who may talk to the local web server: web pages on other sites may not.

The server listens on loopback (or a LAN address), where any web page the user opens can reach it.
Two rules keep such pages out:

- **Host names.** A request must name this server: ``localhost``, an IP address (the bound one,
  loopback, a LAN address of a wildcard bind) or a name configured in ``http_hosts``. Anything else
  gets 421: a page on ``evil.example`` whose DNS name was rebound to 127.0.0.1 sends
  ``Host: evil.example`` and learns nothing (DNS rebinding). IP literals are safe to accept: a page
  can only have an IP address as its origin if it is served from that address.
- **Origins.** ``/api`` answers only requests from its own pages or from outside a browser. A
  request whose ``Origin`` names another origin, or that the browser marks as made by another site
  (``Sec-Fetch-Site: cross-site`` or ``same-site``), gets 403, before any handler runs. A request
  that changes state (any method but GET, HEAD, OPTIONS) must also say
  ``Content-Type: application/json``: a browser sends that cross-origin only after a CORS preflight,
  which this server never grants, so a form post or a ``text/plain`` fetch from another page never
  reaches a handler (415). A local tool may instead send the control token (``control.token`` in the
  node home) as ``X-Djmesh-Token``; it then skips the origin rules, not the host rule.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
from collections.abc import Iterable

from aiohttp import web
from aiohttp.typedefs import Handler

log = logging.getLogger(__name__)

TOKEN_HEADER = "X-Djmesh-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_FOREIGN_SITES = frozenset({"cross-site", "same-site"})


def host_name(host_header: str) -> str:
    """The name part of a Host header, lower case, without port or IPv6 brackets."""
    value = host_header.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    if value.count(":") == 1:
        value = value.partition(":")[0]
    return value.rstrip(".")


def _is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name.partition("%")[0])
    except ValueError:
        return False
    return True


def _refusal(request: web.Request, status: int, message: str) -> web.Response:
    if request.path.startswith("/api"):
        return web.Response(
            status=status, text=json.dumps({"error": message}), content_type="application/json"
        )
    return web.Response(status=status, text=message + "\n")


class RequestGuard:
    """The host and origin rules as aiohttp middleware (``guard.middleware``)."""

    def __init__(self, *, bound_host: str, names: Iterable[str] = (), token: str | None = None) -> None:
        self.names = frozenset({"localhost", host_name(bound_host), *(host_name(n) for n in names)})
        self._token = token
        self.refused = 0

    def allows_host(self, host_header: str | None) -> bool:
        if not host_header:
            return False
        name = host_name(host_header)
        return name in self.names or _is_ip_literal(name)

    def _has_token(self, request: web.Request) -> bool:
        offered = request.headers.get(TOKEN_HEADER)
        if self._token is None or offered is None:
            return False
        return hmac.compare_digest(offered.encode(), self._token.encode())

    def refusal(self, request: web.Request) -> tuple[int, str] | None:
        """(status, reason) when ``request`` must not reach a handler, else None."""
        host = request.headers.get("Host")
        if not self.allows_host(host):
            return 421, f"this server does not answer to the host name {(host or '')[:80]!r}"
        if not request.path.startswith("/api") or self._has_token(request):
            return None
        origin = request.headers.get("Origin")
        if origin is not None and origin.lower() != f"{request.scheme}://{host}".lower():
            return 403, "requests from other web sites are refused"
        if request.headers.get("Sec-Fetch-Site", "").lower() in _FOREIGN_SITES:
            return 403, "requests from other web sites are refused"
        if request.method not in SAFE_METHODS and request.content_type != "application/json":
            return 415, "a request that changes state must be Content-Type: application/json"
        return None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        refused = self.refusal(request)
        if refused is not None:
            status, reason = refused
            self.refused += 1
            log.info("http: %s %s refused (%d): %s", request.method, request.path, status, reason)
            return _refusal(request, status, reason)
        return await handler(request)
