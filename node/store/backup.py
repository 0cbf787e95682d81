"""Backup and restore of a node home, consistent while the daemon runs.

A home is node.toml, the keys, agreements, mappings and sources (small files, copied), the
store (snapshots are immutable once their `current` link points at them, so a copy taken
during a harvest holds either the old or the new snapshot whole), and state.sqlite (the
audit chain, runs, nonce cache), copied with SQLite's online backup API: a file copy of a
database in WAL mode, taken while the daemon writes, can be torn.

The backup is written beside its destination and renamed into place, so a backup that
exists is complete. The build cache is left out: it is rebuilt, to the same bytes, on
demand. Restore refuses a home that already holds a node: it never overwrites keys.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

from node.core.config import CONFIG_FILE
from node.core.constants import STATE_DB
from node.core.errors import InvalidInput
from node.store.state import connect
from node.store.store import Store

_SKIPPED = {STATE_DB, f"{STATE_DB}-wal", f"{STATE_DB}-shm"}
_SKIPPED_IN_STORE = {"cache", "tmp"}  # rebuilt on demand; a half-written temp is no backup


def backup_home(home: Path, target: Path) -> Path:
    """Copy `home` to the new folder `target`; returns it."""
    home, target = Path(home), Path(target)
    if not (home / CONFIG_FILE).is_file():
        raise InvalidInput(f"{home}: no node here to back up (no {CONFIG_FILE})")
    if target.exists() and any(target.iterdir()):
        raise InvalidInput(f"{target} exists and is not empty; back up into a new folder")
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(home, partial, symlinks=True, ignore=_ignore_top(home))
    source = connect(home)
    try:
        copy = sqlite3.connect(partial / STATE_DB)
        try:
            source.backup(copy)
        finally:
            copy.close()
    finally:
        source.close()
    if target.exists():
        target.rmdir()
    os.replace(partial, target)
    return target


def restore_home(backup: Path, home: Path) -> Path:
    """Make `home` from a backup; the home must not hold a node already."""
    backup, home = Path(backup), Path(home)
    if not (backup / CONFIG_FILE).is_file() or not (backup / STATE_DB).is_file():
        raise InvalidInput(f"{backup} is not a fednode backup (no {CONFIG_FILE} or {STATE_DB})")
    if (home / CONFIG_FILE).exists() or (home / STATE_DB).exists():
        raise InvalidInput(f"{home} already holds a node; restore into an empty folder")
    partial = home.with_name(home.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(backup, partial, symlinks=True)
    if home.exists():
        home.rmdir()
    os.replace(partial, home)
    return home


def _ignore_top(home: Path) -> Callable[[str, list[str]], set[str]]:
    """Skip the database files at the top and the store's cache and temp folders."""
    skipped = {str(home): _SKIPPED, str(Store(home).root): _SKIPPED_IN_STORE}

    def ignore(folder: str, names: list[str]) -> set[str]:
        return set(names) & skipped.get(folder, set())

    return ignore
