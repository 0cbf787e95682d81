"""Publish a dataset: store its records, build a signed, versioned DwC-A, keep the last N.

Layout under `store/archives/<dataset>/`:
    <major.minor>/   dwca.zip, dwca.zip.sig, eml.xml, changes.json, manifest.json,
                     digests.parquet (id and a 64-bit digest per record), rejects.csv
    latest           the current version's name, replaced by rename: the commit point
    .lock            held while publishing, so two publishes of one dataset take turns

Everything is built in a hidden staging folder and renamed into place, then `latest` is
swapped; a failure at any step leaves the previous version, `latest` and the stored
records as they were. Versions are compared by record id and digest with DuckDB, which
joins on disk beyond its memory limit, so the comparison scales to millions of records;
a digest per record costs 8 bytes where a second copy of the records would cost the
dataset's size for every version kept.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from node.core import constants
from node.core.allocator import release_unused
from node.core.background import Background
from node.core.config import DatasetConfig, NodeConfig
from node.core.errors import InvalidInput, InvalidSource
from node.core.identity import Identity
from node.core.spreadsheet import safe_row
from node.core.terms import ID_TERM_FOR_ROW_TYPE, OCCURRENCE_ROW_TYPE, TAXON_ROW_TYPE
from node.dwca.coverage import Coverage
from node.dwca.digests import DIGEST_SCHEME, LEGACY_SCHEME, archive_digests, spilling_duckdb
from node.dwca.eml import build_eml
from node.dwca.eml_merge import SourceMetadata
from node.dwca.extension_tables import ExtensionTable
from node.dwca.writer import write_archive
from node.store.row_groups import RowGroupWriter
from node.store.store import Store, adopt_parquet_atomic, fsync_dir, write_atomic

ARCHIVE_FILE = "dwca.zip"
SIGNATURE_FILE = "dwca.zip.sig"
EML_FILE = "eml.xml"
CHANGES_FILE = "changes.json"
MANIFEST_FILE = "manifest.json"
DIGESTS_FILE = "digests.parquet"
REJECTS_FILE = "rejects.csv"
LATEST_FILE = "latest"
_RECORDS_FILE = "records.parquet"  # staging only: becomes store/local/<dataset> on success
_STAGING_PREFIX = ".staging-"
ROW_TYPES = {"occurrence": OCCURRENCE_ROW_TYPE, "checklist": TAXON_ROW_TYPE}


@dataclass(frozen=True)
class ChangeSummary:
    """How a version differs from the one before, counted by record id."""

    previous: str | None
    records: int
    added: int
    removed: int
    changed: int
    unchanged: int
    metadata_changed: bool = False
    extensions_changed: bool = False

    @property
    def data_changed(self) -> bool:
        return bool(self.added or self.removed or self.changed or self.extensions_changed)

    def text(self) -> str:
        if self.previous is None:
            return f"First version: {self.records:,} records."
        if not (self.added or self.removed or self.changed):
            data = "records unchanged"
        else:
            data = f"{self.added:,} added, {self.removed:,} removed, {self.changed:,} changed"
        if self.extensions_changed:
            data += "; extension rows changed"
        meta = "; metadata changed" if self.metadata_changed else ""
        return f"Since version {self.previous}: {data}{meta} ({self.records:,} records)."

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "summary": self.text()}


@dataclass(frozen=True)
class VersionInfo:
    """One published version, as the server and `fednode status` show it."""

    dataset: str
    version: str
    path: Path
    sha256: str
    signature: str
    records: int
    vernacular_records: int
    bytes: int
    modified: dt.datetime
    licence: str
    title: str
    changes: ChangeSummary
    row_type: str = OCCURRENCE_ROW_TYPE
    extension_records: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def eml_path(self) -> Path:
        return self.folder / EML_FILE

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for `/datasets` and `fednode status --json`."""
        out = dataclasses.asdict(self)
        out.update(path=str(self.path), modified=self.modified.isoformat())
        out["changes"] = self.changes.as_dict()
        return out


@dataclass(frozen=True)
class PublishResult:
    status: Literal["published", "unchanged"]
    version: VersionInfo
    changes: ChangeSummary
    pruned: tuple[str, ...] = ()
    rejects: int = 0


def version_key(version: str) -> tuple[int, int]:
    major, _, minor = version.partition(".")
    return (int(major), int(minor or 0))


def _is_version(name: str) -> bool:
    try:
        version_key(name)
    except ValueError:
        return False
    return "." in name


def next_version(previous: str | None, change_major: bool = False) -> str:
    """1.0 first; then minor steps, or the next major for a significant change (IPT rule)."""
    if previous is None:
        return "1.0"
    major, minor = version_key(previous)
    return f"{major + 1}.0" if change_major else f"{major}.{minor + 1}"


def _json(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8") + b"\n"


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    with open(root / ".lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _read_latest(root: Path) -> str | None:
    try:
        name = (root / LATEST_FILE).read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    return name if _is_version(name) else None


def _version_info(dataset_id: str, folder: Path) -> VersionInfo | None:
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
        changes = json.loads((folder / CHANGES_FILE).read_text(encoding="utf-8"))
        signature = (folder / SIGNATURE_FILE).read_text(encoding="ascii").strip()
    except (FileNotFoundError, ValueError):
        return None  # not a complete version folder
    known = {f.name for f in dataclasses.fields(ChangeSummary)}
    summary = ChangeSummary(**{k: v for k, v in changes.items() if k in known})
    return VersionInfo(
        dataset=dataset_id,
        version=manifest["version"],
        path=folder / ARCHIVE_FILE,
        sha256=manifest["sha256"],
        signature=signature,
        records=manifest["records"],
        vernacular_records=manifest["vernacular_records"],
        bytes=manifest["bytes"],
        modified=dt.datetime.fromisoformat(manifest["published"]),
        licence=manifest["licence"],
        title=manifest["title"],
        changes=summary,
        row_type=manifest.get("row_type", ROW_TYPES.get(manifest.get("type", ""), "")),
        extension_records=manifest.get("extensions", {}),
    )


def list_versions(config: NodeConfig, dataset_id: str) -> list[VersionInfo]:
    """Published versions, oldest first; folders newer than `latest` are unfinished."""
    root = Store(config.home).archives(dataset_id)
    latest = _read_latest(root)
    if latest is None:
        return []
    found = []
    for folder in root.iterdir():
        if _is_version(folder.name) and version_key(folder.name) <= version_key(latest):
            info = _version_info(dataset_id, folder)
            if info is not None:
                found.append(info)
    return sorted(found, key=lambda v: version_key(v.version))


def latest_version(config: NodeConfig, dataset_id: str) -> VersionInfo | None:
    """The version `latest` names, or None before the first publish."""
    root = Store(config.home).archives(dataset_id)
    latest = _read_latest(root)
    return _version_info(dataset_id, root / latest) if latest else None


def _metadata_fingerprint(dataset: DatasetConfig, node: NodeConfig) -> str:
    """What the EML says besides data and dates; a change here is worth a new version."""
    fields = dataset.model_dump()
    for local_only in ("source", "mapping", "encoding", "public"):
        fields.pop(local_only)
    fields["node"] = [node.id, node.name, node.country, node.url, node.contact_email]
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode("utf-8")).hexdigest()


def _with_provenance(table: pa.Table, values: Mapping[str, str]) -> pa.Table:
    """Fill the node's own provenance where the records leave it empty."""
    for name, value in values.items():
        if name in table.column_names:
            index = table.column_names.index(name)
            filled = table[name].cast(pa.string()).fill_null(value)
            table = table.set_column(index, name, filled)
        else:
            table = table.append_column(name, pa.array([value] * table.num_rows, pa.string()))
    return table


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A later table in the first one's schema; new columns cannot join an archive midway."""
    extra = [n for n in table.column_names if n not in schema.names]
    if extra:
        raise InvalidInput(
            f"some records have column(s) {', '.join(extra)} that the first records lacked; "
            "give every batch the same columns"
        )
    columns = [
        table[f.name] if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, names=schema.names).cast(schema)


class _Tee:
    """Passes tables to the archive writer and keeps a Parquet copy for the store, written
    in a thread (Parquet's encoder releases the GIL) while the next table becomes text."""

    def __init__(self, path: Path, provenance: Mapping[str, str]) -> None:
        self.path = path
        self.provenance = provenance
        self.writer: RowGroupWriter | None = None
        self.background: Background[pa.Table] | None = None

    def __call__(self, records: Iterable[pa.Table | pa.RecordBatch]) -> Iterator[pa.Table]:
        for table in records:
            if isinstance(table, pa.RecordBatch):
                table = pa.Table.from_batches([table])
            table = _with_provenance(table, self.provenance)
            if self.writer is None:
                self.writer = RowGroupWriter(self.path, table.schema)
                self.background = Background(self.writer.write_table, "store-parquet")
            elif table.schema != self.writer.schema:
                table = _conform(table, self.writer.schema)
            assert self.background is not None
            self.background.put(table)
            yield table

    def close(self, check: bool = True) -> None:
        """Finish the Parquet copy; `check=False` when the publish already failed."""
        finished = False
        try:
            if self.background is not None:
                self.background.close(check)
            finished = check
        finally:
            self.background = None
            if self.writer is not None:
                # A failed publish keeps no Parquet: what is still gathered is dropped.
                (self.writer.close if finished else self.writer.abandon)()
                self.writer = None


def _duckdb(spill: Path) -> duckdb.DuckDBPyConnection:
    """In memory up to the limit, then on disk beside the digests (not in the cwd)."""
    return spilling_duckdb(spill)


def check_unique_ids(digests: Path, id_term: str) -> None:
    """The last net before an archive is written (validation checked the source's ids).

    Grouping 20M ids does not fit the cap even spilling; grouping their 64-bit hashes does,
    and only ids sharing a hash are then grouped by value, so a collision reports nothing.
    """
    with _duckdb(digests.parent) as con:
        # The candidates are gathered first, in a table of their own: as one query (a CTE
        # or a subquery) DuckDB materialises the ids or plans a join that outgrows the cap.
        con.execute(
            "CREATE TEMP TABLE shared AS SELECT hash(id) AS h FROM read_parquet($path) "
            "GROUP BY h HAVING count(*) > 1",
            {"path": str(digests)},
        )
        if not con.execute("SELECT count(*) FROM shared").fetchone()[0]:  # type: ignore[index]
            return  # no two ids share a hash, so none repeats
        dupes = con.execute(
            "SELECT id, count(*) FROM read_parquet($path) "
            "WHERE hash(id) IN (SELECT h FROM shared) "
            "GROUP BY id HAVING count(*) > 1 ORDER BY id LIMIT 5",
            {"path": str(digests)},
        ).fetchall()
    if dupes:
        shown = ", ".join(f"{value!r} ({count}x)" for value, count in dupes)
        raise InvalidSource(
            f"{id_term} must be unique, but some values repeat: {shown}. GBIF rejects "
            "archives with duplicate record ids; fix the source and publish again"
        )


def compare_versions(
    new: Path, old: Path | None, previous: str | None, metadata_changed: bool
) -> ChangeSummary:
    """Added / removed / changed records between two digest files, joined by id.

    Under DuckDB's cap a join of 20M ids a side runs out of memory even spilling, so a big
    pair is joined in passes, each over the ids whose hash falls in one bucket: an id is in
    the same bucket on both sides, so the counts add up exactly.
    """
    with _duckdb(new.parent) as con:
        if old is None or not old.exists():
            row = con.execute("SELECT count(*) FROM read_parquet(?)", [str(new)]).fetchone()
            records = row[0] if row else 0
            return ChangeSummary(previous, records, records, 0, 0, 0, metadata_changed)
        buckets = diff_buckets(new, old)
        added = removed = changed = same = 0
        for bucket in range(buckets):
            picked = f"WHERE hash(id) % {buckets} = {bucket}" if buckets > 1 else ""
            row = con.execute(
                f"""SELECT count(*) FILTER (WHERE o.id IS NULL),
                          count(*) FILTER (WHERE n.id IS NULL),
                          count(*) FILTER (WHERE n.digest <> o.digest),
                          count(*) FILTER (WHERE n.digest = o.digest)
                   FROM (SELECT id, digest FROM read_parquet($new) {picked}) n
                   FULL OUTER JOIN (SELECT id, digest FROM read_parquet($old) {picked}) o
                   ON n.id = o.id""",
                {"new": str(new), "old": str(old)},
            ).fetchone()
            a, r, c, u = row or (0, 0, 0, 0)
            added, removed, changed, same = added + a, removed + r, changed + c, same + u
    return ChangeSummary(
        previous, added + changed + same, added, removed, changed, same, metadata_changed
    )


def diff_buckets(*digests: Path) -> int:
    """Passes for a version join: the larger side's estimated size over the bucket size,
    read from the Parquet footers (ids' uncompressed bytes and row counts)."""
    largest = 0
    for path in digests:
        footer = pq.ParquetFile(path)
        meta, column = footer.metadata, footer.schema_arrow.get_field_index("id")
        ids = sum(
            meta.row_group(g).column(column).total_uncompressed_size
            for g in range(meta.num_row_groups)
        )
        largest = max(largest, ids + meta.num_rows * constants.DIFF_ROW_BYTES)
    return max(1, -(-largest // constants.DIFF_BUCKET_BYTES))


def _write_rejects(path: Path, rejects: list[Any]) -> None:
    """rejects.csv: one row per refused source row, whatever shape the reader gave it."""
    rows = [
        dataclasses.asdict(r)
        if dataclasses.is_dataclass(r) and not isinstance(r, type)
        else dict(r)
        if isinstance(r, Mapping)
        else {"reason": str(r)}
        for r in rejects
    ]
    header = list(dict.fromkeys(k for row in rows for k in row)) or ["reason"]
    tmp = path.with_name(f".{path.name}.tmp")
    # A BOM so spreadsheet programs open Chinese and Vietnamese text as UTF-8.
    with open(tmp, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(safe_row(row) for row in rows)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _discard_unfinished(root: Path, latest: str | None) -> None:
    """Remove what an interrupted publish left: staging folders, versions past `latest`."""
    for path in root.iterdir():
        newer = _is_version(path.name) and (
            latest is None or version_key(path.name) > version_key(latest)
        )
        if path.name.startswith(_STAGING_PREFIX) or newer:
            shutil.rmtree(path, ignore_errors=True)


def _recover_latest(dataset_id: str, root: Path) -> str | None:
    """Without a `latest` file, the newest complete version is the latest: a lost pointer
    must never cost the archived versions."""
    complete = [
        p.name for p in root.iterdir() if _is_version(p.name) and _version_info(dataset_id, p)
    ]
    if not complete:
        return None
    latest = max(complete, key=version_key)
    write_atomic(root / LATEST_FILE, f"{latest}\n".encode("ascii"))
    return latest


def _prune(root: Path, keep: int) -> tuple[str, ...]:
    versions = sorted((p.name for p in root.iterdir() if _is_version(p.name)), key=version_key)
    old = versions[: max(len(versions) - max(keep, 1), 0)]
    for name in old:
        shutil.rmtree(root / name, ignore_errors=True)
    return tuple(old)


def publish_dataset(
    config: NodeConfig,
    dataset_id: str,
    identity: Identity,
    records: Iterable[pa.Table | pa.RecordBatch],
    rejects: list[Any] | None = None,
    change_major: bool = False,
    now: dt.datetime | None = None,
    *,
    row_type: str | None = None,
    extensions: Sequence[ExtensionTable] = (),
    source_metadata: SourceMetadata | None = None,
) -> PublishResult:
    """Store the records and publish them as the dataset's next archive version.

    Args:
        records: stored-layout tables (node.store.records.to_stored_layout), validated.
        rejects: rows the source reader refused, with reasons; written to rejects.csv.
        change_major: a scientifically significant change: the next major version.
        row_type: the core's row type (an archive's own, say Event); by default the
            dataset type's (Occurrence or Taxon).
        extensions: the source's extension tables, published and stored whole.
        source_metadata: the source's own EML, merged into the published one.
    """
    dataset = config.dataset(dataset_id)
    root = Store(config.home).archives(dataset_id)
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root):
        latest = _read_latest(root) or _recover_latest(dataset_id, root)
        _discard_unfinished(root, latest)
        previous = _version_info(dataset_id, root / latest) if latest else None
        staging = root / f"{_STAGING_PREFIX}{uuid.uuid4().hex[:12]}"
        staging.mkdir()
        try:
            publication = _Publication(config, dataset, staging, previous, change_major, now)
            publication.row_type = row_type or publication.row_type
            publication.extensions = tuple(extensions)
            publication.source_metadata = source_metadata
            if source_metadata is not None:  # an edited source EML is a metadata change
                publication.fingerprint = hashlib.sha256(
                    f"{publication.fingerprint}:{source_metadata.sha256}".encode("ascii")
                ).hexdigest()
            return publication.run(identity, records, rejects)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


class _Publication:
    """One publish of one dataset, built in `staging` and committed by moving `latest`."""

    def __init__(
        self,
        config: NodeConfig,
        dataset: DatasetConfig,
        staging: Path,
        previous: VersionInfo | None,
        change_major: bool,
        now: dt.datetime | None,
    ) -> None:
        self.config, self.dataset, self.staging, self.previous = config, dataset, staging, previous
        self.change_major = change_major
        self.now = now or dt.datetime.now(dt.UTC)
        self.version = next_version(previous.version if previous else None, change_major)
        self.row_type = ROW_TYPES[dataset.type]
        self.fingerprint = _metadata_fingerprint(dataset, config)
        self.changes: ChangeSummary | None = None
        self.eml = b""
        self.extensions: tuple[ExtensionTable, ...] = ()
        self.source_metadata: SourceMetadata | None = None

    def _eml(self, coverage: Coverage) -> bytes:
        """Called by the writer once the digests exist: check ids, compare, describe."""
        digests = self.staging / DIGESTS_FILE
        release_unused()  # the records have streamed past; DuckDB's joins come next
        check_unique_ids(digests, ID_TERM_FOR_ROW_TYPE[self.row_type])
        previous = self.previous
        metadata_changed = False
        before: Path | None = None
        if previous is not None:
            manifest = json.loads((previous.folder / MANIFEST_FILE).read_text(encoding="utf-8"))
            metadata_changed = manifest.get("metadata_fingerprint") != self.fingerprint
            before = self._previous_digests(previous, manifest)
        self.changes = compare_versions(
            digests, before, previous.version if previous else None, metadata_changed
        )
        self.eml = build_eml(
            self.dataset, self.config, coverage, self.version, self.now.date(),
            change_summary=self.changes.text(), modified=self.now,
            source=self.source_metadata,
        )  # fmt: skip
        return self.eml

    def _previous_digests(self, previous: VersionInfo, manifest: dict[str, Any]) -> Path:
        """The previous version's digests under this node's scheme: kept under another,
        they are recomputed from its archive (into the spill folder, removed on commit)."""
        if manifest.get("digest_scheme", LEGACY_SCHEME) == DIGEST_SCHEME:
            return previous.folder / DIGESTS_FILE
        scratch = self.staging / ".duckdb"
        scratch.mkdir(exist_ok=True)
        recomputed = scratch / f"previous-{DIGESTS_FILE}"
        # Folded names were digested with the record; a source's own table was not.
        folded = not manifest.get("extensions_sha256")
        archive_digests(previous.path, recomputed, fold_vernacular=folded)
        return recomputed

    def run(
        self,
        identity: Identity,
        records: Iterable[pa.Table | pa.RecordBatch],
        rejects: list[Any] | None,
    ) -> PublishResult:
        staging, dataset = self.staging, self.dataset
        provenance = {
            "fed_source": self.config.id,
            "fed_dataset": dataset.id,
            "fed_licence": dataset.licence,
        }
        tee = _Tee(staging / _RECORDS_FILE, provenance)
        try:
            stats = write_archive(
                staging / ARCHIVE_FILE, tee(records), self.row_type, self._eml,
                digests_path=staging / DIGESTS_FILE, modified=self.now,
                extensions=self.extensions,
            )  # fmt: skip
        except BaseException:
            tee.close(check=False)  # the first error is the one to report
            raise
        tee.close()
        changes = self.changes
        assert changes is not None  # set by _eml, which write_archive always calls
        if self.previous is not None:
            before = json.loads((self.previous.folder / MANIFEST_FILE).read_text(encoding="utf-8"))
            if before.get("extensions_sha256", "") != stats.extensions_sha256:
                changes = dataclasses.replace(changes, extensions_changed=True)
        local = Store(self.config.home).local(dataset.id)
        adopt_parquet_atomic(local, tee.path, beside=self._store_extensions)
        rejected = len(rejects or [])
        previous = self.previous
        if previous and not (self.change_major or changes.data_changed or changes.metadata_changed):
            if rejects is not None:
                _write_rejects(previous.folder / REJECTS_FILE, rejects)
            return PublishResult("unchanged", previous, changes, (), rejected)
        manifest = {
            "dataset": dataset.id,
            "version": self.version,
            "sha256": stats.sha256,
            "bytes": stats.bytes,
            "records": stats.core_records,
            "vernacular_records": stats.vernacular_records,
            "published": self.now.isoformat(),
            "licence": dataset.licence,
            "title": dataset.title,
            "type": dataset.type,
            "row_type": self.row_type,
            "extensions": dict(stats.extension_records),
            "extensions_sha256": stats.extensions_sha256,
            "columns": list(stats.columns),
            "metadata_fingerprint": self.fingerprint,
            "digest_scheme": DIGEST_SCHEME,
        }
        signature = identity.sign(stats.sha256.encode("ascii"))
        (staging / SIGNATURE_FILE).write_text(signature + "\n", encoding="ascii")
        (staging / EML_FILE).write_bytes(self.eml)
        (staging / CHANGES_FILE).write_bytes(_json({**changes.as_dict(), "version": self.version}))
        (staging / MANIFEST_FILE).write_bytes(_json(manifest))
        if rejects is not None:
            _write_rejects(staging / REJECTS_FILE, rejects)
        return self._commit(changes, rejected)

    def _store_extensions(self, snapshot: Path) -> None:
        """The extension tables go into the records' snapshot, swapped in with them."""
        for table in self.extensions:
            shutil.copyfile(table.path, snapshot / table.path.name)

    def _commit(self, changes: ChangeSummary, rejected: int) -> PublishResult:
        root = self.staging.parent
        shutil.rmtree(self.staging / ".duckdb", ignore_errors=True)  # DuckDB's spill files
        for path in self.staging.iterdir():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
        fsync_dir(self.staging)
        os.rename(self.staging, root / self.version)
        fsync_dir(root)
        write_atomic(root / LATEST_FILE, f"{self.version}\n".encode("ascii"))
        fsync_dir(root)
        pruned = _prune(root, self.config.archive_versions_kept)
        info = _version_info(self.dataset.id, root / self.version)
        assert info is not None  # just written and synced
        return PublishResult("published", info, changes, pruned, rejected)
