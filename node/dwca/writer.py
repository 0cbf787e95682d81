"""Write a Darwin Core archive from stored-layout tables, streaming, with flat memory.

The shape follows what the GBIF IPT writes, which GBIF reads: UTF-8, tab-separated, no
enclosure, one header line, `id`/`coreid` in column 0, tabs and line breaks inside values
replaced by spaces. Each batch becomes text with pyarrow.compute and goes straight into
the zip member, so memory depends on the batch size, never on the number of records.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import shutil
import tempfile
import uuid
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from node.core import constants
from node.core.background import Background
from node.core.errors import InvalidInput, InvalidSource
from node.core.licences import licence_url
from node.core.terms import (
    EVENT_ROW_TYPE,
    ID_TERM_FOR_ROW_TYPE,
    OCCURRENCE_ROW_TYPE,
    TAXON_ROW_TYPE,
    VERNACULAR_ROW_TYPE,
    short_name,
    term_uri,
)
from node.dwca.coverage import Coverage
from node.dwca.deflate import deflate_in_parallel
from node.dwca.digests import (
    DIGEST_SCHEMA,
    digests_of,
    names_per_record,
    signed_text,
    vernacular_names,
)
from node.dwca.extension_tables import CORE_KEY, ExtensionTable
from node.store.row_groups import RowGroupWriter
from node.store.store import parquet_batches

TEXT_NS = "http://rs.tdwg.org/dwc/text/"
METAFILE = "meta.xml"
METADATA_FILE = "eml.xml"
VERNACULAR_FILE = "vernacularname.txt"
VERNACULAR_PREFIX = "fed_vernacular_"
CORE_FILES = {
    OCCURRENCE_ROW_TYPE: "occurrence.txt",
    TAXON_ROW_TYPE: "taxon.txt",
    EVENT_ROW_TYPE: "event.txt",
}

# IPT's escapeChars: a line break inside a value would end the record for every reader.
_BREAKS = r"[\t\r\n]"
_VERNACULAR_COLUMNS = ("coreid", "vernacularName", "language")
_HASH_CHUNK = 1024**2


@dataclass(frozen=True)
class ArchiveStats:
    """What was written: counts per file, the zip's digest and size, and the coverage."""

    core_records: int
    extension_records: dict[str, int]
    sha256: str
    bytes: int
    coverage: Coverage
    columns: tuple[str, ...]
    # Digest of the extension files' text: a change there is a change of the data.
    extensions_sha256: str = ""

    @property
    def vernacular_records(self) -> int:
        return self.extension_records.get(VERNACULAR_ROW_TYPE, 0)


EmlSource = bytes | Callable[[Coverage], bytes]


def as_text(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A stored column as the text an archive carries; nulls stay null.

    Floats use Arrow's shortest round-trip form (so 23.4 stays "23.4" and 5.0 is "5"),
    dates ISO 8601, booleans true/false, lists joined with " | ".
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    kind = column.type
    if pa.types.is_dictionary(kind):
        return as_text(column.dictionary_decode())
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return column
    if pa.types.is_timestamp(kind):
        if kind.tz is not None:
            column = pc.cast(column, pa.timestamp(kind.unit, "UTC"))
            return pc.strftime(column, format="%Y-%m-%dT%H:%M:%SZ")
        return pc.strftime(column, format="%Y-%m-%dT%H:%M:%S")
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return pc.binary_join(pc.cast(column, pa.list_(pa.string())), " | ")
    if pa.types.is_boolean(kind):
        return pc.if_else(column, "true", "false")
    try:
        return pc.cast(column, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InvalidInput(f"cannot write a column of type {kind} as text ({exc})") from exc


def _clean(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    values = pc.fill_null(values, "")
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    # Looking is cheaper than replacing, and most columns have no line breaks.
    if _has_breaks(values):
        values = pc.replace_substring_regex(values, _BREAKS, " ")
    return values


def _has_breaks(values: pa.Array) -> bool:
    """Whether any value holds a tab or a line break.

    A byte search over the values' buffer runs at memchr speed, ~45x faster than a regex
    per value; in UTF-8 these bytes never occur inside another character.
    """
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return bool(pc.any(pc.match_substring_regex(values, _BREAKS)).as_py())
    data = bytes(_payload(values))
    return any(data.find(byte) >= 0 for byte in (b"\t", b"\n", b"\r"))


def _payload(lines: pa.Array) -> memoryview:
    """The bytes of a string array's values, back to back, without a Python copy."""
    width = 8 if pa.types.is_large_string(lines.type) else 4
    offsets = memoryview(lines.buffers()[1])

    def at(i: int) -> int:
        return int.from_bytes(offsets[i * width : (i + 1) * width], "little", signed=True)

    start, end = at(lines.offset), at(lines.offset + len(lines))
    return memoryview(lines.buffers()[2])[start:end] if end > start else memoryview(b"")


def _join_lines(columns: list[pa.Array]) -> tuple[pa.Array, memoryview]:
    """Rows as tab-joined lines, and the bytes to write (each line ending in "\\n")."""
    lines = pc.binary_join_element_wise(*columns, "\t")
    with_newline = pc.binary_join_element_wise(lines, "", "\n")
    return lines, _payload(with_newline)


class _CoreWriter:
    """Turns each table into core lines, extension rows, digests and coverage."""

    def __init__(self, schema: pa.Schema, id_term: str) -> None:
        names = [n for n in schema.names if not n.startswith("fed_") and n not in ("id", "coreid")]
        if id_term not in names:
            raise InvalidInput(
                f"the records have no {id_term} column: it becomes the archive's id, so "
                "every record needs one"
            )
        names.remove(id_term)
        self.licence_from_provenance = "fed_licence" in schema.names
        if self.licence_from_provenance and "license" not in names:
            names.append("license")
        self.id_term = id_term
        self.terms = [id_term, *names]
        self.header = "\t".join(["id", *self.terms]) + "\n"
        self.rows = 0

    def text_columns(self, table: pa.Table) -> list[pa.Array]:
        extra = sorted(
            n
            for n in table.column_names
            if not n.startswith("fed_") and n not in ("id", "coreid") and n not in self.terms
        )
        if extra:
            raise InvalidInput(
                f"records from row {self.rows + 1} on have column(s) {', '.join(extra)} that "
                "the first records lacked; an archive's columns are fixed by its header"
            )
        verbatim = table["fed_verbatim"] if "fed_verbatim" in table.column_names else None
        if verbatim is not None and verbatim.null_count == len(verbatim):
            verbatim = None
        licence = self._licence(table)
        columns = []
        for term in self.terms:
            if term in table.column_names:
                values = as_text(table[term])
                typed = not pa.types.is_string(table.schema.field(term).type)
                if typed and verbatim is not None:
                    # A value that failed its cast is null here; publish its verbatim text.
                    kept = pc.map_lookup(verbatim, pa.scalar(term), "first")
                    values = pc.coalesce(values, kept)
                if term == "license" and licence is not None:
                    empty = pc.fill_null(pc.equal(values, ""), True)
                    values = pc.if_else(empty, licence, values)
            elif term == "license" and licence is not None:
                values = licence
            else:
                values = pa.nulls(table.num_rows, pa.string())
            columns.append(_clean(values))
        return columns

    def _licence(self, table: pa.Table) -> pa.Array | None:
        if "fed_licence" not in table.column_names:
            return None
        encoded = pc.dictionary_encode(as_text(table["fed_licence"]))
        urls = [licence_url(v) if v else None for v in encoded.dictionary.to_pylist()]
        return pc.take(pa.array(urls, pa.string()), encoded.indices)

    def check_ids(self, ids: pa.Array) -> None:
        empty = pc.equal(pc.utf8_trim_whitespace(ids), "")
        if pc.any(empty).as_py():
            rows = [self.rows + i + 1 for i in pc.indices_nonzero(empty).to_pylist()[:5]]
            raise InvalidSource(
                f"{self.id_term} is empty in record(s) {', '.join(map(str, rows))}"
                f"{' and more' if pc.sum(empty).as_py() > len(rows) else ''}: every published "
                "record needs a unique identifier (GBIF rejects archives without one)"
            )


def _vernacular(table: pa.Table) -> dict[str, tuple[pa.Array, pa.Array, pa.Array]]:
    """Per language, from `fed_vernacular_<lang>`: (names as published, owner rows, offsets)."""
    found = {}
    for column in sorted(table.column_names):
        if not column.startswith(VERNACULAR_PREFIX) or len(column) == len(VERNACULAR_PREFIX):
            continue
        names, owners, offsets = vernacular_names(as_text(table[column]))
        found[column[len(VERNACULAR_PREFIX) :]] = (_clean(names), owners, offsets)
    return found


def _vernacular_lines(
    found: dict[str, tuple[pa.Array, pa.Array, pa.Array]], ids: pa.Array
) -> tuple[bytes | memoryview, int]:
    """Extension rows (coreid, vernacularName, language), from `_vernacular`'s names."""
    parts: list[pa.Table] = []
    for lang, (names, owners, _) in found.items():
        language = pa.array([lang] * len(names), pa.string())
        parts.append(pa.table([pc.take(ids, owners), names, language], names=_VERNACULAR_COLUMNS))
    rows = pa.concat_tables(parts) if parts else None
    if rows is None or not rows.num_rows:
        return b"", 0
    _, payload = _join_lines([rows[c].combine_chunks() for c in _VERNACULAR_COLUMNS])
    return payload, rows.num_rows


def _meta_xml(
    row_type: str,
    core_file: str,
    terms: list[str],
    with_vernacular: bool,
    extensions: Sequence[tuple[str, str, list[str]]] = (),
) -> bytes:
    archive = ET.Element("archive", {"xmlns": TEXT_NS, "metadata": METADATA_FILE})

    def data_file(
        tag: str, rtype: str, location: str, key: str, fields: list[str], uris: bool = False
    ) -> None:
        element = ET.SubElement(
            archive,
            tag,
            {
                "encoding": "UTF-8",
                "fieldsTerminatedBy": "\\t",
                "linesTerminatedBy": "\\n",
                "fieldsEnclosedBy": "",
                "ignoreHeaderLines": "1",
                "dateFormat": "YYYY-MM-DD",
                "rowType": rtype,
            },
        )
        ET.SubElement(ET.SubElement(element, "files"), "location").text = location
        ET.SubElement(element, key, {"index": "0"})
        for index, term in enumerate(fields, start=1):
            uri = term if uris else term_uri(term)
            ET.SubElement(element, "field", {"index": str(index), "term": uri})

    data_file("core", row_type, core_file, "id", terms)
    if with_vernacular:
        data_file(
            "extension",
            VERNACULAR_ROW_TYPE,
            VERNACULAR_FILE,
            "coreid",
            ["vernacularName", "language"],
        )
    for rtype, location, uris in extensions:
        data_file("extension", rtype, location, "coreid", uris, uris=True)
    ET.indent(archive)
    return ET.tostring(archive, encoding="utf-8", xml_declaration=True) + b"\n"


def _member(name: str, when: dt.datetime) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=when.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_archive(
    dest: Path,
    core: Iterable[pa.Table | pa.RecordBatch],
    row_type: str,
    eml_xml: EmlSource,
    id_term: str | None = None,
    *,
    digests_path: Path | None = None,
    modified: dt.datetime | None = None,
    extensions: Sequence[ExtensionTable] = (),
) -> ArchiveStats:
    """Stream stored-layout tables into a DwC-A zip at `dest`, atomically.

    Args:
        eml_xml: the EML document, or a function of the data's coverage that returns it
            (called after the data is written, so the EML can describe it).
        id_term: the term copied into the `id` column; by default the row type's
            (occurrenceID, taxonID, eventID).
        digests_path: if given, a Parquet file of (id, digest) per core record is written
            there before `eml_xml` is called, for comparing versions.
        modified: timestamp of the zip members; the same data and time give the same bytes.
        extensions: stored extension tables, each written whole as its own data file. A
            VernacularName table replaces the names folded into `fed_vernacular_*`.
    """
    dest = Path(dest)
    id_term = id_term or ID_TERM_FOR_ROW_TYPE.get(row_type)
    if not id_term:
        raise InvalidInput(f"no id term known for row type {row_type}; pass id_term")
    core_file = CORE_FILES.get(row_type, short_name(row_type).lower() + ".txt")
    when = (modified or dt.datetime.now()).replace(tzinfo=None)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex[:12]}.tmp"
    coverage = Coverage()
    digests: RowGroupWriter | None = None
    vernacular_rows = 0
    fold_vernacular = not any(e.row_type == VERNACULAR_ROW_TYPE for e in extensions)
    extension_rows: dict[str, int] = {}
    extension_digest = hashlib.sha256()
    declared: list[tuple[str, str, list[str]]] = []
    try:
        with (
            zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive,
            tempfile.TemporaryFile(dir=dest.parent) as vernacular,
        ):
            if digests_path is not None:
                digests = RowGroupWriter(digests_path, DIGEST_SCHEMA)
            writer: _CoreWriter | None = None
            with archive.open(_member(core_file, when), "w", force_zip64=True) as member:
                deflate_in_parallel(member, level=6)
                # zlib releases the GIL: compressing one batch overlaps with the next.
                out: Background[memoryview | bytes] = Background(member.write, "dwca-zip")
                try:
                    for table in core:
                        if isinstance(table, pa.RecordBatch):
                            table = pa.Table.from_batches([table])
                        if writer is None:
                            writer = _CoreWriter(table.schema, id_term)
                            out.put(writer.header.encode("utf-8"))
                        vernacular_rows += _write_table(
                            table, writer, out, vernacular, digests, coverage, fold_vernacular
                        )
                except BaseException:
                    out.close(check=False)  # the first error is the one to report
                    raise
                out.close()
                if writer is None:
                    raise InvalidInput("no records: an archive needs a core schema at least")
            if digests is not None:
                digests.close()
                digests = None
            if vernacular_rows:
                vernacular.seek(0)
                with archive.open(_member(VERNACULAR_FILE, when), "w", force_zip64=True) as ext:
                    ext.write(("\t".join(_VERNACULAR_COLUMNS) + "\n").encode("utf-8"))
                    shutil.copyfileobj(vernacular, ext, _HASH_CHUNK)
            taken = {core_file, VERNACULAR_FILE} if vernacular_rows else {core_file}
            for table in extensions:
                name = _unique_name(table.file_name, taken)
                rows = _write_extension(archive, _member(name, when), table, extension_digest)
                extension_rows[table.row_type] = extension_rows.get(table.row_type, 0) + rows
                declared.append((table.row_type, name, [uri for _, uri in table.terms]))
            document = eml_xml(coverage) if callable(eml_xml) else eml_xml
            archive.writestr(_member(METADATA_FILE, when), document)
            meta = _meta_xml(row_type, core_file, writer.terms, vernacular_rows > 0, declared)
            archive.writestr(_member(METAFILE, when), meta)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        sha256 = _sha256(tmp)
        size = tmp.stat().st_size
        os.replace(tmp, dest)
    except BaseException:
        if digests is not None:
            with contextlib.suppress(Exception):
                digests.close()
        tmp.unlink(missing_ok=True)
        raise
    if vernacular_rows:
        extension_rows[VERNACULAR_ROW_TYPE] = vernacular_rows
    return ArchiveStats(
        core_records=writer.rows,
        extension_records=extension_rows,
        sha256=sha256,
        bytes=size,
        coverage=coverage,
        columns=("id", *writer.terms),
        extensions_sha256=extension_digest.hexdigest() if extensions else "",
    )


def _unique_name(name: str, taken: set[str]) -> str:
    stem, number, found = name.removesuffix(".txt"), 2, name
    while found in taken:
        found = f"{stem}-{number}.txt"
        number += 1
    taken.add(found)
    return found


def _write_extension(
    archive: zipfile.ZipFile, member: zipfile.ZipInfo, table: ExtensionTable, digest: Any
) -> int:
    """One stored extension as a data file: `coreid` then its terms, IPT's dialect."""
    rows = 0
    header = ("\t".join([CORE_KEY, *(c for c, _ in table.terms)]) + "\n").encode("utf-8")
    digest.update(member.filename.encode("utf-8") + b"\0" + header)
    with archive.open(member, "w", force_zip64=True) as out:
        out.write(header)
        source = pq.ParquetFile(table.path)
        for batch in parquet_batches(source, constants.ARCHIVE_BATCH_ROWS):
            if not batch.num_rows:
                continue
            columns = [_clean(as_text(batch.column(i))) for i in range(batch.num_columns)]
            _, payload = _join_lines(columns)
            out.write(payload)
            digest.update(payload)
            rows += batch.num_rows
    return rows


def _write_table(
    table: pa.Table,
    writer: _CoreWriter,
    out: Background[memoryview | bytes],
    vernacular: IO[bytes],
    digests: RowGroupWriter | None,
    coverage: Coverage,
    fold_vernacular: bool = True,
) -> int:
    """Write one table's core lines and extension rows; return the extension rows."""
    if not table.num_rows:
        return 0
    columns = writer.text_columns(table)
    ids = columns[0]
    writer.check_ids(ids)
    lines, payload = _join_lines([ids, *columns])
    out.put(payload)
    found = _vernacular(table) if fold_vernacular else {}
    extension, count = _vernacular_lines(found, ids)
    if count:
        vernacular.write(extension)
    if digests is not None:
        # Vernacular names are part of what a record publishes, so they count as a change.
        per_record = {lang: names_per_record(n, offsets) for lang, (n, _, offsets) in found.items()}
        signed = signed_text(lines, per_record)
        digests.write_table(pa.table([ids, digests_of(signed)], schema=DIGEST_SCHEMA))
    coverage.add(table)
    writer.rows += table.num_rows
    return count
