"""The records of an older kept version, for enforcing it as strictly as the latest.

The store keeps the latest version's records as Parquet and, for older versions, only
their archives (node.publish.versions). A partner asking for an older version must get it
through its agreement, enforced like the latest, so that version's archive is read back
into the stored layout once, the way a harvested archive is, and cached beside the flow
builds. The snapshot appears by rename when complete, so a crash leaves no half-read one.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from mappings.sources import ArchiveSource, open_source
from node.publish.versions import VersionInfo
from node.store.records import to_stored_layout
from node.store.row_groups import RowGroupWriter
from node.store.store import PART_NAME, Store, fsync_dir


def kept_records(
    store: Store, version: VersionInfo, dataset_type: str, node_id: str, kept: Iterable[VersionInfo]
) -> Path:
    """A folder with the version's records (`PART_NAME`) and its extension tables.

    Snapshots of versions no longer in `kept` (pruned by a later publish) are removed
    here, so the cache holds at most one per kept version.
    """
    root = store.cache() / "versions" / version.dataset
    folder = root / _name(version)
    if root.is_dir():
        wanted = {_name(v) for v in kept}
        for stale in root.iterdir():
            if not stale.name.startswith(".") and stale.name not in wanted:
                shutil.rmtree(stale, ignore_errors=True)
    if (folder / PART_NAME).is_file():
        return folder
    tmp = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.mkdir(parents=True)
    try:
        _read_back(version, dataset_type, node_id, tmp)
        fsync_dir(tmp)
        try:
            tmp.rename(folder)
        except OSError:  # another build finished first: its snapshot holds the same rows
            if not (folder / PART_NAME).is_file():
                raise
        fsync_dir(folder.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _name(version: VersionInfo) -> str:
    return f"{version.version}-{version.sha256}"


def _read_back(version: VersionInfo, dataset_type: str, node_id: str, into: Path) -> None:
    provenance = {
        "fed_source": node_id,
        "fed_dataset": version.dataset,
        "fed_licence": version.licence,
    }
    work = into / "work"
    work.mkdir()
    source = open_source(version.path, dataset_type=dataset_type, workdir=work)
    writer: RowGroupWriter | None = None
    try:
        for batch in source.batches():
            table = to_stored_layout(batch, provenance)
            if writer is None:
                writer = RowGroupWriter(into / PART_NAME, table.schema)
            writer.write_table(table.cast(writer.schema))
        if writer is None:  # a version with no records: an empty table, as publish stores it
            empty = pa.table({source.id_term: pa.array([], pa.string())})
            pq.write_table(to_stored_layout(empty, provenance), into / PART_NAME)
        if isinstance(source, ArchiveSource):
            source.extract_extensions(into)
    finally:
        if writer is not None:
            writer.close()
        shutil.rmtree(work, ignore_errors=True)
