"""Refusals in the audit log: one entry per source, reason and minute, counts adding up."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from node.store import state
from node.store.audit import AuditLog
from node.store.refusals import MAX_GROUPS_PER_MINUTE, OVERFLOW_SOURCE, RefusalLog

START = dt.datetime(2026, 3, 2, 8, 15, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def log(tmp_path: Path) -> AuditLog:
    return AuditLog(state.connect(tmp_path))


def total(log: AuditLog) -> dict[tuple[str | None, str], int]:
    sums: dict[tuple[str | None, str], int] = {}
    for entry in log.entries(event="denied"):
        for key, count in entry.counts.items():
            sums[(entry.peer, key)] = sums.get((entry.peer, key), 0) + count
    return sums


def test_refusals__first_is_written_at_once_the_rest_when_the_minute_closes(log, clock):
    refusals = RefusalLog(log, clock)
    refusals.refused("10.0.0.7", "unsigned", "sign the request", dataset="orchids")
    assert [e.detail for e in log.entries()] == ["sign the request"]
    for second in range(1, 60):
        clock.now = START + dt.timedelta(seconds=second)
        refusals.refused("10.0.0.7", "unsigned", "sign the request", dataset="orchids")
    assert refusals.flush_closed() == 0, "the minute is still open"
    assert len(log.entries()) == 1
    clock.now = START + dt.timedelta(minutes=1, seconds=2)
    assert refusals.flush_closed() == 1
    first, summary = log.entries()
    assert summary.counts == {"refused.unsigned": 59}
    assert summary.dataset == "orchids", "a field every counted refusal shares is kept"
    assert "59 more unsigned refusals from 10.0.0.7 between 08:15 and 08:16 UTC" in summary.detail
    assert f"after entry {first.seq}" in summary.detail
    assert log.verify().ok


def test_refusals__sources_and_reasons_are_kept_apart(log, clock):
    refusals = RefusalLog(log, clock)
    for source, reason in [("vnmn", "purpose"), ("vnmn", "rate_limited"), ("10.0.0.7", "stale")]:
        for _ in range(3):
            refusals.refused(source, reason, "no")
    refusals.flush()
    assert total(log) == {
        ("vnmn", "refused.purpose"): 3,
        ("vnmn", "refused.rate_limited"): 3,
        ("10.0.0.7", "refused.stale"): 3,
    }
    assert len(log.entries()) == 6


def test_refusals__a_new_minute_starts_a_new_entry(log, clock):
    refusals = RefusalLog(log, clock)
    refusals.refused("10.0.0.7", "stale", "old", dataset="a")
    refusals.refused("10.0.0.7", "stale", "old", dataset="b")
    clock.now = START + dt.timedelta(minutes=1)
    refusals.refused("10.0.0.7", "stale", "old")  # closes the last minute first
    entries = log.entries()
    assert [e.counts["refused.stale"] for e in entries] == [1, 1, 1]
    assert entries[1].dataset is None, "datasets differed within the minute"


def test_refusals__many_sources_in_one_minute_share_an_overflow_entry(log, clock):
    refusals = RefusalLog(log, clock)
    for number in range(MAX_GROUPS_PER_MINUTE + 500):
        refusals.refused(f"10.0.{number // 256}.{number % 256}", "unsigned", "sign it")
    refusals.flush()
    assert len(log.entries()) == MAX_GROUPS_PER_MINUTE + 2
    overflow = [e for e in log.entries() if e.peer == OVERFLOW_SOURCE]
    assert sum(e.counts["refused.unsigned"] for e in overflow) == 500
    assert overflow[0].detail.startswith(f"10.0.{MAX_GROUPS_PER_MINUTE // 256}.0: ")
