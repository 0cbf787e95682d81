"""After an outage: missed runs are caught up once, and a resting circuit yields to a person."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path

import pytest

from harvesters.schedule import build_scheduler, run_source
from node.core import constants
from node.core.config import NodeConfig
from tests.harvesters.harvesting import DATASET, SOURCE, Harvesting
from tests.harvesters.hostile_peer import occurrence_archive, occurrence_rows, serve

CALLS: list[str] = []


async def _count(label: str) -> None:
    CALLS.append(label)


async def test_schedule__run_missed_by_a_long_outage_runs_once_at_start(tmp_path: Path) -> None:
    CALLS.clear()
    config = NodeConfig(home=tmp_path, id="gxib", name="Guangxi")
    scheduler = build_scheduler(config)
    three_days_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    # Every 6 h since three days ago: twelve runs missed while the node was down.
    scheduler.add_job(
        _count,
        "interval",
        hours=6,
        args=("missed",),
        id="harvest:peer:x",
        next_run_time=three_days_ago,
    )
    scheduler.start()
    try:
        for _ in range(50):
            if CALLS:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        (job,) = scheduler.get_jobs()
    finally:
        scheduler.shutdown(wait=False)
    assert CALLS == ["missed"], "one catch-up run, not none and not twelve"
    assert job.next_run_time > dt.datetime.now(dt.UTC)


async def test_run_source__now_overrides_a_resting_circuit_and_logs_it(
    harvesting: Harvesting, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(constants, "CIRCUIT_FAILURES", 2)
    monkeypatch.setattr(constants, "HARVEST_RETRIES", 0)
    peer = harvesting.peer
    port = int(peer.url.rsplit(":", 1)[1])
    await peer.stop()
    for _ in range(2):
        assert (await harvesting.harvest()).outcome == "failed"
    assert harvesting.runs.circuit_open(SOURCE)

    peer.offer(DATASET, occurrence_archive(occurrence_rows(10)))
    async with serve(peer, port=port):
        waiting = await harvesting.harvest()
        with caplog.at_level(logging.WARNING, logger="fednode.schedule"):
            forced = await run_source(harvesting.runtime, SOURCE, now=True)
    assert waiting.outcome == "skipped" and "resting" in waiting.error
    assert (forced.outcome, forced.records) == ("ok", 10)
    assert not harvesting.runs.circuit_open(SOURCE)
    assert "resting circuit overridden by hand" in caplog.text
