"""state.sqlite's schema version (`PRAGMA user_version`) and the steps between versions.

Tables are created by their modules as they are first used; what changes an existing
table over the years is a numbered step here, run once, in order, in one transaction, when
the node opens its state. A state written by a newer fednode is refused rather than
guessed at: an older node could misread its audit chain.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from node.core.errors import ConfigError

Step = Callable[[sqlite3.Connection], None]


def _v1(conn: sqlite3.Connection) -> None:
    """Version 1: the layout before versions were recorded; nothing to change."""


STEPS: tuple[Step, ...] = (_v1,)
SCHEMA_VERSION = len(STEPS)


def migrate(conn: sqlite3.Connection, steps: tuple[Step, ...] = STEPS) -> int:
    """Bring the state to `len(steps)`; returns the version it was at."""
    (found,) = conn.execute("PRAGMA user_version").fetchone()
    if found > len(steps):
        raise ConfigError(
            f"state.sqlite has schema version {found}, newer than this fednode knows "
            f"({len(steps)}); upgrade fednode or restore a backup"
        )
    if found == len(steps):
        return found
    conn.execute("BEGIN IMMEDIATE")
    try:
        (found,) = conn.execute("PRAGMA user_version").fetchone()  # another process won
        for number in range(found, len(steps)):
            steps[number](conn)
        conn.execute(f"PRAGMA user_version = {len(steps)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found
