"""The harvest schedule (APScheduler 3) and the one function every run goes through.

Jobs live in state.sqlite (SQLAlchemy job store), so a restart neither loses nor doubles
runs; `coalesce` folds missed runs into one, `max_instances=1` and the source lock keep
one run per source at a time, and jitter spreads many nodes' runs apart. `fednode harvest`
calls `run_source` directly: the same code path as the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from harvesters.base import Harvester, HarvestResult, new_run_id
from harvesters.gbif import GbifHarvester
from harvesters.http import Sleep
from harvesters.ipt import IptHarvester
from harvesters.peer import PeerHarvester
from harvesters.runs import RunLog, SourceBusy, source_lock
from node.core import constants
from node.core.config import NodeConfig
from node.core.errors import ConfigError
from node.core.identity import Identity
from node.store.state import state_path
from node.store.store import Store

log = logging.getLogger("fednode.schedule")

_EVERY = re.compile(r"^every\s+(\d+)\s*(s|m|h|d)$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
JOB_PREFIX = "harvest:"


@dataclass
class Runtime:
    """What a harvest run needs from the running node."""

    config: NodeConfig
    identity: Identity
    session: aiohttp.ClientSession
    runs: RunLog
    on_result: list[Callable[[HarvestResult], None]] = field(default_factory=list)
    sleep: Sleep = asyncio.sleep  # the peers' retry waits; tests pass one that does not wait


_RUNTIMES: dict[str, Runtime] = {}


def register_runtime(runtime: Runtime) -> None:
    _RUNTIMES[str(Path(runtime.config.home).resolve())] = runtime


def unregister_runtime(home: Path) -> None:
    _RUNTIMES.pop(str(Path(home).resolve()), None)


def parse_schedule(text: str) -> BaseTrigger:
    """`every 30m` / `every 6h` / a five-field crontab line."""
    text = text.strip()
    match = _EVERY.match(text)
    if match:
        seconds = int(match.group(1)) * _UNIT_S[match.group(2)]
        if seconds < 10:
            raise ConfigError(f"schedule {text!r}: at least 10 s between runs")
        jitter = min(constants.SCHEDULE_JITTER_S, seconds // 10)
        return IntervalTrigger(seconds=seconds, jitter=jitter or None, timezone=dt.UTC)
    try:
        return CronTrigger.from_crontab(text, timezone=dt.UTC)
    except ValueError as exc:
        raise ConfigError(
            f"schedule {text!r}: use 'every 30m', 'every 6h', 'every 1d' or a crontab line "
            f"such as '0 3 * * *' ({exc})"
        ) from exc


def configured_sources(config: NodeConfig) -> dict[str, str]:
    """source id -> schedule text, for every peer, GBIF query and IPT in node.toml."""
    sources = {f"peer:{p.id}": p.schedule for p in config.peers}
    sources.update({f"gbif:{q.name}": q.schedule for q in config.gbif})
    sources.update({f"ipt:{i.id}": i.schedule for i in config.ipt})
    return sources


def _harvester(runtime: Runtime, source: str) -> Harvester:
    kind, _, name = source.partition(":")
    if kind == "peer":
        return PeerHarvester(
            runtime.config,
            runtime.config.peer(name),
            runtime.identity,
            runtime.session,
            runtime.runs,
            runtime.sleep,
        )
    if kind == "gbif":
        return GbifHarvester(
            runtime.config, runtime.config.gbif_query(name), Store(runtime.config.home)
        )
    if kind == "ipt":
        return IptHarvester(
            runtime.config,
            runtime.config.ipt_source(name),
            runtime.session,
            runtime.runs,
            runtime.sleep,
        )
    raise ConfigError(f"unknown source {source!r}: use peer:<id>, gbif:<query> or ipt:<id>")


async def run_source(runtime: Runtime, source: str, *, now: bool = False) -> HarvestResult:
    """Run one harvest now: lock, circuit breaker, harvest, record, report.

    `now=True` (`fednode harvest PEER --now`) runs even while the source's circuit rests:
    the person asking has seen the peer come back. The override is logged.
    """
    run_id = new_run_id(source.replace(":", "-"))
    try:
        with source_lock(runtime.config.home, source):
            resting = runtime.runs.circuit_open(source)
            if resting and now:
                log.warning("harvest %s: resting circuit overridden by hand (--now)", source)
            if resting and not now:
                result = HarvestResult(
                    source,
                    run_id,
                    "skipped",
                    error=f"{constants.CIRCUIT_FAILURES} failures in a row; resting for "
                    f"{constants.CIRCUIT_OPEN_S // 60} min before trying again",
                )
            else:
                result = await _harvester(runtime, source).harvest(run_id)
    except SourceBusy as exc:
        result = HarvestResult(source, run_id, "skipped", error=str(exc))
    result.finished = result.finished or dt.datetime.now(dt.UTC)
    if result.outcome != "skipped" or "resting" in result.error:
        runtime.runs.record(result)
    for callback in runtime.on_result:
        callback(result)
    log.info(
        "harvest %s: %s, %d records in %.1f s%s",
        source,
        result.outcome,
        result.records,
        result.duration_s,
        f" ({result.error})" if result.error else "",
    )
    return result


async def scheduled_job(home: str, source: str) -> None:
    """Entry point stored in the job store: only picklable arguments (home, source)."""
    runtime = _RUNTIMES.get(str(Path(home).resolve()))
    if runtime is None:
        log.warning("no running node for %s; skipping %s", home, source)
        return
    await run_source(runtime, source)


def build_scheduler(config: NodeConfig) -> AsyncIOScheduler:
    """A scheduler whose jobs match node.toml, keeping persisted next-run times."""
    store = SQLAlchemyJobStore(
        url=f"sqlite:///{state_path(config.home)}", tablename="scheduler_jobs"
    )
    scheduler = AsyncIOScheduler(
        jobstores={"default": store},
        # No grace limit: a run missed by any outage is run once (coalesced) at start-up,
        # instead of being dropped until the next scheduled time.
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=dt.UTC,
    )
    return scheduler


def sync_jobs(scheduler: AsyncIOScheduler, config: NodeConfig) -> None:
    """Add, update or remove jobs so they match node.toml; unchanged jobs keep their times."""
    wanted = configured_sources(config)
    home = str(Path(config.home).resolve())
    for job in scheduler.get_jobs():
        source = job.id.removeprefix(JOB_PREFIX)
        if source not in wanted:
            with contextlib.suppress(JobLookupError):
                scheduler.remove_job(job.id)
    for source, schedule in wanted.items():
        trigger = parse_schedule(schedule)
        job_id = JOB_PREFIX + source
        existing = scheduler.get_job(job_id)
        if (
            existing is not None
            and str(existing.trigger) == str(trigger)
            and existing.args == (home, source)
        ):
            continue
        scheduler.add_job(
            scheduled_job,
            trigger,
            args=(home, source),
            id=job_id,
            name=source,
            replace_existing=True,
        )


def next_runs(scheduler: AsyncIOScheduler | None) -> dict[str, dt.datetime | None]:
    if scheduler is None:
        return {}
    return {j.id.removeprefix(JOB_PREFIX): j.next_run_time for j in scheduler.get_jobs()}
