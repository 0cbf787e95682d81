"""The one small interface every source kind implements, and what a run reports."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Protocol

OUTCOMES = ("ok", "unchanged", "failed", "skipped")


def new_run_id(source: str) -> str:
    """Sortable and unique: `<source>-<UTC timestamp>-<random>`."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{source}-{stamp}-{uuid.uuid4().hex[:6]}"


@dataclass
class HarvestResult:
    """What one harvest run did; recorded in state.sqlite and shown by `fednode status`."""

    source: str  # "peer:<id>" or "gbif:<query>"
    run_id: str
    outcome: str  # one of OUTCOMES
    records: int = 0
    datasets: list[str] = field(default_factory=list)
    error: str = ""  # in words, for a person
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    finished: dt.datetime | None = None
    detail: dict[str, object] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        end = self.finished or dt.datetime.now(dt.UTC)
        return (end - self.started).total_seconds()


class Harvester(Protocol):
    """A source kind: a peer node, a GBIF search, a GBIF download."""

    source: str

    async def harvest(self, run_id: str) -> HarvestResult:
        """Fetch, verify and store; on any failure leave the last good data in place."""
        ...
