"""The harvesting side of the hostile-peer tests: a real node home pinned to the peer."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from harvesters.base import HarvestResult
from harvesters.runs import RunLog
from harvesters.schedule import Runtime, run_source
from node.store.store import Store, read_parquet
from tests import nodes
from tests.harvesters.hostile_peer import HostilePeer, occurrence_archive, occurrence_rows

DATASET = "karst-occurrences"
SOURCE = "peer:gxib"
ARCHIVE = f"/datasets/{DATASET}/archive"
RETRIES = 2  # three attempts per request


class Waits:
    """The retry waits a harvest asks for, recorded instead of slept (Runtime.sleep): the
    suite runs at full speed and still sees each wait, e.g. a Retry-After honoured."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        await asyncio.sleep(0)  # a turn of the loop, as a real wait gives the others


@dataclass
class Harvesting:
    """A harvesting node (vnmn) pinned to a hostile peer (gxib) that serves DATASET."""

    peer: HostilePeer
    node: nodes.TestNode
    runtime: Runtime
    waits: Waits

    @property
    def runs(self) -> RunLog:
        return self.runtime.runs

    @property
    def dataset_path(self) -> Path:
        return Store(self.node.home).harvested("gxib", DATASET)

    async def harvest(self) -> HarvestResult:
        return await run_source(self.runtime, SOURCE)

    async def first_good_harvest(self, rows: int = 40) -> tuple[pa.Table, str]:
        """Harvest a good archive; return the stored table and its snapshot folder's name."""
        self.peer.offer(DATASET, occurrence_archive(occurrence_rows(rows)))
        result = await self.harvest()
        assert (result.outcome, result.records, result.error) == ("ok", rows, "")
        return read_parquet(self.dataset_path), os.readlink(self.dataset_path)

    def assert_last_good_kept(self, before: pa.Table, snapshot: str) -> None:
        assert os.readlink(self.dataset_path) == snapshot
        assert read_parquet(self.dataset_path).equals(before)
        beside = sorted(p.name for p in self.dataset_path.parent.iterdir())
        assert beside == sorted([snapshot, DATASET]), "a partial snapshot is left behind"

    def assert_failed(self, result: HarvestResult, *words: str) -> None:
        assert result.outcome == "failed", result
        for word in words:
            assert word in result.error, result.error
        recorded = self.runs.last_runs(SOURCE, limit=1)[0]
        assert (recorded["run_id"], recorded["outcome"]) == (result.run_id, "failed")
        assert recorded["error"] == result.error
        assert not list(Store(self.node.home).tmp().iterdir()), "the download is left behind"
