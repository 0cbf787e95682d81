"""Export every stored dataset as one hive-partitioned Parquet dataset for downstream tools.

Layout under the export root (a local folder or a pyarrow.fs URI such as `s3://b/prefix`):

    current.json                 {"version": ...}: the commit point, written last
    current -> v-...             symbolic link, local file systems only
    v-<time>-<id>/manifest.json
    v-<time>-<id>/records/source=<source>/dataset=<dataset>/part-<build>-<n>.parquet
    v-<time>-<id>/crosswalk/part-0.parquet

Readers open `<root>/current/records` (on object storage: `<root>/<version>/records`, the
version read from `current.json`). A new export fills a new version folder and swaps the
pointer, so a reader sees the previous export or the new one, never half of either; the
previous version is kept so a reader mid-scan can finish. Exports are incremental: a
partition whose store snapshot, crosswalk and schema are unchanged is hard-linked (or, on
object storage, copied server-side) from the previous version instead of rewritten.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import shutil
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import lru_cache, reduce
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from node import constants
from node.config import NodeConfig
from node.errors import ConfigError, NodeError
from node.export_schema import (
    CROSSWALK_SCHEMA,
    EXPORT_SCHEMA,
    EXPORT_SCHEMA_VERSION,
    Crosswalk,
    prepare_crosswalk,
)
from node.store import PART_NAME, Store

GBIF_SOURCE = "gbif"
POINTER = "current.json"
CURRENT_LINK = "current"
RECORDS = "records"
MANIFEST = "manifest.json"


class ExportError(NodeError):
    """An export could not be completed; the previous export is left as it was."""

    code = "export_failed"


class _PartitionFailed(Exception):
    """Carries which partition failed out of the worker threads."""

    def __init__(self, key: str, cause: BaseException) -> None:
        super().__init__(key)
        self.key = key


@dataclass(frozen=True)
class Partition:
    """One stored dataset and the hive partition it becomes."""

    source: str
    dataset: str
    kind: str  # "local", "harvested" or "gbif"
    store_path: Path
    snapshot: str  # the snapshot folder's name, or a content hash for a plain folder
    default_licence: str | None = None

    @property
    def key(self) -> str:
        return f"{self.source}/{self.dataset}"

    @property
    def folder(self) -> str:
        return f"{RECORDS}/source={self.source}/dataset={self.dataset}"

    def build_id(self, crosswalk_sha256: str | None) -> str:
        """Everything that decides the partition's bytes: unchanged id, reusable files."""
        inputs = [EXPORT_SCHEMA_VERSION, self.source, self.dataset, self.snapshot]
        inputs += [crosswalk_sha256, self.default_licence]
        return hashlib.sha256(json.dumps(inputs).encode()).hexdigest()[:16]


@dataclass
class ExportResult:
    version: str
    root: str
    records_path: str  # what readers open (hive partitioning: source, dataset)
    manifest: dict[str, Any]
    rewritten: list[str] = field(default_factory=list)  # "source/dataset"
    reused: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return int(self.manifest["rows"])


# --- one batch of a stored dataset -> the export schema -----------------------------------

_TEXT_MAP = pa.map_(pa.string(), pa.string())
_NUMBER = r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$"
_SCHEMA_NAMES = frozenset(EXPORT_SCHEMA.names)


@lru_cache(maxsize=64)
def _nulls(length: int, kind: pa.DataType) -> pa.Array:
    """One shared all-null array per type and length: arrays are immutable, and ~160 absent
    text columns would otherwise allocate ~80 MB of offsets per batch."""
    return pa.nulls(length, kind)


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    try:
        return pc.cast(column, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Nested values (lists, structs) have no text cast: JSON keeps them readable.
        values = [None if v is None else json.dumps(v, default=str) for v in column.to_pylist()]
        return pa.chunked_array([pa.array(values, pa.string())])


def _text_map(names: list[str], columns: list[pa.ChunkedArray], length: int) -> pa.Array:
    """Text columns -> one map per row of the non-null values; null where a row has none.

    Vectorised: interleave the columns row by row with one `take`, then drop the nulls.
    """
    width = len(names)
    values = pa.concat_arrays([c.combine_chunks() for c in columns])
    position = pa.array(range(width * length), pa.int64())
    row = pc.divide(position, width)
    slot = pc.subtract(position, pc.multiply(row, width))
    values = pc.take(values, pc.add(pc.multiply(slot, length), row))
    keys = pc.take(pa.array(names, pa.string()), slot)
    present = pc.is_valid(values)
    counts = reduce(pc.add, [pc.cast(pc.is_valid(c), pa.int32()) for c in columns])
    offsets = pa.concat_arrays(
        [pa.array([0], pa.int32()), pc.cumulative_sum(counts).combine_chunks()]
    )
    empty = pc.equal(counts, 0).combine_chunks()
    return pa.MapArray.from_arrays(
        offsets, pc.filter(keys, present), pc.filter(values, present), _TEXT_MAP, mask=empty
    )


def _merge_maps(first: pa.ChunkedArray | pa.Array, second: pa.Array) -> pa.ChunkedArray | pa.Array:
    """Both maps' entries per row; a row-by-row loop, taken only when both have values."""
    if second.null_count == len(second):
        return first
    if first.null_count == len(first):
        return second
    rows = []
    for a, b in zip(first.to_pylist(), second.to_pylist(), strict=True):
        merged = {**dict(a or []), **dict(b or [])}
        rows.append(list(merged.items()) or None)
    return pa.array(rows, _TEXT_MAP)


def _typed(
    name: str, column: pa.ChunkedArray, kind: pa.DataType, failed: dict[str, Any]
) -> pa.ChunkedArray:
    """Cast a stored column to its export type; a value that will not cast is kept verbatim."""
    if column.type == kind:
        return column
    try:
        return pc.cast(column, kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        if not (pa.types.is_floating(kind) or pa.types.is_integer(kind)):
            raise ExportError(
                f"column {name}: {column.type} does not cast to {kind}: {exc}"
            ) from exc
    text = pc.utf8_trim_whitespace(_as_text(column))
    ok = pc.fill_null(pc.match_substring_regex(text, _NUMBER), False)
    number = pc.cast(pc.if_else(ok, text, pa.scalar(None, pa.string())), pa.float64())
    if pa.types.is_integer(kind):
        whole = pc.and_(pc.equal(pc.floor(number), number), pc.less(pc.abs(number), 2**31))
        ok = pc.and_(ok, pc.fill_null(whole, False))
        number = pc.if_else(ok, number, pa.scalar(None, pa.float64()))
    failed[name] = pc.if_else(pc.and_(pc.invert(ok), pc.is_valid(text)), text, None)
    return pc.cast(number, kind)


def conform(
    table: pa.Table, source: str, dataset: str, licence: str | None, crosswalk: Crosswalk | None
) -> pa.Table:
    """A batch of any stored layout -> EXPORT_SCHEMA: missing columns null, extras in a map."""
    length = table.num_rows
    failed: dict[str, Any] = {}
    columns: dict[str, Any] = {}
    for f in EXPORT_SCHEMA:
        if f.name in table.column_names:
            columns[f.name] = _typed(f.name, table.column(f.name), f.type, failed)
        else:
            columns[f.name] = _nulls(length, f.type)
    text = pa.string()
    columns["fed_source"] = pc.coalesce(columns["fed_source"], pa.scalar(source, text))
    columns["fed_dataset"] = pc.coalesce(columns["fed_dataset"], pa.scalar(dataset, text))
    columns["fed_licence"] = pc.coalesce(
        columns["fed_licence"], columns["license"], pa.scalar(licence, text)
    )
    if crosswalk is not None:
        accepted, kind, on = crosswalk.lookup(columns["scientificName"])
        columns["fed_accepted_name"], columns["fed_match_kind"] = accepted, kind
        columns["fed_match_on"] = on
    if failed:
        added = _text_map(
            list(failed),
            [pa.chunked_array([c]) if isinstance(c, pa.Array) else c for c in failed.values()],
            length,
        )
        columns["fed_verbatim"] = _merge_maps(columns["fed_verbatim"], added)
    extras = [n for n in table.column_names if n not in _SCHEMA_NAMES]
    if extras:
        added = _text_map(extras, [_as_text(table.column(n)) for n in extras], length)
        columns["fed_extra"] = _merge_maps(columns["fed_extra"], added)
    return pa.table([columns[f.name] for f in EXPORT_SCHEMA], schema=EXPORT_SCHEMA)


# --- where the export is written: a local folder or any pyarrow file system --------------


class _HashedSink:
    """A write-only file that hashes what passes through, so no file is read back."""

    def __init__(self, stream: Any, local: Path | None) -> None:
        self._stream, self._local = stream, local
        self._digest = hashlib.sha256()
        self._bytes = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self._digest.update(data)
        self._bytes += len(data)
        self._stream.write(data)
        return len(data)

    def tell(self) -> int:
        return self._bytes

    def flush(self) -> None:
        self._stream.flush()

    def writable(self) -> bool:
        return True

    def close(self) -> dict[str, Any]:
        if not self.closed:
            self._stream.flush()
            if self._local is not None:
                os.fsync(self._stream.fileno())
            self._stream.close()
            self.closed = True
        return {"bytes": self._bytes, "sha256": self._digest.hexdigest()}


class Target:
    """The export root on a pyarrow file system; local roots also get fsync, links, a lock."""

    def __init__(self, fs: pafs.FileSystem, root: str, display: str) -> None:
        self.fs, self.root, self.display = fs, root.rstrip("/"), display.rstrip("/")
        self.local = Path(self.root) if isinstance(fs, pafs.LocalFileSystem) else None
        fs.create_dir(self.root, recursive=True)

    def path(self, relative: str) -> str:
        return f"{self.root}/{relative}"

    def make_dir(self, relative: str) -> None:
        self.fs.create_dir(self.path(relative), recursive=True)

    def open_hashed(self, relative: str) -> _HashedSink:
        if "/" in relative:
            self.make_dir(relative.rsplit("/", 1)[0])
        if self.local is not None:
            return _HashedSink(open(self.local / relative, "wb"), self.local)
        return _HashedSink(self.fs.open_output_stream(self.path(relative)), None)

    def size(self, relative: str) -> int | None:
        info = self.fs.get_file_info(self.path(relative))
        return info.size if info.type == pafs.FileType.File else None

    def link_or_copy(self, source: str, dest: str) -> None:
        """Reuse an unchanged file: a hard link (same bytes, same mtime), else a copy."""
        self.make_dir(dest.rsplit("/", 1)[0])
        if self.local is not None:
            try:
                os.link(self.local / source, self.local / dest)
            except OSError:
                shutil.copy2(self.local / source, self.local / dest)
        else:
            self.fs.copy_file(self.path(source), self.path(dest))

    def read_text(self, relative: str) -> str:
        with self.fs.open_input_stream(self.path(relative)) as stream:
            return stream.read().decode("utf-8")

    def write_text(self, relative: str, text: str) -> None:
        sink = self.open_hashed(relative)
        sink.write(text.encode("utf-8"))
        sink.close()

    def write_text_atomic(self, relative: str, text: str) -> None:
        """Write beside, then rename: a rename locally, one atomic PUT on object storage."""
        temporary = f".{relative}.tmp-{uuid.uuid4().hex[:8]}"
        self.write_text(temporary, text)
        self.fs.move(self.path(temporary), self.path(relative))
        self._sync_dir(self.local)

    def sync(self, relative: str) -> None:
        """Make a finished version durable before anything points at it."""
        if self.local is None:
            return
        for folder, _, _ in os.walk(self.local / relative):
            self._sync_dir(Path(folder))
        self._sync_dir(self.local)

    @staticmethod
    def _sync_dir(folder: Path | None) -> None:
        if folder is None:
            return
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def point(self, link: str, version: str) -> None:
        """Swap the `current` symbolic link (local roots; object stores have none)."""
        if self.local is None:
            return
        temporary = self.local / f".{link}.link-{uuid.uuid4().hex[:8]}"
        os.symlink(version, temporary)
        os.replace(temporary, self.local / link)
        self._sync_dir(self.local)

    def discard(self, version: str) -> None:
        with contextlib.suppress(OSError, FileNotFoundError):
            self.fs.delete_dir(self.path(version))

    def prune(self, keep: set[str]) -> None:
        """Drop versions no pointer can reach, and leftovers of interrupted exports."""
        for info in self.fs.get_file_info(pafs.FileSelector(self.root)):
            name = info.base_name
            if info.type == pafs.FileType.Directory and _VERSION.match(name) and name not in keep:
                self.discard(name)
            elif _LEFTOVER.match(name):
                with contextlib.suppress(OSError, FileNotFoundError):
                    self.fs.delete_file(info.path)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """One export at a time per local root (object stores: run one exporter per prefix)."""
        if self.local is None:
            yield
            return
        with open(self.local / ".export.lock", "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise ExportError(f"{self.display}: another export is running there") from exc
            yield

    def reader_path(self, link: str, version: str, records: str) -> str:
        if self.local is not None:
            return str(self.local / link / records)
        return f"{self.display}/{version}/{records}"


_VERSION = re.compile(r"^v-\d{8}T\d{6}Z-[0-9a-f]{8}$")
_LEFTOVER = re.compile(r"^\..+\.(tmp|link)-[0-9a-f]{8}$")


def open_target(out: str | Path, filesystem: pafs.FileSystem | None = None) -> Target:
    if filesystem is not None:
        return Target(filesystem, str(out), str(out))
    if isinstance(out, Path) or "://" not in out:
        return Target(pafs.LocalFileSystem(), str(Path(out).absolute()), str(out))
    fs, path = pafs.FileSystem.from_uri(out)
    return Target(fs, path, out)


# --- the export -----------------------------------------------------------------------------


def _snapshot_id(link: Path) -> str:
    """The store swaps immutable snapshots behind a link, so the link target names the data."""
    if link.is_symlink():
        return os.readlink(link).rsplit("/", 1)[-1]
    digest = hashlib.sha256()
    with open(link / PART_NAME, "rb") as handle:
        while chunk := handle.read(constants.UNPACK_CHUNK_BYTES):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def _stored(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.iterdir() if not p.name.startswith(".") and (p / PART_NAME).exists()
    )


def find_partitions(config: NodeConfig) -> list[Partition]:
    """Every stored dataset: the node's own, each peer's, each GBIF query's."""
    store = Store(config.home)
    licences = {d.id: d.licence for d in config.datasets}
    found: list[Partition] = []
    for path in _stored(store.root / "local"):
        found.append(
            Partition(
                config.id, path.name, "local", path, _snapshot_id(path), licences.get(path.name)
            )
        )
    harvested = store.root / "harvested"
    peers = sorted(harvested.iterdir()) if harvested.is_dir() else []
    for peer in (p for p in peers if not p.name.startswith(".")):
        if peer.name in (config.id, GBIF_SOURCE):
            raise ConfigError(
                f"{peer}: a peer named {peer.name!r} would share a partition with "
                f"{'this node' if peer.name == config.id else 'GBIF'}; rename the peer"
            )
        for path in _stored(peer):
            found.append(Partition(peer.name, path.name, "harvested", path, _snapshot_id(path)))
    for path in _stored(store.root / "gbif"):
        found.append(Partition(GBIF_SOURCE, path.name, "gbif", path, _snapshot_id(path)))
    return found


def _open_snapshot(partition: Partition) -> tuple[BinaryIO, Partition]:
    """Open the snapshot found at discovery, or the newer one if a harvest swapped it since.

    The open handle keeps the file readable even if the store deletes the snapshot now.
    """
    for _ in range(3):
        folder = partition.store_path
        if not partition.snapshot.startswith("sha256:"):
            folder = partition.store_path.parent / partition.snapshot
        try:
            return open(folder / PART_NAME, "rb"), partition
        except FileNotFoundError:
            partition = replace(partition, snapshot=_snapshot_id(partition.store_path))
    raise ExportError(f"{partition.store_path}: the stored data keeps changing; export again")


def _batches(handle: BinaryIO) -> Iterator[pa.Table]:
    parquet = pq.ParquetFile(handle)
    for batch in parquet.iter_batches(batch_size=constants.EXPORT_BATCH_ROWS):
        table = pa.Table.from_batches([batch])
        del batch
        yield table
        del table  # before the next read, so two batches are never held at once


class _Stats:
    """What the manifest says about a partition, gathered while its batches stream past."""

    def __init__(self) -> None:
        self.rows = 0
        self.licences: Counter[str | None] = Counter()
        self.agreements: set[str] = set()
        self.harvest_runs: set[str] = set()

    def add(self, table: pa.Table) -> None:
        self.rows += table.num_rows
        for item in table.column("fed_licence").value_counts().to_pylist():
            self.licences[item["values"]] += item["counts"]
        for name, seen in (
            ("fed_agreement", self.agreements),
            ("fed_harvest_run", self.harvest_runs),
        ):
            seen.update(v for v in table.column(name).unique().to_pylist() if v is not None)

    def entry(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "licences": [
                {"licence": k, "records": v}
                for k, v in sorted(self.licences.items(), key=lambda kv: str(kv[0]))
            ],
            "agreements": sorted(self.agreements),
            "harvest_runs": sorted(self.harvest_runs),
        }


# Identifiers and coordinates are nearly unique: a dictionary only costs time and bytes there.
_NO_DICTIONARY = frozenset(
    {
        "occurrenceID",
        "catalogNumber",
        "otherCatalogNumbers",
        "recordNumber",
        "fieldNumber",
        "eventID",
        "materialSampleID",
        "gbifID",
        "decimalLatitude",
        "decimalLongitude",
        "verbatimCoordinates",
        "verbatimLatitude",
        "verbatimLongitude",
        "footprintWKT",
    }
)


def _parquet_writer(sink: _HashedSink) -> pq.ParquetWriter:
    dictionary = [name for name in EXPORT_SCHEMA.names if name not in _NO_DICTIONARY]
    return pq.ParquetWriter(sink, EXPORT_SCHEMA, compression="zstd", use_dictionary=dictionary)


def _write_partition(
    target: Target,
    version: str,
    partition: Partition,
    crosswalk: Crosswalk | None,
    stop: threading.Event,
) -> dict[str, Any]:
    """Stream one stored dataset into its partition's files; return its manifest entry."""
    handle, partition = _open_snapshot(partition)
    build = partition.build_id(crosswalk.sha256 if crosswalk else None)
    stats = _Stats()
    files: list[dict[str, Any]] = []
    writer: pq.ParquetWriter | None = None
    sink = None

    def close() -> None:
        nonlocal writer, sink
        if writer is not None and sink is not None:
            writer.close()
            files[-1].update(sink.close())
        writer = sink = None

    try:
        for batch in _batches(handle):
            if stop.is_set():
                raise ExportError(f"{partition.key}: stopped, another partition failed")
            table = conform(
                batch, partition.source, partition.dataset, partition.default_licence, crosswalk
            )
            if writer is not None and files[-1]["rows"] >= constants.EXPORT_MAX_ROWS_PER_FILE:
                close()
            if writer is None:
                path = f"{partition.folder}/part-{build}-{len(files)}.parquet"
                sink = target.open_hashed(f"{version}/{path}")
                writer = _parquet_writer(sink)
                files.append({"path": path, "rows": 0})
            writer.write_table(table)
            files[-1]["rows"] += table.num_rows
            stats.add(table)
            del batch, table  # let the next batch reuse the memory
        if not files:  # an empty dataset still gets a file, so its schema is discoverable
            path = f"{partition.folder}/part-{build}-0.parquet"
            sink = target.open_hashed(f"{version}/{path}")
            writer = _parquet_writer(sink)
            files.append({"path": path, "rows": 0})
        close()
    except BaseException:
        with contextlib.suppress(Exception):
            close()
        raise
    finally:
        handle.close()
    return {"snapshot": partition.snapshot, "build": build, **stats.entry(), "files": files}


def _reusable(
    target: Target, previous: dict[str, Any] | None, key: str, build: str
) -> dict[str, Any] | None:
    if previous is None:
        return None
    for entry in previous.get("partitions", []):
        if f"{entry['source']}/{entry['dataset']}" == key and entry.get("build") == build:
            version = previous["version"]
            if all(target.size(f"{version}/{f['path']}") == f["bytes"] for f in entry["files"]):
                return entry
    return None


def _write_crosswalk(target: Target, version: str, crosswalk: Crosswalk) -> dict[str, Any]:
    path = "crosswalk/part-0.parquet"
    sink = target.open_hashed(f"{version}/{path}")
    with pq.ParquetWriter(sink, CROSSWALK_SCHEMA, compression="zstd") as writer:
        writer.write_table(crosswalk.table)
    return {
        "path": path,
        "rows": crosswalk.table.num_rows,
        "content_sha256": crosswalk.sha256,
        **sink.close(),
    }


def _read_previous(target: Target) -> dict[str, Any] | None:
    """The manifest of the export `current.json` names, if it is a readable one of ours."""
    try:
        pointer = json.loads(target.read_text(POINTER))
        manifest = json.loads(target.read_text(f"{pointer['version']}/{MANIFEST}"))
    except (FileNotFoundError, OSError, ValueError, KeyError, TypeError):
        return None
    if manifest.get("format") != "fednode-export":
        return None
    return manifest


def _kept_versions(target: Target, version: str, previous: dict[str, Any] | None) -> set[str]:
    """This version and its predecessors, newest first, up to EXPORT_VERSIONS_KEPT."""
    kept = [version]
    manifest = previous
    while manifest is not None and len(kept) < constants.EXPORT_VERSIONS_KEPT:
        kept.append(manifest["version"])
        before = manifest.get("previous_version")
        try:
            manifest = json.loads(target.read_text(f"{before}/{MANIFEST}")) if before else None
        except (OSError, ValueError):
            manifest = None
    return set(kept)


def _summary(partitions: list[dict[str, Any]]) -> dict[str, Any]:
    licences: Counter[str | None] = Counter()
    for p in partitions:
        for item in p["licences"]:
            licences[item["licence"]] += item["records"]
    return {
        "rows": sum(p["rows"] for p in partitions),
        "sources": sorted({p["source"] for p in partitions}),
        "agreements": sorted({a for p in partitions for a in p["agreements"]}),
        "licences": [
            {"licence": k, "records": v}
            for k, v in sorted(licences.items(), key=lambda kv: str(kv[0]))
        ],
    }


def _partitions_into(
    target: Target,
    version: str,
    home: Path,
    partitions: list[Partition],
    previous: dict[str, Any] | None,
    crosswalk: Crosswalk | None,
    result: ExportResult,
) -> list[dict[str, Any]]:
    """Reuse unchanged partitions, write the others a few at a time; entries in order.

    Parquet encoding and compression release the GIL, so threads use more cores; if one
    partition fails, the others stop at their next batch.
    """
    entries: dict[int, dict[str, Any]] = {}
    stop = threading.Event()
    workers = max(1, min(constants.EXPORT_WORKERS, os.cpu_count() or 1))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="export")
    futures: dict[int, tuple[Future[dict[str, Any]], dict[str, Any]]] = {}
    try:
        for i, partition in enumerate(partitions):
            build = partition.build_id(crosswalk.sha256 if crosswalk else None)
            base = {
                "source": partition.source,
                "dataset": partition.dataset,
                "kind": partition.kind,
                "store_path": partition.store_path.relative_to(home).as_posix(),
                "snapshot": partition.snapshot,
                "build": build,
            }
            old = _reusable(target, previous, partition.key, build)
            if old is not None and previous is not None:
                for f in old["files"]:
                    target.link_or_copy(
                        f"{previous['version']}/{f['path']}", f"{version}/{f['path']}"
                    )
                entries[i] = {**old, **base, "status": "reused"}
                result.reused.append(partition.key)
            else:
                task = pool.submit(_write_partition, target, version, partition, crosswalk, stop)
                futures[i] = (task, base)
        for i, (task, base) in futures.items():
            try:
                written = task.result()
            except Exception as exc:
                stop.set()
                raise _PartitionFailed(partitions[i].key, exc) from exc
            entries[i] = {**base, "status": "written", "written_in": version, **written}
            result.rewritten.append(partitions[i].key)
    except BaseException:
        stop.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return [entries[i] for i in sorted(entries)]


def export(
    config: NodeConfig,
    out: str | Path,
    crosswalk: pa.Table | None = None,
    now: dt.datetime | None = None,
    *,
    filesystem: pafs.FileSystem | None = None,
) -> ExportResult:
    """Write the node's own, harvested and GBIF records as one Parquet dataset under `out`.

    Args:
        out: a local folder, or a pyarrow.fs URI (`s3://bucket/prefix`, `file:///...`).
        crosswalk: `verbatim_name`, `accepted_name`, `match_kind`; fills `fed_accepted_name`.
        now: the export's time (manifest `created`, version name); defaults to now, UTC.
        filesystem: a `pyarrow.fs.FileSystem` to write into; `out` is then a path in it.
    """
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    prepared = prepare_crosswalk(crosswalk) if crosswalk is not None else None
    partitions = find_partitions(config)
    target = open_target(out, filesystem)
    with target.lock():
        previous = _read_previous(target)
        version = f"v-{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        result = ExportResult(version, target.display, "", {})
        step = "records"
        try:
            target.make_dir(f"{version}/{RECORDS}")
            entries = _partitions_into(
                target, version, config.home, partitions, previous, prepared, result
            )
            step = "crosswalk"
            manifest = {
                "format": "fednode-export",
                "schema_version": EXPORT_SCHEMA_VERSION,
                "created": now.isoformat().replace("+00:00", "Z"),
                "node": config.id,
                "version": version,
                "previous_version": previous["version"] if previous else None,
                "records": RECORDS,
                "partitioning": ["source", "dataset"],
                **_summary(entries),
                "crosswalk": _write_crosswalk(target, version, prepared) if prepared else None,
                "partitions": entries,
            }
            step = "manifest"
            target.write_text(f"{version}/{MANIFEST}", json.dumps(manifest, indent=2) + "\n")
            target.sync(version)
            target.write_text_atomic(POINTER, json.dumps({"version": version}) + "\n")
            target.point(CURRENT_LINK, version)
        except BaseException as exc:
            target.discard(version)
            if not isinstance(exc, Exception):
                raise
            where: str = step
            cause: BaseException = exc
            if isinstance(exc, _PartitionFailed):
                where, cause = exc.key, exc.__cause__ or exc
            kept = previous["version"] if previous else "none"
            raise ExportError(
                f"export to {target.display} failed at {where}: {cause}; "
                f"the previous export ({kept}) is unchanged"
            ) from cause
        target.prune(_kept_versions(target, version, previous))
    result.manifest = manifest
    result.records_path = target.reader_path(CURRENT_LINK, version, RECORDS)
    return result
