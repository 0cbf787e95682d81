"""The node's on-disk store: where each kind of data lives, and atomic Parquet writes.

A stored dataset is a symbolic link to a complete, immutable snapshot folder. A write
fills a fresh hidden folder, fsyncs it, then replaces the link with one `rename`, which
POSIX makes atomic: a reader sees the old snapshot or the new one, never half of either,
and a crash mid-write leaves the last good snapshot in place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from node.core.config import is_valid_id
from node.core.errors import NotFound, UnsafePath
from node.store.row_groups import RowGroupWriter

PART_NAME = "part-0.parquet"
_SNAPSHOT_PREFIX = ".snap-"


class Store:
    """Paths of one node home's store: one place that knows where each kind of file lives."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.root = self.home / "store"

    def local(self, dataset: str) -> Path:
        return self.root / "local" / dataset

    def harvested(self, peer: str, dataset: str) -> Path:
        return self.root / "harvested" / peer / dataset

    def peer_folder(self, peer: str) -> Path:
        """The one folder a peer's data may occupy; UnsafePath unless `peer` is an id."""
        if not is_valid_id(peer):
            raise UnsafePath(f"peer id {peer!r} is not a valid id; nothing is stored for it")
        return self.root / "harvested" / peer

    def peer_dataset(self, peer: str, dataset: str) -> Path:
        """Where a peer's dataset is stored, proven to be an entry of the peer's folder.

        Dataset ids come from the peer's listing, and the returned path is later replaced
        (and an old layout's folder removed): an id such as `../../keys` or `.` must never
        reach that code. The id must match the project's id rule, and the path, with `..`
        and symbolic links resolved, must still lie directly in the peer's folder.
        """
        folder = self.peer_folder(peer)
        harvested = Path(os.path.realpath(self.root / "harvested"))
        if folder.exists() and Path(os.path.realpath(folder)) != harvested / peer:
            raise UnsafePath(f"{folder} is not inside {harvested}; refusing to use it")
        if not is_valid_id(dataset):
            raise UnsafePath(
                f"dataset id {dataset!r} from peer {peer} is not a valid id "
                "(2-63 lower-case letters, digits, - or _); refusing it"
            )
        path = self.harvested(peer, dataset)
        return within(path, folder)

    def prune_peer(self, peer: str, keep: Iterable[str]) -> list[str]:
        """Remove the peer's datasets not in `keep` (ones it stopped listing); return them.

        Only entries of the peer's own folder are touched, each checked as `peer_dataset`
        checks a path, so nothing outside it can be reached whatever the folder holds.
        """
        return _prune(self.peer_folder(peer), keep, lambda name: self.peer_dataset(peer, name))

    def prune_ipt(self, ipt_id: str, keep: Iterable[str]) -> list[str]:
        """Remove the IPT's resources not in `keep` (ones its feed stopped listing), as
        `prune_peer` does for a peer's datasets."""
        return _prune(self.ipt(ipt_id), keep, lambda name: self.ipt_resource(ipt_id, name))

    def gbif(self, query: str) -> Path:
        return self.root / "gbif" / query

    def ipt(self, ipt_id: str) -> Path:
        """An IPT's resources, apart from partners' (`harvested/`): unsigned, public data."""
        return self.root / "ipt" / ipt_id

    def ipt_resource(self, ipt_id: str, resource: str) -> Path:
        """Where an IPT resource is stored; UnsafePath unless both names are ids and the
        path stays directly in the IPT's folder (resource names come from its feed)."""
        for what, value in (("IPT id", ipt_id), ("resource", resource)):
            if not is_valid_id(value):
                raise UnsafePath(f"{what} {value!r} is not a valid id; nothing is stored for it")
        folder = self.ipt(ipt_id)
        folder.mkdir(parents=True, exist_ok=True)
        root = Path(os.path.realpath(self.root / "ipt"))
        if Path(os.path.realpath(folder)) != root / ipt_id:
            raise UnsafePath(f"{folder} is not inside {root}; refusing to use it")
        return within(folder / resource, folder)

    def archives(self, dataset: str) -> Path:
        return self.root / "archives" / dataset

    def crosswalks(self) -> Path:
        return self.root / "crosswalks"

    def exports(self) -> Path:
        return self.root / "exports"

    def cache(self) -> Path:
        return self.root / "cache"

    def tmp(self) -> Path:
        path = self.root / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path


def _prune(folder: Path, keep: Iterable[str], entry_path: Callable[[str], Path]) -> list[str]:
    """Remove the entries of `folder` not in `keep`; `entry_path` proves each named entry is
    the folder's own before it is touched."""
    if not folder.is_dir():
        return []
    kept = set(keep)
    removed = []
    for entry in sorted(folder.iterdir()):
        name = entry.name
        if name.startswith(_SNAPSHOT_PREFIX):
            owner = name[len(_SNAPSHOT_PREFIX) :].rsplit(".", 1)[0]
            if owner not in kept:
                shutil.rmtree(within(entry, folder), ignore_errors=True)
            continue
        if name.startswith(".") or name in kept:
            continue
        path = entry_path(name) if is_valid_id(name) else within(entry, folder)
        if path.is_symlink() or path.is_file():
            path.unlink()
        else:
            shutil.rmtree(path, ignore_errors=True)
        removed.append(name)
    if removed:
        fsync_dir(folder)
    return removed


def within(path: Path, folder: Path) -> Path:
    """`path` itself, once proven to be an entry directly inside `folder`; else UnsafePath.

    The entry's parent is resolved (so `..` and a symlinked parent count), not the entry:
    a stored dataset is a symbolic link to its snapshot, and replacing that link is the
    point of the check.
    """
    path, folder = Path(path), Path(folder)
    parent = Path(os.path.realpath(path.parent))
    if (
        path.name in ("", ".", "..")
        or parent != Path(os.path.realpath(folder))
        or os.sep in path.name
    ):
        raise UnsafePath(f"{path} is not inside {folder}; refusing to write or remove it")
    return path


def fsync_dir(path: Path) -> None:
    """Make a rename inside `path` durable (POSIX needs the folder itself synced)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace a small file whole: readers see the old bytes or the new, never a mix."""
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _snapshots(dest: Path) -> list[Path]:
    if not dest.parent.is_dir():
        return []
    return [
        p for p in dest.parent.iterdir() if p.name.startswith(f"{_SNAPSHOT_PREFIX}{dest.name}.")
    ]


def write_parquet_atomic(
    dest: Path,
    tables: Iterable[pa.Table | pa.RecordBatch],
    schema: pa.Schema | None = None,
    beside: Callable[[Path], None] | None = None,
) -> int:
    """Stream tables into a new snapshot of `dest`, then swap it in; return the row count.

    `beside(snapshot)` may add files next to the records (a dataset's extension tables)
    before the snapshot is synced, so they are swapped in with the records in one rename.
    If `tables` or `beside` raises, nothing changes at `dest`.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    snapshot = dest.parent / f"{_SNAPSHOT_PREFIX}{dest.name}.{uuid.uuid4().hex[:12]}"
    snapshot.mkdir()
    rows = 0
    writer: RowGroupWriter | None = None
    try:
        for table in tables:
            if isinstance(table, pa.RecordBatch):
                table = pa.Table.from_batches([table])
            if writer is None:
                schema = schema or table.schema
                writer = RowGroupWriter(snapshot / PART_NAME, schema)
            assert schema is not None
            if table.schema != schema:
                table = table.select(schema.names).cast(schema)
            writer.write_table(table)
            rows += table.num_rows
        if writer is None:
            if schema is None:
                raise ValueError("no data and no schema: nothing to write")
            writer = RowGroupWriter(snapshot / PART_NAME, schema)
        writer.close()
        writer = None
        _seal(snapshot, dest, beside)
    except BaseException:
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.abandon()
        shutil.rmtree(snapshot, ignore_errors=True)
        raise
    return rows


def adopt_parquet_atomic(
    dest: Path, part: Path, beside: Callable[[Path], None] | None = None
) -> None:
    """Make a finished Parquet file the new snapshot of `dest`, moved rather than rewritten.

    Publishing writes the records once, into its staging folder; rewriting them here cost a
    full read and zstd pass. `beside` is as for `write_parquet_atomic`; on any failure
    nothing changes at `dest`.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    snapshot = dest.parent / f"{_SNAPSHOT_PREFIX}{dest.name}.{uuid.uuid4().hex[:12]}"
    snapshot.mkdir()
    try:
        shutil.move(part, snapshot / PART_NAME)
        _seal(snapshot, dest, beside)
    except BaseException:
        shutil.rmtree(snapshot, ignore_errors=True)
        raise


def _seal(snapshot: Path, dest: Path, beside: Callable[[Path], None] | None) -> None:
    """Add the files beside the records, make everything durable, swap the snapshot in."""
    if beside is not None:
        beside(snapshot)
    for path in snapshot.iterdir():
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
    fsync_dir(snapshot)
    swap_in(snapshot, dest)


def swap_in(snapshot: Path, dest: Path) -> None:
    """Point `dest` at `snapshot` atomically and drop older snapshots."""
    link = dest.parent / f".link-{dest.name}.{uuid.uuid4().hex[:8]}"
    os.symlink(snapshot.name, link)
    if dest.exists() and not dest.is_symlink():
        # A plain folder from an older layout: move it aside first (one-time migration).
        shutil.rmtree(dest)
    os.replace(link, dest)
    fsync_dir(dest.parent)
    for old in _snapshots(dest):
        if old.name != snapshot.name:
            shutil.rmtree(old, ignore_errors=True)


def read_parquet(path: Path, columns: list[str] | None = None) -> pa.Table:
    """Read a stored dataset (a snapshot link or a Parquet file)."""
    path = Path(path)
    if not path.exists():
        raise NotFound(f"{path}: no stored data")
    target = path / PART_NAME if path.is_dir() else path
    return pq.read_table(target, columns=columns)


def parquet_batches(source: pq.ParquetFile, batch_size: int) -> Iterator[pa.RecordBatch]:
    """A Parquet file's batches, one row group at a time.

    pyarrow's reader over the whole file keeps memory that grows with the file (peak RSS
    +25 % from 1M to 5M rows, measured); asked one row group at a time it stays flat.
    """
    for group in range(source.num_row_groups):
        yield from source.iter_batches(batch_size=batch_size, row_groups=[group])


def exists(path: Path) -> bool:
    return (Path(path) / PART_NAME).exists()
