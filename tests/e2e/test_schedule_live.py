"""The schedule keeps a node's copy of its peer current, with no one typing anything."""

from __future__ import annotations

import asyncio
import time

import tomlkit

from harvesters.runs import RunLog
from node.core.config import CONFIG_FILE
from node.store.store import PART_NAME, Store
from tests.e2e.conftest import Federation, cli
from tests.nodes import running

DATASET = "gxib-karst-occurrences"


async def _wait_for_runs(runs: RunLog, outcome: str, count: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = [r for r in runs.last_runs("peer:gxib", limit=20) if r["outcome"] == outcome]
        if len(done) >= count:
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"fewer than {count} {outcome!r} runs after {timeout_s} s")


async def test_schedule__daemon_harvests_its_peer_and_picks_up_a_new_version(
    federation: Federation,
) -> None:
    gxib, vnmn = federation.gxib, federation.vnmn
    path = vnmn.home / CONFIG_FILE
    document = tomlkit.parse(path.read_text(encoding="utf-8"))
    document["peers"][0]["schedule"] = "every 10s"
    path.write_text(tomlkit.dumps(document), encoding="utf-8")
    harvested = Store(vnmn.home).harvested("gxib", DATASET) / PART_NAME
    assert not harvested.exists()

    async with running(gxib), running(vnmn, schedule=True):
        runs = RunLog(vnmn.home)
        try:
            await _wait_for_runs(runs, "ok", 1, timeout_s=30)
            assert harvested.exists()
            first = harvested.resolve()
            # gxib publishes a new version; the next scheduled run fetches it (not a 304).
            result = cli("publish", DATASET, "--home", str(gxib.home), "--major")
            assert result.exit_code == 0, result.output
            await _wait_for_runs(runs, "ok", 2, timeout_s=30)
            assert harvested.resolve() != first
        finally:
            runs.close()
