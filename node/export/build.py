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

import datetime as dt
import json
import os
import threading
import uuid
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from node.core import constants
from node.core.config import NodeConfig
from node.core.errors import ExportError
from node.export.extensions import write_extensions
from node.export.partitions import RECORDS, Partition, find_partitions, write_partition
from node.export.schema import (
    ACCEPTED_NAME_SCHEMA,
    EXPORT_SCHEMA_VERSION,
    AcceptedNameLookup,
    prepare_crosswalk,
)
from node.export.target import Target, one_line, open_target

POINTER = "current.json"
CURRENT_LINK = "current"
MANIFEST = "manifest.json"


class _PartitionFailed(Exception):
    """Carries which partition failed out of the worker threads."""

    def __init__(self, key: str, cause: BaseException) -> None:
        super().__init__(key)
        self.key = key


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


def _write_crosswalk(target: Target, version: str, crosswalk: AcceptedNameLookup) -> dict[str, Any]:
    path = "crosswalk/part-0.parquet"
    sink = target.open_hashed(f"{version}/{path}")
    with pq.ParquetWriter(sink, ACCEPTED_NAME_SCHEMA, compression="zstd") as writer:
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
    crosswalk: AcceptedNameLookup | None,
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
                task = pool.submit(write_partition, target, version, partition, crosswalk, stop)
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
            step = "extensions"
            extensions = write_extensions(target, version, partitions)
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
                "extensions": extensions,
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
                f"export to {target.display} failed at {where}: {one_line(cause)}; "
                f"the previous export ({kept}) is unchanged"
            ) from cause
        target.prune(_kept_versions(target, version, previous))
    result.manifest = manifest
    result.records_path = target.reader_path(CURRENT_LINK, version, RECORDS)
    return result
