"""Start and stop what runs beside the HTTP API: the client session, the harvest schedule,
the sharing context (agreements, nonce cache, audit log). One `cleanup_ctx` owns them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from harvesters.base import HarvestResult
from harvesters.http import client_session
from harvesters.runs import RunLog
from harvesters.schedule import (
    Runtime,
    build_scheduler,
    register_runtime,
    sync_jobs,
    unregister_runtime,
)
from node.core import constants
from node.core.config import CONFIG_FILE, load_config
from node.core.errors import NodeError
from node.server.keys import CONFIG, IDENTITY, METRICS, STATE
from node.server.sharing import SHARING

log = logging.getLogger("fednode.node")

SCHEDULE_ENABLED = web.AppKey("schedule_enabled", bool)


@dataclass
class Services:
    """What the lifecycle starts; a holder set before the app starts, filled while it runs
    (an aiohttp app's own state must not change after start-up)."""

    runtime: Runtime | None = None
    scheduler: AsyncIOScheduler | None = None


SERVICES = web.AppKey("services", Services)


def reload_sources(runtime: Runtime, scheduler: AsyncIOScheduler) -> None:
    """Pick up peers and GBIF queries added, changed or removed in node.toml."""
    try:
        config = load_config(runtime.config.home)
    except NodeError as exc:
        log.warning(
            "node.toml changed but cannot be used; keeping the running sources: %s", exc.detail
        )
        return
    runtime.config = config
    sync_jobs(scheduler, config)
    log.info("harvest schedule now has %d source(s)", len(scheduler.get_jobs()))


async def _watch_sources(runtime: Runtime, scheduler: AsyncIOScheduler) -> None:
    """`fednode peer add` edits node.toml while the daemon runs: follow it without a restart."""
    path = runtime.config.home / CONFIG_FILE
    seen = path.stat().st_mtime_ns
    while True:
        await asyncio.sleep(constants.CONFIG_WATCH_S)
        try:
            stamp = path.stat().st_mtime_ns
        except FileNotFoundError:
            continue
        if stamp != seen:
            seen = stamp
            reload_sources(runtime, scheduler)


def scheduler_of(app: web.Application) -> AsyncIOScheduler | None:
    services = app.get(SERVICES)
    return services.scheduler if services else None


async def lifecycle(app: web.Application) -> AsyncIterator[None]:

    config = app[CONFIG]
    services = app[SERVICES]
    session = client_session()
    runs = RunLog(config.home)
    runtime = Runtime(config, app[IDENTITY], session, runs)
    metrics = app[METRICS]

    def count(result: HarvestResult) -> None:
        metrics.harvests.labels(result.source, result.outcome).inc()

    runtime.on_result.append(count)
    register_runtime(runtime)
    services.runtime = runtime
    scheduler = None
    if app.get(SCHEDULE_ENABLED, True):
        scheduler = build_scheduler(config)
        scheduler.start()
        sync_jobs(scheduler, config)
        services.scheduler = scheduler
    watcher = asyncio.create_task(_watch_sources(runtime, scheduler)) if scheduler else None
    app[STATE].ready = True
    log.info("node %s ready", config.id)
    try:
        yield
    finally:
        app[STATE].ready = False
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        app[SHARING].close()
        unregister_runtime(config.home)
        await session.close()
        runs.close()
        log.info("node %s stopped", config.id)
