"""Harvest bookkeeping in state.sqlite: run history, validators (ETags), source locks.

The lock is an OS file lock, so a `fednode harvest` typed by an admin and the daemon's
scheduled run of the same source never overlap, even across processes; a crashed process
releases it automatically.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from harvesters.base import HarvestResult
from node.core import constants
from node.store.state import connect, ensure_schema

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS harvest_runs (
        run_id TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        outcome TEXT NOT NULL,
        records INTEGER NOT NULL DEFAULT 0,
        started TEXT NOT NULL,
        finished TEXT,
        error TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT '{}'
    )""",
    "CREATE INDEX IF NOT EXISTS harvest_runs_source ON harvest_runs (source, started)",
    """CREATE TABLE IF NOT EXISTS harvest_validators (
        source TEXT NOT NULL,
        dataset TEXT NOT NULL,
        etag TEXT NOT NULL DEFAULT '',
        last_modified TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (source, dataset)
    )""",
    # What the stored copy of each harvested dataset is, from its verified signed
    # statement: a peer may not roll a dataset back to an older version.
    """CREATE TABLE IF NOT EXISTS harvest_held (
        source TEXT NOT NULL,
        dataset TEXT NOT NULL,
        version TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        statement TEXT NOT NULL,
        PRIMARY KEY (source, dataset)
    )""",
)


class SourceBusy(Exception):
    """Another process is harvesting this source right now."""


class RunLog:
    """Reads and writes harvest bookkeeping for one node home."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.conn: sqlite3.Connection = connect(self.home)
        ensure_schema(self.conn, SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def record(self, result: HarvestResult) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO harvest_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                result.run_id,
                result.source,
                result.outcome,
                result.records,
                result.started.isoformat(),
                (result.finished or dt.datetime.now(dt.UTC)).isoformat(),
                result.error,
                json.dumps({"datasets": result.datasets, **result.detail}, default=str),
            ),
        )

    def last_runs(self, source: str | None = None, limit: int = 20) -> list[dict[str, object]]:
        query = "SELECT * FROM harvest_runs"
        args: tuple[object, ...] = ()
        if source:
            query += " WHERE source = ?"
            args = (source,)
        rows = self.conn.execute(query + " ORDER BY started DESC LIMIT ?", (*args, limit))
        return [_row(r) for r in rows]

    def latest_per_source(self) -> dict[str, dict[str, object]]:
        rows = self.conn.execute(
            """SELECT * FROM harvest_runs r WHERE started = (
                   SELECT MAX(started) FROM harvest_runs WHERE source = r.source)"""
        )
        return {r["source"]: _row(r) for r in rows}

    def consecutive_failures(self, source: str) -> tuple[int, str | None]:
        """Failed runs since the last success, and when the latest one finished."""
        rows = self.conn.execute(
            "SELECT outcome, finished FROM harvest_runs WHERE source = ? "
            "AND outcome != 'skipped' ORDER BY started DESC LIMIT ?",
            (source, constants.CIRCUIT_FAILURES),
        ).fetchall()
        count = 0
        for row in rows:
            if row["outcome"] != "failed":
                break
            count += 1
        return count, rows[0]["finished"] if rows else None

    def circuit_open(self, source: str, now: dt.datetime | None = None) -> bool:
        """True while a source that failed CIRCUIT_FAILURES times in a row is resting."""
        failures, last = self.consecutive_failures(source)
        if failures < constants.CIRCUIT_FAILURES or last is None:
            return False
        now = now or dt.datetime.now(dt.UTC)
        resting_until = dt.datetime.fromisoformat(last) + dt.timedelta(
            seconds=constants.CIRCUIT_OPEN_S
        )
        return now < resting_until

    def validators(self, source: str, dataset: str) -> tuple[str, str]:
        row = self.conn.execute(
            "SELECT etag, last_modified FROM harvest_validators WHERE source = ? AND dataset = ?",
            (source, dataset),
        ).fetchone()
        return (row["etag"], row["last_modified"]) if row else ("", "")

    def save_validators(self, source: str, dataset: str, etag: str, last_modified: str) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO harvest_validators VALUES (?, ?, ?, ?)",
            (source, dataset, etag, last_modified),
        )

    def held(self, source: str, dataset: str) -> tuple[str, str] | None:
        """(version, archive sha256) of the stored copy, or None when none is held."""
        row = self.conn.execute(
            "SELECT version, sha256 FROM harvest_held WHERE source = ? AND dataset = ?",
            (source, dataset),
        ).fetchone()
        return (row["version"], row["sha256"]) if row else None

    def save_held(
        self, source: str, dataset: str, version: str, sha256: str, statement: str
    ) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO harvest_held VALUES (?, ?, ?, ?, ?)",
            (source, dataset, version, sha256, statement),
        )

    def forget(self, source: str, dataset: str) -> None:
        """Drop what is known of a dataset the source no longer lists."""
        for table in ("harvest_validators", "harvest_held"):
            self.conn.execute(
                f"DELETE FROM {table} WHERE source = ? AND dataset = ?",
                (source, dataset),
            )


def _row(row: sqlite3.Row) -> dict[str, object]:
    data = dict(row)
    data["detail"] = json.loads(data.get("detail") or "{}")
    return data


@contextlib.contextmanager
def source_lock(home: Path, source: str) -> Iterator[None]:
    """Hold the source's lock for the duration of a run, or raise SourceBusy at once."""
    folder = Path(home) / "store" / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (re.sub(r"[^A-Za-z0-9_.-]", "_", source) + ".lock")
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise SourceBusy(f"another harvest of {source} is running") from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
