"""state.sqlite: the node's small mutable state (harvest runs, audit log, nonce cache).

One file, WAL mode so the server and a CLI command can use it at once. Each module owns
its tables and creates them with `CREATE TABLE IF NOT EXISTS` through `ensure_schema`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from node.core.constants import STATE_DB


def state_path(home: Path) -> Path:
    return Path(home) / STATE_DB


def connect(home: Path) -> sqlite3.Connection:
    """A connection with the settings every user of the state file needs."""
    conn = sqlite3.connect(state_path(home), timeout=30, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.row_factory = sqlite3.Row
    return conn


def ensure_schema(conn: sqlite3.Connection, statements: tuple[str, ...]) -> None:
    for statement in statements:
        conn.execute(statement)
