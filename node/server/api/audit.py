"""`GET /audit/heads` and the audit log's upkeep while the node runs.

A partner asks, with a signed request, for the signed heads of *its own* log that this
node received with its archives; no one else's are shown, so the endpoint tells nobody
anything they did not already send. The upkeep signs a checkpoint when the node starts,
every AUDIT_CHECKPOINT_S, and on shutdown, and writes the refusal summaries of each
closed minute (node.store.refusals).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from node.core import constants
from node.core.errors import Unauthenticated
from node.server.keys import CONFIG
from node.server.sharing import SHARING, Sharing
from node.store.refusals import FLUSH_EVERY_S

log = logging.getLogger("fednode.audit")


async def heads(request: web.Request) -> web.Response:
    sharing = request.app[SHARING]
    requester = await sharing.identify(request)
    if requester.key is None:
        raise Unauthenticated(
            "audit heads are given only to the node that signed them; sign the request",
            reason="unsigned",
        )
    return web.json_response(
        {
            "node": request.app[CONFIG].id,
            "party": requester.party,
            "heads": sharing.received_heads.for_key(requester.key),
        }
    )


def _checkpoint(sharing: Sharing, when: str) -> None:
    signed = sharing.checkpoints.take(sharing.audit)
    log.info("audit head signed %s: entry %d, %s", when, signed.seq, signed.hash[:16])


async def _every(seconds: float, action: Callable[[], object]) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            action()
        except Exception:  # a failed round must not stop the next one
            log.exception("audit upkeep failed; retrying in %s s", seconds)


async def upkeep(app: web.Application) -> AsyncIterator[None]:
    sharing = app[SHARING]
    _checkpoint(sharing, "at start-up")
    tasks = [
        asyncio.create_task(_every(FLUSH_EVERY_S, sharing.refusals.flush_closed)),
        asyncio.create_task(
            _every(constants.AUDIT_CHECKPOINT_S, lambda: _checkpoint(sharing, "hourly"))
        ),
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        sharing.refusals.flush()
        _checkpoint(sharing, "at shutdown")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/audit/heads", heads)
