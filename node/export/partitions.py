"""Stored datasets found and streamed, each into its own hive partition of an export."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from node.core import constants
from node.core.config import NodeConfig
from node.core.errors import ConfigError, ExportError
from node.export.conform import conform
from node.export.schema import EXPORT_SCHEMA, EXPORT_SCHEMA_VERSION, AcceptedNameLookup
from node.export.target import HashedSink, Target
from node.store.store import PART_NAME, Store, parquet_batches

GBIF_SOURCE = "gbif"
RECORDS = "records"


@dataclass(frozen=True)
class Partition:
    """One stored dataset and the hive partition it becomes."""

    source: str
    dataset: str
    kind: str  # "local", "harvested", "gbif" or "ipt"
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
    found += _ipt_partitions(store, {p.source for p in found})
    return found


def _ipt_partitions(store: Store, taken: set[str]) -> list[Partition]:
    """Each IPT resource, its source the IPT's id; an id a partner or this node already
    uses would mix unsigned public data into their partition, so it is refused."""
    root = store.root / "ipt"
    found = []
    for ipt in sorted(root.iterdir()) if root.is_dir() else []:
        if ipt.name.startswith("."):
            continue
        if ipt.name in taken:
            raise ConfigError(
                f"{ipt}: an IPT named {ipt.name!r} would share a partition with a partner, "
                "this node or GBIF; rename the IPT"
            )
        for path in _stored(ipt):
            found.append(Partition(ipt.name, path.name, "ipt", path, _snapshot_id(path)))
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
    for batch in parquet_batches(parquet, constants.EXPORT_BATCH_ROWS):
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


def _parquet_writer(sink: HashedSink) -> pq.ParquetWriter:
    dictionary = [name for name in EXPORT_SCHEMA.names if name not in _NO_DICTIONARY]
    return pq.ParquetWriter(sink, EXPORT_SCHEMA, compression="zstd", use_dictionary=dictionary)


def write_partition(
    target: Target,
    version: str,
    partition: Partition,
    crosswalk: AcceptedNameLookup | None,
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
