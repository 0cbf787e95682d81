"""The node's HTTP API: `build_app(config, identity)` is used by `fednode serve` and tests.

Domain errors raised anywhere become `{"error": code, "detail": text}` with their status in
one middleware; handlers stay free of HTTP error plumbing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import generate_latest

from node import __version__
from node.core.config import NodeConfig
from node.core.constants import MAX_REQUEST_BYTES, WELL_KNOWN_PATH
from node.core.errors import NodeError, RateLimited
from node.core.identity import Identity
from node.server import services, status_page
from node.server.api import agreements as api_agreements
from node.server.api import audit as api_audit
from node.server.api import catalogue as api_catalogue
from node.server.api import dataset_page as api_dataset_page
from node.server.api import datasets as api_datasets
from node.server.keys import CONFIG, IDENTITY, METRICS, STARTED, STATE, Metrics, RunState
from node.server.metrics_access import check_metrics_access
from node.server.services import SERVICES, Services
from node.server.sharing import SHARING, Sharing
from node.store.key_statements import own_statements
from node.store.refusals import is_refusal
from node.wire.proxies import proxy_middleware

log = logging.getLogger("fednode.http")


def error_response(exc: NodeError) -> web.Response:
    headers = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after_s)
    return web.json_response(
        {"error": exc.code, "detail": exc.detail}, status=exc.status, headers=headers
    )


@web.middleware
async def errors_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    route = request.match_info.route.resource
    name = route.canonical if route is not None else "unmatched"
    started = time.perf_counter()
    status = 500
    try:
        if not request.app[STATE].ready and request.path != "/health":
            raise _Starting("the node is starting or stopping; retry shortly")
        response = await handler(request)
        status = response.status
        return response
    except NodeError as exc:
        status = exc.status
        if is_refusal(exc):
            request.app[METRICS].denied.labels(exc.code).inc()
            _audit_refusal(request, exc)
        log.info("%s %s -> %s %s", request.method, request.path, exc.status, exc.code)
        return error_response(exc)
    except web.HTTPException as exc:
        status = exc.status
        if exc.status >= 400 and exc.content_type != "application/json":
            return web.json_response(
                {"error": exc.reason.lower().replace(" ", "_"), "detail": exc.reason},
                status=exc.status,
            )
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return web.json_response(
            {"error": "internal_error", "detail": "internal error; see the node's log"},
            status=500,
        )
    finally:
        metrics = request.app[METRICS]
        metrics.requests.labels(name, str(status)).inc()
        metrics.latency.labels(name).observe(time.perf_counter() - started)


def _audit_refusal(request: web.Request, exc: NodeError) -> None:
    """Every refusal goes into the audit log, grouped so a flood costs a few entries."""
    sharing = request.app.get(SHARING)
    if sharing is None:
        return
    try:
        sharing.refusals.record(request, exc)
    except Exception:  # the request stays refused; the log says why the entry is missing
        log.exception("could not audit a refusal of %s %s", request.method, request.path)


class _Starting(NodeError):
    status = 503
    code = "unavailable"


async def well_known(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    identity = request.app[IDENTITY]
    base = config.url.rstrip("/")
    return web.json_response(
        {
            "id": config.id,
            "name": config.name,
            "country": config.country,
            "url": config.url,
            "public_key": identity.public_key_text,
            "fingerprint": identity.fingerprint,
            # Rotations and revocations of this node's keys, each signed by the key it
            # retires (or its successor): partners pinning an old key follow them.
            "key_statements": own_statements(config.home, config.id),
            "version": __version__,
            "endpoints": {
                "datasets": f"{base}/datasets",
                "rss": f"{base}/rss",
                "archive": f"{base}/datasets/{{id}}/archive",
                "eml": f"{base}/datasets/{{id}}/eml",
                "agreements": f"{base}/agreements/{{id}}",
                "health": f"{base}/health",
                "metrics": f"{base}/metrics",
            },
        }
    )


async def health(request: web.Request) -> web.Response:
    ready = request.app[STATE].ready
    return web.json_response(
        {
            "status": "ok" if ready else "starting",
            "node": request.app[CONFIG].id,
            "uptime_s": round(time.monotonic() - request.app[STARTED], 3),
        },
        status=200 if ready else 503,
    )


async def metrics(request: web.Request) -> web.Response:
    check_metrics_access(request, request.app[CONFIG])
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})


def build_app(config: NodeConfig, identity: Identity) -> web.Application:
    """The node's aiohttp application; routes of each area are added by their module."""
    app = web.Application(
        middlewares=[proxy_middleware(config), errors_middleware],
        client_max_size=MAX_REQUEST_BYTES,
    )
    app[CONFIG] = config
    app[IDENTITY] = identity
    app[METRICS] = Metrics()
    app[STARTED] = time.monotonic()
    app[STATE] = RunState()
    app.router.add_get(WELL_KNOWN_PATH, well_known)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    app[SERVICES] = Services()
    app[SHARING] = Sharing(config, identity)
    api_datasets.add_routes(app)
    api_dataset_page.add_routes(app)
    api_catalogue.add_routes(app)
    api_agreements.add_routes(app)
    status_page.add_routes(app)
    api_audit.add_routes(app)
    app.cleanup_ctx.append(services.lifecycle)
    app.cleanup_ctx.append(api_audit.upkeep)  # after lifecycle: stops before the state closes
    return app
