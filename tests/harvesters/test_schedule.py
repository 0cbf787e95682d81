"""The harvest schedule: schedule text, jobs persisted in state.sqlite across restarts, and
a due job running the same `run_source` as `fednode harvest`.

Schedulers here are the daemon's own (`build_scheduler` + `sync_jobs` on a home made by
`fednode init`); a "restart" is a new scheduler built on the same home after the first
one shut down.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import tomlkit
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harvesters.http import client_session
from harvesters.runs import RunLog
from harvesters.schedule import (
    JOB_PREFIX,
    Runtime,
    build_scheduler,
    next_runs,
    parse_schedule,
    register_runtime,
    scheduled_job,
    sync_jobs,
    unregister_runtime,
)
from node.core.config import CONFIG_FILE, load_config
from node.core.errors import ConfigError
from node.core.identity import Identity
from node.store.state import state_path
from node.store.store import Store, read_parquet
from tests import nodes
from tests.harvesters.hostile_peer import occurrence_archive, occurrence_rows, serve

NOW = dt.datetime(2026, 3, 14, 15, 9, 26, tzinfo=dt.UTC)


# -- parse_schedule ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "seconds", "jitter"),
    [
        ("every 30m", 1800, 30),
        ("every 6h", 21600, 30),
        ("every 1d", 86400, 30),
        ("every 45s", 45, 4),
        ("  every 10s ", 10, 1),
    ],
)
def test_parse_schedule__every_n_units_is_an_interval_with_bounded_jitter(
    text: str, seconds: int, jitter: int
) -> None:
    trigger = parse_schedule(text)

    assert isinstance(trigger, IntervalTrigger)
    assert trigger.interval == dt.timedelta(seconds=seconds)
    assert trigger.jitter == jitter


def test_parse_schedule__crontab_line_fires_at_its_utc_time() -> None:
    trigger = parse_schedule("0 3 * * *")

    assert isinstance(trigger, CronTrigger)
    assert trigger.get_next_fire_time(None, NOW) == dt.datetime(2026, 3, 15, 3, 0, tzinfo=dt.UTC)
    weekly = parse_schedule("30 2 * * mon")
    assert weekly.get_next_fire_time(None, NOW) == dt.datetime(2026, 3, 16, 2, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("sometimes", "use 'every 30m', 'every 6h', 'every 1d' or a crontab line"),
        ("every 30 minutes", "use 'every 30m'"),
        ("61 * * * *", "such as '0 3 * * *'"),
        ("every 5s", "at least 10 s between runs"),
        ("every 0m", "at least 10 s between runs"),
    ],
)
def test_parse_schedule__bad_text_is_a_clear_config_error(text: str, words: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_schedule(text)

    assert f"schedule {text.strip()!r}" in error.value.detail
    assert words in error.value.detail


# -- jobs in state.sqlite ---------------------------------------------------------------
def _key() -> str:
    return Identity(Ed25519PrivateKey.generate()).public_key_text


@pytest.fixture
def node(tmp_path: Path) -> nodes.TestNode:
    made = nodes.make_node(tmp_path, "vnmn", "Vietnam National Museum of Nature", "VN")
    made.edit_config(
        peers=[
            {"id": "gxib", "url": "http://127.0.0.1:9", "key": _key(), "schedule": "every 30m"},
            {"id": "iebr", "url": "http://127.0.0.1:9", "key": _key(), "schedule": "0 3 * * *"},
        ],
        gbif=[
            {"name": "vn-gesneriaceae", "predicate": {"family_key": 2413}, "schedule": "every 24h"}
        ],
    )
    return made


@pytest.fixture
async def schedulers() -> AsyncIterator[list[AsyncIOScheduler]]:
    """Every scheduler a test starts; shut down at the end whatever happens."""
    started: list[AsyncIOScheduler] = []
    yield started
    for scheduler in started:
        await stop(scheduler)


async def stop(scheduler: AsyncIOScheduler) -> None:
    """Shut down as the daemon does; the asyncio scheduler finishes on the next loop turn."""
    if scheduler.running:
        scheduler.shutdown(wait=False)
    while scheduler.running:
        await asyncio.sleep(0.01)


async def start(home: Path, schedulers: list[AsyncIOScheduler]) -> AsyncIOScheduler:
    """What the daemon does at start-up: build, start, match the jobs to node.toml."""
    config = load_config(home)
    scheduler = build_scheduler(config)
    scheduler.start()
    sync_jobs(scheduler, config)
    schedulers.append(scheduler)
    return scheduler


def stored_job_ids(home: Path) -> list[str]:
    with sqlite3.connect(state_path(home)) as conn:
        return sorted(row[0] for row in conn.execute("SELECT id FROM scheduler_jobs"))


def remove_peer(home: Path, peer_id: str) -> None:
    path = home / CONFIG_FILE
    document = tomlkit.parse(path.read_text(encoding="utf-8"))
    peers = document["peers"]
    for index, peer in enumerate(list(peers)):  # type: ignore[arg-type]
        if peer["id"] == peer_id:
            del peers[index]  # type: ignore[union-attr]
    path.write_text(tomlkit.dumps(document), encoding="utf-8")


def set_schedule(home: Path, peer_id: str, schedule: str) -> None:
    path = home / CONFIG_FILE
    document = tomlkit.parse(path.read_text(encoding="utf-8"))
    for peer in document["peers"]:  # type: ignore[union-attr]
        if peer["id"] == peer_id:
            peer["schedule"] = schedule
    path.write_text(tomlkit.dumps(document), encoding="utf-8")


async def test_sync_jobs__restart_finds_the_same_jobs_and_next_run_times(
    node: nodes.TestNode, schedulers: list[AsyncIOScheduler]
) -> None:
    first = await start(node.home, schedulers)
    planned = next_runs(first)
    await stop(first)

    restarted = await start(node.home, schedulers)

    assert set(planned) == {"peer:gxib", "peer:iebr", "gbif:vn-gesneriaceae"}
    assert next_runs(restarted) == planned
    assert stored_job_ids(node.home) == sorted(JOB_PREFIX + s for s in planned)
    # A second sync (say node.toml was re-read) changes nothing either.
    sync_jobs(restarted, load_config(node.home))
    assert next_runs(restarted) == planned
    assert len(restarted.get_jobs()) == 3


async def test_sync_jobs__removed_peer_loses_its_job_for_good(
    node: nodes.TestNode, schedulers: list[AsyncIOScheduler]
) -> None:
    scheduler = await start(node.home, schedulers)
    planned = next_runs(scheduler)
    remove_peer(node.home, "iebr")

    sync_jobs(scheduler, load_config(node.home))
    await stop(scheduler)
    restarted = await start(node.home, schedulers)

    expected = {k: v for k, v in planned.items() if k != "peer:iebr"}
    assert next_runs(restarted) == expected
    assert JOB_PREFIX + "peer:iebr" not in stored_job_ids(node.home)


async def test_sync_jobs__changed_schedule_replaces_only_that_trigger(
    node: nodes.TestNode, schedulers: list[AsyncIOScheduler]
) -> None:
    scheduler = await start(node.home, schedulers)
    planned = next_runs(scheduler)
    set_schedule(node.home, "gxib", "0 4 * * *")

    sync_jobs(scheduler, load_config(node.home))

    now = dt.datetime.now(dt.UTC)
    job = scheduler.get_job(JOB_PREFIX + "peer:gxib")
    assert str(job.trigger) == str(parse_schedule("0 4 * * *"))
    assert job.next_run_time == parse_schedule("0 4 * * *").get_next_fire_time(None, now)
    after = next_runs(scheduler)
    assert {k: after[k] for k in ("peer:iebr", "gbif:vn-gesneriaceae")} == {
        k: planned[k] for k in ("peer:iebr", "gbif:vn-gesneriaceae")
    }
    assert len(stored_job_ids(node.home)) == 3


# -- a due job runs -----------------------------------------------------------------------
@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    """A node pinned to a peer serving one small dataset, registered as the running node."""
    async with serve() as peer:
        peer.offer("occ", occurrence_archive(occurrence_rows(12)))
        made = nodes.make_node(tmp_path, "vnmn", "Vietnam National Museum of Nature", "VN")
        made.edit_config(peers=[peer.peer_config(schedule="every 30m")])
        runs = RunLog(made.home)
        try:
            async with client_session() as session:
                runtime = Runtime(made.config, made.identity, session, runs)
                register_runtime(runtime)
                yield runtime
        finally:
            unregister_runtime(made.home)
            runs.close()


async def test_scheduled_job__due_job_runs_the_harvest_and_is_planned_again(
    runtime: Runtime, schedulers: list[AsyncIOScheduler]
) -> None:
    home = runtime.config.home
    results: list[object] = []
    runtime.on_result.append(results.append)
    scheduler = await start(home, schedulers)
    job_id = JOB_PREFIX + "peer:gxib"

    scheduler.modify_job(job_id, next_run_time=dt.datetime.now(dt.UTC))
    deadline = time.monotonic() + 10
    while not results and time.monotonic() < deadline:
        await asyncio.sleep(0.05)

    runs = runtime.runs.last_runs("peer:gxib")
    assert [(r["outcome"], r["records"]) for r in runs] == [("ok", 12)]
    assert read_parquet(Store(home).harvested("gxib", "occ")).num_rows == 12
    upcoming = scheduler.get_job(job_id).next_run_time
    assert upcoming - dt.datetime.now(dt.UTC) > dt.timedelta(minutes=29)


async def test_scheduled_job__without_a_running_node_skips_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="fednode.schedule")

    await scheduled_job(str(tmp_path), "peer:gxib")

    assert f"no running node for {tmp_path}; skipping peer:gxib" in caplog.text


async def test_daemon__peer_added_to_node_toml_is_scheduled_without_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from node.core import constants
    from node.server.services import scheduler_of
    from node.server.status import persisted_next_runs
    from tests.nodes import make_node, running

    monkeypatch.setattr(constants, "CONFIG_WATCH_S", 0.2)
    node = make_node(tmp_path, "gxib", "Guangxi Institute of Botany", "CN")
    async with running(node, schedule=True) as app:
        scheduler = scheduler_of(app)
        assert scheduler is not None and scheduler.get_jobs() == []
        raw = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
        key = "ed25519:" + base64.b64encode(raw).decode()
        node.edit_config(
            peers=[
                {
                    "id": "vnmn",
                    "url": "http://127.0.0.1:9",
                    "key": key,
                    "datasets": [],
                    "schedule": "every 6h",
                }
            ]
        )
        for _ in range(50):
            if scheduler.get_jobs():
                break
            await asyncio.sleep(0.1)
        assert [job.name for job in scheduler.get_jobs()] == ["peer:vnmn"]
    assert "peer:vnmn" in persisted_next_runs(load_config(node.home))
