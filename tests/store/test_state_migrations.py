"""state.sqlite's schema version: steps run once and in order; a newer state is refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from node.core.errors import ConfigError
from node.store.state import connect
from node.store.state_migrations import SCHEMA_VERSION, migrate


def test_migrate__runs_each_step_once_in_order(tmp_path: Path) -> None:
    ran: list[int] = []

    def step(n: int):  # type: ignore[no-untyped-def]
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(f"CREATE TABLE t{n} (x)")
            ran.append(n)

        return run

    conn = connect(tmp_path)
    try:
        assert migrate(conn, (step(1),)) == 0
        assert migrate(conn, (step(1), step(2), step(3))) == 1
        assert migrate(conn, (step(1), step(2), step(3))) == 3
        assert ran == [1, 2, 3]
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
    finally:
        conn.close()


def test_migrate__a_state_from_a_newer_fednode_is_refused(tmp_path: Path) -> None:
    conn = connect(tmp_path)
    try:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        with pytest.raises(ConfigError, match="newer than this fednode"):
            migrate(conn)
    finally:
        conn.close()


def test_migrate__a_failed_step_leaves_the_version_unchanged(tmp_path: Path) -> None:
    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half (x)")
        raise RuntimeError("disk full")

    conn = connect(tmp_path)
    try:
        with pytest.raises(RuntimeError):
            migrate(conn, (broken,))
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
        tables = conn.execute("SELECT name FROM sqlite_master WHERE name = 'half'").fetchall()
        assert tables == []
    finally:
        conn.close()
