"""Reverse proxies: whose `X-Forwarded-*` headers are believed, and the public base URL.

Anyone can send `X-Forwarded-Proto: https` or `X-Forwarded-For: <a partner's address>`.
Believed from a stranger, the first would let a plain-HTTP request pass as addressed to
the node's https URL, the second would let one address spread its requests over every
rate-limit bucket and audit group. So the headers are honoured only when the TCP peer is
one of `[server] trusted_proxies`; from anyone else they are ignored, never an error
(a client behind its own proxy may send them in good faith).

The client address is the right-most `X-Forwarded-For` entry that is not itself a trusted
proxy: entries to its left were written by the client and prove nothing.

Links the node hands out (RSS, /datasets, EML) are built from the configured `url`, never
from a request's Host, which a client chooses: echoed, it would let anyone make the node
advertise their host.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import hdrs, web
from aiohttp.typedefs import Middleware

from node.core.config import NodeConfig
from node.core.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_SCHEMES = ("http", "https")


class TrustedProxies:
    """The set of addresses whose forwarding headers are believed."""

    def __init__(self, entries: Iterable[str]) -> None:
        networks: list[Network] = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                raise ConfigError(
                    f"[server] trusted_proxies: {entry!r} is not an address or CIDR"
                ) from None
        self.networks = tuple(networks)

    def trusts(self, address: str | None) -> bool:
        ip = parse_address(address)
        return ip is not None and any(ip in network for network in self.networks)

    def client(self, peer: str | None, forwarded_for: list[str]) -> str | None:
        """The right-most forwarded address that is not a trusted proxy, else the peer."""
        hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
        for hop in reversed(hops):
            if not hop:
                continue
            if not self.trusts(hop):
                return _address(hop)
        return peer


def _address(hop: str) -> str:
    """A forwarded hop as an address; anything unparsable is kept as a bounded label."""
    try:
        return str(ipaddress.ip_address(hop.strip("[]")))
    except ValueError:
        return hop[:64]


def parse_address(address: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """A peer address as the socket reports it (scope ids and IPv4-mapped IPv6 included)."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def proxy_middleware(config: NodeConfig) -> Middleware:
    """Rewrite scheme, host and remote from a trusted proxy's headers; ignore them otherwise."""
    proxies = TrustedProxies(config.trusted_proxies)

    @web.middleware
    async def forwarded(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not proxies.trusts(request.remote):
            return await handler(request)
        changes: dict[str, Any] = {}
        client = proxies.client(request.remote, request.headers.getall(hdrs.X_FORWARDED_FOR, []))
        if client:
            changes["remote"] = client
        proto = request.headers.get(hdrs.X_FORWARDED_PROTO, "").split(",")[0].strip().lower()
        if proto in _SCHEMES:
            changes["scheme"] = proto
        headers = request.headers.copy()
        host = request.headers.get(hdrs.X_FORWARDED_HOST, "").split(",")[0].strip()
        if host:
            headers[hdrs.HOST] = host
            changes["host"] = host
        return await handler(request.clone(headers=headers, **changes))

    return forwarded


def public_base(config: NodeConfig) -> str:
    """The node's base URL for links: the configured `url`, else its listen address."""
    if config.url:
        return config.url.rstrip("/")
    return f"http://{config.host}:{config.port}"
