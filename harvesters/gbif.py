"""Harvest a GBIF occurrence query into `store/gbif/<query>/`: by search, or by download.

Search pages through `/occurrence/search` (300 a page, about a request a second) and is
refused up front for queries beyond GBIF's deep-paging limit; larger harvests go through
GBIF's download service, where GBIF's cluster builds the file (SIMPLE_PARQUET or DWCA) and
the node polls, fetches and ingests it. Either way the records land in the node's stored
layout with `fed_source = "gbif"`, GBIF's `gbifID`, `datasetKey`, `license` and `issue`,
and GBIF's issue flags merged into `fed_issues`; a failed run leaves the last good data.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import tempfile
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from harvesters.base import HarvestResult
from harvesters.gbif_client import GbifAccount, GbifClient, GbifQuery, GbifRefused, translate
from node.core import constants
from node.core.config import GbifQueryConfig, NodeConfig
from node.core.errors import HarvestError, InvalidArchive, NodeError
from node.core.licences import licence_id
from node.core.terms import KNOWN_TERMS
from node.dwca.reader import open_archive
from node.dwca.unpack import safe_unpack
from node.store.records import to_stored_layout
from node.store.store import Store, parquet_batches, write_parquet_atomic

log = logging.getLogger("fednode.gbif")

DOWNLOAD_FORMATS = ("SIMPLE_PARQUET", "DWCA")
ACCOUNT_FILE = "keys/gbif.toml"
_WAITING = frozenset({"PREPARING", "RUNNING", "SUSPENDED"})
# GBIF fields beside the Darwin Core terms that are worth keeping (names as GBIF spells
# them in search results and in the simple download formats' descriptions).
# fmt: off
GBIF_FIELDS = (
    "gbifID", "datasetKey", "publishingOrgKey", "publishingCountry", "taxonKey", "speciesKey",
    "acceptedTaxonKey", "acceptedScientificName", "species", "genericName",
    "verbatimScientificName", "verbatimScientificNameAuthorship", "iucnRedListCategory",
    "elevation", "elevationAccuracy", "depth", "depthAccuracy", "mediaType", "lastInterpreted",
    "issue", "recordedByID", "identifiedByID",
)
# fmt: on
_KEEP = frozenset(KNOWN_TERMS) | frozenset(GBIF_FIELDS)
_CANONICAL = {name.lower(): name for name in sorted(_KEEP)}
# GBIF's list-valued fields: `issue` and `mediaType` are ';'-separated in its text formats;
# other multi-valued terms use the Darwin Core ' | ' separator.
_LIST_SEPARATOR = {"issue": ";", "mediaType": ";"}


def _text(value: object, name: str) -> str | None:
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, dict):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        items = [str(v) for v in value if v is not None and not isinstance(v, dict | list)]
        return _LIST_SEPARATOR.get(name, " | ").join(items) if items else None
    return str(value)


def results_table(results: list[dict[str, Any]]) -> pa.Table:
    """Occurrence search results -> text columns named by term (GBIF's `issues` -> `issue`)."""
    columns: dict[str, list[str | None]] = {}
    for row, record in enumerate(results):
        if "gbifID" not in record and "key" in record:
            record = {**record, "gbifID": record["key"]}
        for key, value in record.items():
            name = "issue" if key == "issues" else key
            if name in _KEEP and (text := _text(value, name)) is not None:
                columns.setdefault(name, [None] * len(results))[row] = text
    return pa.table({name: pa.array(columns[name], pa.string()) for name in sorted(columns)})


def _page_records(results: list[dict[str, Any]], run_id: str) -> pa.Table:
    return stored_records(results_table(results), run_id)


def _as_text(column: pa.ChunkedArray, name: str) -> pa.ChunkedArray:
    kind = column.type
    if pa.types.is_struct(kind):  # GBIF vocabulary values: {concept, lineage}
        names = [kind.field(i).name for i in range(kind.num_fields)]
        column = pc.struct_field(column, names.index("concept") if "concept" in names else 0)
        kind = column.type
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        values = pc.cast(column, pa.list_(pa.string()))
        joined = pc.binary_join(values, _LIST_SEPARATOR.get(name, " | "))
        return pc.if_else(pc.equal(joined, ""), pa.scalar(None, pa.string()), joined)
    return column if pa.types.is_string(kind) else pc.cast(column, pa.string())


def canonical_columns(table: pa.Table) -> pa.Table:
    """Rename GBIF's column spellings (`decimallatitude`) to terms; text columns only."""
    names, columns = [], []
    for name, column in zip(table.column_names, table.columns, strict=True):
        canonical = name if name in _KEEP else _CANONICAL.get(name.lower(), name)
        if canonical == "id":  # a DwC-A core id: in GBIF downloads, the gbifID
            canonical = "gbifID"
        if canonical in names:
            continue
        names.append(canonical)
        columns.append(_as_text(column, canonical))
    return pa.table(dict(zip(names, columns, strict=True)))


def stored_records(table: pa.Table, run_id: str) -> pa.Table:
    """GBIF text columns -> the node's stored layout with per-record provenance."""
    table = canonical_columns(table)
    stored = to_stored_layout(table, {"fed_source": "gbif", "fed_harvest_run": run_id})
    columns = dict(zip(stored.column_names, stored.columns, strict=True))
    if "datasetKey" in columns:
        columns["fed_dataset"] = columns["datasetKey"]
    if "license" in columns:
        encoded = pc.dictionary_encode(columns["license"].combine_chunks())
        ids = pa.array([licence_id(v) for v in encoded.dictionary.to_pylist()], pa.string())
        columns["fed_licence"] = pc.take(ids, encoded.indices)
    if "issue" in columns:
        columns["fed_issues"] = _merged_issues(columns["fed_issues"], columns["issue"])
    return pa.table(columns)


def _merged_issues(ours: pa.ChunkedArray, theirs: pa.ChunkedArray) -> pa.Array:
    """The node's flags, then GBIF's `;`-separated ones not already there.

    Records repeat few combinations of flags, so each distinct pair is merged once.
    """
    mine = pc.fill_null(pc.binary_join(ours, "\x1f"), "")
    pairs = pc.binary_join_element_wise(mine, pc.fill_null(theirs, ""), "\x1e")
    encoded = pc.dictionary_encode(pairs.combine_chunks())
    merged = []
    for pair in encoded.dictionary.to_pylist():
        node_flags, _, gbif_flags = pair.partition("\x1e")
        flags = [f for f in node_flags.split("\x1f") if f]
        flags += [f for f in dict.fromkeys(gbif_flags.split(";")) if f and f not in flags]
        merged.append(flags)
    return pc.take(pa.array(merged, pa.list_(pa.string())), encoded.indices)


def load_account(home: Path, environ: Mapping[str, str] | None = None) -> GbifAccount:
    """GBIF_USER / GBIF_PWD / GBIF_EMAIL, else `keys/gbif.toml` (mode 0600) in the node home."""
    env = os.environ if environ is None else environ
    names = ("GBIF_USER", "GBIF_PWD", "GBIF_EMAIL")
    if all(env.get(n) for n in names):
        return GbifAccount(env["GBIF_USER"], env["GBIF_EMAIL"], env["GBIF_PWD"])
    path = Path(home) / ACCOUNT_FILE
    if not path.is_file():
        missing = ", ".join(n for n in names if not env.get(n))
        raise HarvestError(
            f"GBIF downloads need a GBIF account: set {missing} in the environment, or write "
            f"{path} with user, password and email (chmod 600)"
        )
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise HarvestError(
            f"{path} holds a password but others may read it (mode {mode:04o}): "
            f"run `chmod 600 {path}`"
        )
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise HarvestError(f"{path}: not valid TOML ({exc})") from exc
    absent = [k for k in ("user", "password", "email") if not values.get(k)]
    if absent:
        raise HarvestError(f"{path}: missing {', '.join(absent)}")
    return GbifAccount(
        str(values["user"]), str(values["email"]), str(values["password"]), str(path)
    )


class _Staging:
    """Parts written as they arrive, unified at the end: search pages differ in columns."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.parts: list[Path] = []

    def add(self, table: pa.Table) -> None:
        part = self.folder / f"part-{len(self.parts):06d}.parquet"
        pq.write_table(table, part)
        self.parts.append(part)

    def tables(self) -> Iterator[pa.Table]:
        if not self.parts:
            return
        schema = pa.unify_schemas([pq.read_schema(p) for p in self.parts])
        for part in self.parts:
            table = pq.read_table(part)
            for f in schema:
                if f.name not in table.column_names:
                    table = table.append_column(f, pa.nulls(table.num_rows, f.type))
            yield table.select(schema.names).cast(schema)


class GbifHarvester:
    """One `[[gbif]]` query of node.toml, harvested by `method` = "search" or "download"."""

    def __init__(
        self,
        config: NodeConfig,
        query: GbifQueryConfig,
        store: Store,
        *,
        client: GbifClient | None = None,
    ) -> None:
        self.config, self.query, self.store = config, query, store
        self.source = f"gbif:{query.name}"
        self.client = client or GbifClient.for_node(config)
        self.download_format = query.format or constants.GBIF_DOWNLOAD_FORMAT

    @property
    def dest(self) -> Path:
        return self.store.gbif(self.query.name)

    async def harvest(self, run_id: str) -> HarvestResult:
        result = HarvestResult(self.source, run_id, "ok", datasets=[self.query.name])
        result.detail["method"] = self.query.method
        try:
            query = translate(self.query.predicate)
            if self.query.method == "download":
                result.records = await self._download(query, run_id, result)
            else:
                result.records = await self._search(query, run_id, result)
        except NodeError as exc:
            result.outcome, result.error = "failed", exc.detail
        except OSError as exc:
            result.outcome, result.error = "failed", f"{type(exc).__name__}: {exc}"
        except pa.ArrowInvalid as exc:
            result.outcome, result.error = "failed", f"GBIF's data could not be stored: {exc}"
        result.detail.update(requests=self.client.requests_sent, retries=self.client.retries)
        result.finished = dt.datetime.now(dt.UTC)
        return result

    # -- search ------------------------------------------------------------------------
    async def _search(self, query: GbifQuery, run_id: str, result: HarvestResult) -> int:
        params = query.search_params
        first = await self.client.search(params, limit=0, offset=0)
        count = int(first.get("count") or 0)
        result.detail["gbif_count"] = count
        limit_offset = constants.GBIF_SEARCH_MAX_OFFSET
        if count > limit_offset:
            raise HarvestError(
                f"GBIF query {self.query.name!r} matches {count:,} occurrences; occurrence "
                f"search pages through at most {constants.GBIF_SEARCH_MAX_OFFSET:,}. Set "
                f'method = "download" for this [[gbif]] query in node.toml, so GBIF\'s '
                "download service builds the file"
            )
        tmp = Path(tempfile.mkdtemp(prefix="fednode-gbif-", dir=self.store.tmp()))
        try:
            staging, seen, offset = _Staging(tmp), set[str](), 0
            while offset < count:
                # GBIF refuses a page reaching past its offset limit, even partly.
                limit = min(self.client.limits.search_page, limit_offset - offset)
                page = await self.client.search(params, limit=limit, offset=offset)
                results = page.get("results") or []
                # Offset paging over live data can repeat a record across pages.
                fresh = [r for r in results if _key(r) is None or _key(r) not in seen]
                seen.update(k for k in map(_key, fresh) if k is not None)
                if fresh:  # converted in a worker thread: the node keeps serving meanwhile
                    staging.add(await asyncio.to_thread(_page_records, fresh, run_id))
                offset += len(results)
                if page.get("endOfRecords") or not results:
                    break
            return await asyncio.to_thread(
                write_parquet_atomic, self.dest, _at_least_one(staging.tables(), run_id)
            )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    # -- download ----------------------------------------------------------------------
    def _pending_path(self) -> Path:
        return self.store.cache() / "gbif-downloads" / f"{self.query.name}.json"

    def _fingerprint(self, query: GbifQuery) -> str:
        text = json.dumps([query.download_predicate, self.download_format], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def _pending_key(self, query: GbifQuery) -> str | None:
        """A download requested by an earlier run for the same query: wait for it again."""
        try:
            pending = json.loads(self._pending_path().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return pending.get("key") if pending.get("query") == self._fingerprint(query) else None

    async def _download(self, query: GbifQuery, run_id: str, result: HarvestResult) -> int:
        if self.download_format not in DOWNLOAD_FORMATS:
            raise HarvestError(f"download format {self.download_format!r}: use {DOWNLOAD_FORMATS}")
        key = self._pending_key(query)
        if key is None:
            account = load_account(self.config.home)
            key = await self.client.request_download(
                query.download_predicate, self.download_format, account, query.checklist_key
            )
            log.info(
                "GBIF download %s requested for %s (%s)", key, self.source, self.download_format
            )
            pending = self._pending_path()
            pending.parent.mkdir(parents=True, exist_ok=True)
            pending.write_text(json.dumps({"key": key, "query": self._fingerprint(query)}))
        result.detail["download_key"] = key
        meta = await self._wait(key)
        result.detail["gbif_count"] = meta.get("totalRecords")
        link = meta.get("downloadLink") or self.client.url(f"occurrence/download/request/{key}")
        tmp = Path(tempfile.mkdtemp(prefix="fednode-gbif-", dir=self.store.tmp()))
        try:
            archive = tmp / f"{key}.zip"
            size = meta.get("size")
            await self.client.fetch_download(str(link), archive, int(size) if size else None)
            batches = _at_least_one(self._ingest(archive, tmp, run_id), run_id)
            rows = await asyncio.to_thread(write_parquet_atomic, self.dest, batches)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self._pending_path().unlink(missing_ok=True)
        return rows

    async def _wait(self, key: str) -> dict[str, Any]:
        limits = self.client.limits
        deadline = asyncio.get_running_loop().time() + limits.download_max_wait_s
        while True:
            try:
                meta = await self.client.download_status(key)
            except GbifRefused as exc:
                if exc.http_status in (404, 410):  # gone: the next run asks for a new one
                    self._pending_path().unlink(missing_ok=True)
                raise
            status = str(meta.get("status", ""))
            if status == "SUCCEEDED":
                return meta
            if status not in _WAITING:
                self._pending_path().unlink(missing_ok=True)
                raise HarvestError(f"GBIF download {key} ended {status or 'without a status'}")
            if asyncio.get_running_loop().time() >= deadline:
                raise HarvestError(
                    f"GBIF download {key} is still {status} after "
                    f"{limits.download_max_wait_s / 3600:g} h; the next run waits for it again"
                )
            await asyncio.sleep(limits.poll_interval_s)

    def _ingest(self, archive: Path, tmp: Path, run_id: str) -> Iterator[pa.Table]:
        """Stored-layout tables from a fetched download, streamed (runs in a worker thread).

        One download has one layout, so its batches go straight to the atomic writer.
        """
        if self.download_format == "DWCA":
            with open_archive(archive, workdir=tmp) as dwca:
                for batch in dwca.iter_batches():
                    yield stored_records(pa.Table.from_batches([batch]), run_id)
            return
        for part in _parquet_parts(archive, tmp / "unpacked"):
            parquet = pq.ParquetFile(part)
            for batch in parquet_batches(parquet, constants.GBIF_DOWNLOAD_BATCH_ROWS):
                yield stored_records(pa.Table.from_batches([batch]), run_id)


def _at_least_one(tables: Iterator[pa.Table], run_id: str) -> Iterator[pa.Table]:
    """A query that matches nothing still replaces the data: with an empty table."""
    empty = True
    for table in tables:
        empty = False
        yield table
    if empty:
        yield stored_records(pa.table({"gbifID": pa.array([], pa.string())}), run_id)


def _key(record: dict[str, Any]) -> str | None:
    key = record.get("key", record.get("gbifID"))
    return None if key is None else str(key)


def _parquet_parts(archive: Path, dest: Path) -> list[Path]:
    """The Parquet files of a SIMPLE_PARQUET zip, unpacked under the archive caps."""
    unpacked = safe_unpack(archive, dest)
    parts = []
    for path in sorted(p for p in unpacked.root.rglob("*") if p.is_file()):
        with unpacked.open_binary(path) as source:
            if source.read(4) != b"PAR1":
                continue
        if path in unpacked.lazy:  # a large member left in the zip: Parquet reads need seeks
            with unpacked.open_binary(path) as source, open(path, "wb") as out:
                shutil.copyfileobj(source, out, constants.UNPACK_CHUNK_BYTES)
        parts.append(path)
    if not parts:
        raise InvalidArchive(f"{archive.name}: no Parquet data in the SIMPLE_PARQUET download")
    return parts
