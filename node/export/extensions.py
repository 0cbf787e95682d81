"""Export each stored extension as its own table beside `records`, one per row type.

    <version>/<row type>/source=<source>/dataset=<dataset>/part-<snapshot>-<n>.parquet

A table per row type (`multimedia`, `measurementorfact`, `vernacularname`, ...) holds every
stored extension row of that type, text as stored, with `coreid` to join on the record's
id term in `records` (occurrenceID, taxonID or eventID). The files are small beside the
records and rewritten on every export.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from node.core.terms import short_name
from node.dwca.extension_tables import load_extensions
from node.export.partitions import RECORDS, Partition
from node.export.target import Target

_SLUG = re.compile(r"[^a-z0-9]+")
_RESERVED = {RECORDS, "crosswalk"}


def table_name(row_type: str) -> str:
    """The export table of a row type: its short name in lower case."""
    name = _SLUG.sub("_", short_name(row_type).lower()).strip("_") or "extension"
    return f"extension_{name}" if name in _RESERVED else name


def _snapshot_folder(partition: Partition) -> Path:
    if partition.snapshot.startswith("sha256:"):
        return partition.store_path
    return partition.store_path.parent / partition.snapshot


def write_extensions(
    target: Target, version: str, partitions: list[Partition]
) -> list[dict[str, Any]]:
    """Write every partition's extensions; return one manifest entry per file."""
    entries: list[dict[str, Any]] = []
    for partition in partitions:
        counts: dict[str, int] = {}
        for extension in load_extensions(_snapshot_folder(partition)):
            table = table_name(extension.row_type)
            number = counts.get(table, 0)
            counts[table] = number + 1
            folder = f"{table}/source={partition.source}/dataset={partition.dataset}"
            path = f"{folder}/part-{partition.snapshot.replace(':', '-')}-{number}.parquet"
            sink = target.open_hashed(f"{version}/{path}")
            rows = 0
            source = pq.ParquetFile(extension.path)
            with pq.ParquetWriter(sink, source.schema_arrow, compression="zstd") as writer:
                for batch in source.iter_batches():
                    writer.write_batch(batch)
                    rows += batch.num_rows
            entry = {"table": table, "row_type": extension.row_type, "path": path, "rows": rows}
            entries.append({**entry, **sink.close(), "partition": partition.key})
    return entries
