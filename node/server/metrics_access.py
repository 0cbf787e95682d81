"""Who may read /metrics: it names the partners and what each received.

Loopback callers (a scraper on the host) may; anyone else must present the bearer token
of `[server] metrics_token`. Behind a trusted proxy the caller is the proxied client, not
the proxy (node.wire.proxies), so a stranger reaching the node through nginx is not loopback.
With no token configured, remote scraping is simply off: fail closed.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from node.core.config import NodeConfig
from node.core.errors import NotFound
from node.wire.proxies import parse_address


def is_loopback(address: str | None) -> bool:
    ip = parse_address(address)
    return ip is not None and ip.is_loopback


def check_metrics_access(request: web.Request, config: NodeConfig) -> None:
    """NotFound (the answer a stranger gets for any path that is not theirs) unless allowed."""
    if is_loopback(request.remote):
        return
    token = config.metrics_token
    given = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return
    raise NotFound("no such resource on this node")
