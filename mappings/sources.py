"""Read an institution's own file (CSV/TSV, XLSX or a DwC-A) as mapped Arrow batches.

Chinese institutions export GB18030, Vietnamese ones windows-1258 or UTF-8 with a BOM, and
nobody agrees on delimiters; so the encoding is detected (charset-normalizer) unless
declared, the delimiter and header row are sniffed, and both are reported so a person can
correct them. CSV is streamed by `pyarrow.csv` (memory stays flat); XLSX goes through
openpyxl's read-only mode in batches; archives through `node.dwca.reader`.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import tarfile
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from charset_normalizer import from_bytes

from mappings.columns import (
    VERNACULAR_PREFIX,
    VERNACULAR_SEPARATOR,
    ColumnMapping,
    auto_mapping,
    load_mapping,
    term_for_column,
)
from node.core import constants
from node.core.composed import nfc
from node.core.errors import InvalidSource
from node.core.terms import ID_TERM_FOR_ROW_TYPE, VERNACULAR_ROW_TYPE
from node.dwca.extension_tables import ExtensionTable, extract_extensions
from node.dwca.reader import SKIPPED_ROW, DwcArchive, RowProblem, open_archive
from node.dwca.unpack import HTML_REASON, looks_like_html
from node.store.regroup import regrouped_numbered

DELIMITERS = (",", "\t", ";", "|")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
ID_TERM_FOR_TYPE = {"occurrence": "occurrenceID", "checklist": "taxonID"}
# charset-normalizer names the GB family by the smallest fitting member; GB18030 decodes all.
_ENCODING_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "hz": "gb18030"}
_LANGUAGE_CODES = {
    "zh": ("zh", "zho", "chi", "chinese", "中文"),
    "vi": ("vi", "vie", "vietnamese", "tiếng việt"),
    "en": ("en", "eng", "english"),
}


class Source:
    """One source file, opened: its columns, how it is read, and the rows it could not use."""

    kind = "csv"

    def __init__(
        self, path: Path, mapping: ColumnMapping | None, dataset_type: str, dataset_id: str
    ) -> None:
        self.path = path
        self.dataset_type = dataset_type
        self.dataset_id = dataset_id
        self.id_term = ID_TERM_FOR_TYPE.get(dataset_type, "occurrenceID")
        self.problems: list[RowProblem] = []
        self.notes: list[str] = []
        self.columns: list[str] = []
        self.encoding: str | None = None
        self.encoding_detected = False
        self.encoding_reason = ""
        # Where an archive is unpacked: a harvest passes its own folder under the node's
        # store/tmp, so a killed run leaves nothing in the system temp folder.
        self.workdir: Path | None = None
        self.delimiter: str | None = None
        self._given = mapping
        self.mapping = mapping or ColumnMapping()

    def _bind(self, columns: list[str]) -> None:
        self.columns = columns
        base = self._given if self._given is not None else auto_mapping(columns)
        self.mapping = base.resolve(columns, id_term=self.id_term)

    @property
    def unmapped_columns(self) -> list[str]:
        return self.mapping.unmapped(self.columns)

    def describe(self) -> str:
        parts = [f"{self.path.name}: {self.kind.upper()}"]
        if self.encoding:
            parts.append(f"encoding {self.encoding} ({self.encoding_reason})")
        if self.delimiter:
            parts.append(f"delimiter {self.delimiter!r}")
        parts.append(f"{len(self.columns)} columns")
        return ", ".join(parts)

    def raw_batches(self) -> Iterator[tuple[pa.Array, pa.Table]]:
        """(line of each row, verbatim text columns named by the source's headers).

        Lines count records as pyarrow does: a quoted value spanning lines counts once and
        blank lines not at all, so they match the lines of skipped rows in `problems`.
        """
        raise NotImplementedError

    def numbered_batches(self) -> Iterator[tuple[pa.Array, pa.Table]]:
        """(line of each row, mapped batch): what validation reports problems against."""
        for lines, raw in regrouped_numbered(self.raw_batches()):
            table = _nfc(raw)
            mapped = self.mapping.apply(
                table, id_term=self.id_term, dataset_id=self.dataset_id, lines=lines
            )
            yield lines, mapped

    def batches(self) -> Iterator[pa.Table]:
        """Mapped batches: text columns named by short DwC terms, plus fed_vernacular_*."""
        for _, table in self.numbered_batches():
            yield table


# -- CSV ----------------------------------------------------------------------------------
class CsvSource(Source):
    kind = "csv"

    def open(self, encoding: str | None) -> CsvSource:
        self.encoding, self.encoding_detected, reason = detect_encoding(
            self.path, encoding or self.mapping.encoding
        )
        self.encoding_reason = f"detected: {reason}" if self.encoding_detected else reason
        head = _head_text(self.path, self.encoding)
        if looks_like_html(head.encode("utf-8", "replace")):
            raise InvalidSource(f"{self.path.name}: {HTML_REASON}")
        try:
            self.delimiter, self._header_index, header = _sniff(head, self.mapping.delimiter)
        except InvalidSource as exc:
            raise InvalidSource(f"{self.path.name}: {exc.detail}") from exc
        if self._header_index:
            self.notes.append(
                f"{self.path.name}: skipped {self._header_index} line(s) above the header row"
            )
        self._bind(_unique_headers(header, self.path.name, self.notes))
        return self

    def raw_batches(self) -> Iterator[tuple[pa.Array, pa.Table]]:
        name = self.path.name
        skipped: list[int] = []
        self.problems = []

        def on_invalid(row: pacsv.InvalidRow) -> str:
            skipped.append(row.number or 0)
            self.problems.append(
                RowProblem(
                    name,
                    row.number,
                    SKIPPED_ROW,
                    f"has {row.actual_columns} columns, expected {row.expected_columns}; "
                    "the row is skipped",
                )
            )
            return "skip"

        encoding = self.encoding or "utf-8"
        codec = codecs.lookup(encoding).name
        read_options = pacsv.ReadOptions(
            column_names=self.columns,
            skip_rows=self._header_index + 1,
            encoding="utf8" if codec == "utf-8" else codec,
            block_size=constants.CSV_BLOCK_BYTES,
            # Serial parsing is what gives exact line numbers for skipped rows.
            use_threads=False,
        )
        parse_options = pacsv.ParseOptions(
            delimiter=self.delimiter or ",",
            quote_char='"',
            double_quote=True,
            newlines_in_values=True,
            ignore_empty_lines=True,
            invalid_row_handler=on_invalid,
        )
        convert_options = pacsv.ConvertOptions(
            column_types={c: pa.string() for c in self.columns},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            null_values=[],
            check_utf8=True,
        )
        next_line = self._header_index + 2
        try:
            reader = pacsv.open_csv(self.path, read_options, parse_options, convert_options)
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                table = pa.Table.from_batches([batch])
                lines = _lines(next_line, table.num_rows, skipped)
                next_line = (lines[-1].as_py() + 1) if len(lines) else next_line
                # Rows skipped past this batch (parsed ahead) shift the next one.
                skipped[:] = [b for b in skipped if b >= next_line]
                yield lines, table
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise self._read_error(exc) from exc

    def _read_error(self, exc: Exception) -> InvalidSource:
        line = _undecodable_line(self.path, self.encoding or "utf-8")
        how = "detected" if self.encoding_detected else "declared"
        if line is not None:
            number, sample = line
            return InvalidSource(
                f"{self.path.name} line {number}: not valid {self.encoding} text ({how}) near "
                f"{sample!r}; declare the file's encoding ([source] encoding in the mapping)"
            )
        return InvalidSource(f"{self.path.name}: cannot parse ({exc})")


def detect_encoding(path: Path, declared: str | None = None) -> tuple[str, bool, str]:
    """(encoding, detected?, why): the declared one if any, else a BOM, UTF-8 or a guess."""
    if declared:
        try:
            return codecs.lookup(declared).name, False, "declared"
        except LookupError as exc:
            raise InvalidSource(f"{path.name}: unknown encoding {declared!r}") from exc
    with open(path, "rb") as handle:
        head = handle.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8", True, "UTF-8 byte order mark"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16", True, "UTF-16 byte order mark"
        handle.seek(0)
        sample = _non_ascii_sample(handle)
    if sample is None:
        return "utf-8", True, "ASCII only"
    text = sample.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    if bad == 0:
        return "utf-8", True, "valid UTF-8"
    # Text in another encoding seldom forms valid UTF-8 sequences; many valid ones around a
    # few broken bytes means a damaged UTF-8 file, which the read then reports by line.
    if len(re.findall(r"[^\x00-\x7f]", text)) - bad >= 4 * bad:
        return "utf-8", True, f"UTF-8, with {bad} undecodable byte(s) in the sample"
    best = from_bytes(sample).best()
    if (best is None or not _is_gb(best.encoding)) and _gb2312_pairs(sample):
        return "gb18030", True, "GB2312 double-byte text (declare the encoding if not Chinese)"
    if best is None:
        raise InvalidSource(
            f"{path.name}: cannot tell the text encoding; declare it ([source] encoding in "
            "the mapping, e.g. gb18030, windows-1258, utf-8)"
        )
    name = codecs.lookup(best.encoding).name
    name = _ENCODING_ALIASES.get(name, name)
    language = f", {best.language}" if best.language and best.language != "Unknown" else ""
    return name, True, f"charset-normalizer{language}"


def _is_gb(encoding: str) -> bool:
    name = codecs.lookup(encoding).name
    return _ENCODING_ALIASES.get(name, name) == "gb18030"


def _gb2312_pairs(sample: bytes) -> bool:
    """Every non-ASCII run is whole pairs of bytes 0xA1-0xFE that decode as GB18030.

    charset-normalizer needs more text than a few Chinese cells among Latin names (a
    collector, a locality) give it, and then guesses big5, cp949 or cp850: the names would
    publish as mojibake. Text in windows-1258 or another single-byte encoding leaves odd
    runs next to ASCII letters; the EUC encodings of Korean and Japanese share this shape,
    but this node's files come from Chinese and Vietnamese institutions, and a declared
    encoding always wins.
    """
    runs = re.findall(rb"[\x80-\xff]+", sample)
    if not runs or any(len(r) % 2 or re.search(rb"[\x80-\xa0\xff]", r) for r in runs):
        return False
    try:
        sample.decode("gb18030")
    except UnicodeDecodeError:
        return False
    return True


def _non_ascii_sample(handle: io.BufferedReader) -> bytes | None:
    """Lines around the first non-ASCII byte: ASCII headers tell an encoder nothing."""
    offset = 0
    tail = b""
    while offset < constants.ENCODING_SCAN_BYTES:
        chunk = handle.read(constants.UNPACK_CHUNK_BYTES)
        if not chunk:
            return None
        # bytes.isascii runs at memory speed; the regex only locates the byte in a chunk
        # known to hold one (a large ASCII file is scanned whole).
        found = None if chunk.isascii() else re.search(rb"[\x80-\xff]", chunk)
        if found:
            data = tail + chunk
            start = data.rfind(b"\n", 0, len(tail) + found.start()) + 1
            data = data[start:] + handle.read(constants.ENCODING_SAMPLE_BYTES)
            data = data[: constants.ENCODING_SAMPLE_BYTES]
            end = data.rfind(b"\n")
            return data[: end + 1] if end > 0 else data
        tail = chunk[chunk.rfind(b"\n") + 1 :]
        offset += len(chunk)
    return None


def _head_text(path: Path, encoding: str) -> str:
    with open(path, "rb") as handle:
        raw = handle.read(constants.ENCODING_SAMPLE_BYTES)
    text = raw.decode(encoding, errors="replace").lstrip("\ufeff")
    # Drop the last, possibly cut, line.
    return text[: text.rfind("\n") + 1] if "\n" in text else text


def _sniff(text: str, declared: str | None) -> tuple[str, int, list[str]]:
    """(delimiter, header row index, header): the delimiter giving the most consistent rows."""
    if declared in ("tab", "\\t"):
        declared = "\t"
    candidates = (declared,) if declared else DELIMITERS
    best: tuple[tuple[bool, float, int], str, list[list[str]]] | None = None
    for delimiter in candidates:
        try:
            rows = list(_first_rows(text, delimiter))
        except csv.Error:
            continue
        widths = [len(r) for r in rows if any(c.strip() for c in r)]
        if not widths:
            continue
        width = max(set(widths), key=widths.count)
        # A delimiter that splits nothing is consistent too; prefer one that splits.
        score = (width > 1, widths.count(width) / len(widths), width)
        if best is None or score > best[0]:
            best = (score, delimiter, rows)
    if best is None:
        raise InvalidSource("the file is empty or has no header row")
    (_, _, width), delimiter, rows = best
    first = next(i for i, r in enumerate(rows) if any(c.strip() for c in r))
    if _names_terms(rows[first]):
        # The first line names Darwin Core terms: it is the header, whatever the width
        # of later rows (trailing empty cells are common); no preamble is guessed.
        return delimiter, first, rows[first]
    # Title lines above the header (export banners) have fewer cells than the data.
    index = next(i for i, r in enumerate(rows) if len(r) == width or (width == 1 and any(r)))
    return delimiter, index, rows[index]


def _names_terms(row: list[str]) -> bool:
    """At least two cells, and half of the non-empty ones, are Darwin Core term names."""
    cells = [c for c in row if c.strip()]
    named = sum(1 for c in cells if term_for_column(c) is not None)
    return named >= 2 and named * 2 >= len(cells)


def _first_rows(text: str, delimiter: str) -> Iterator[list[str]]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, quotechar='"')
    for number, row in enumerate(reader):
        if number >= constants.SNIFF_ROWS:
            return
        yield row


def _unique_headers(header: list[str], name: str, notes: list[str]) -> list[str]:
    columns: list[str] = []
    for i, raw in enumerate(header):
        column = unicodedata.normalize("NFC", raw.strip().lstrip("\ufeff")) or f"column_{i + 1}"
        if column in columns:
            renamed = f"{column}_{i + 1}"
            notes.append(f"{name}: column {column!r} appears twice; the second is {renamed!r}")
            column = renamed
        columns.append(column)
    return columns


def _lines(first: int, count: int, skipped: list[int]) -> pa.Array:
    """Each row's line, stepping over rows the parser skipped."""
    lines = list(range(first, first + count)) if skipped else None
    if lines is None:
        return pa.array(np.arange(first, first + count, dtype=np.int64))
    for bad in sorted(skipped):
        lines = [n + 1 if n >= bad else n for n in lines]
    return pa.array(lines, pa.int64())


def _nfc(table: pa.Table) -> pa.Table:
    """Compose combining marks: windows-1258 spells Vietnamese tones that way, and so do
    files typed on macOS; a value must read the same however it was typed."""
    return pa.table({c: nfc(table.column(c)) for c in table.column_names})


def _undecodable_line(path: Path, encoding: str) -> tuple[int, bytes] | None:
    """The first line that does not decode: ASCII-compatible encodings never put a byte 0x0A
    inside a multi-byte character, so splitting bytes on newlines is safe."""
    if codecs.lookup(encoding).name.startswith("utf-16"):
        return None
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode(encoding)
            except UnicodeDecodeError as exc:
                return number, line[max(0, exc.start - 12) : exc.end + 12]
    return None


# -- XLSX ---------------------------------------------------------------------------------
class XlsxSource(Source):
    kind = "xlsx"

    def open(self, sheet: str | None) -> XlsxSource:
        book = self._workbook()
        try:
            wanted = sheet or self.mapping.sheet
            if wanted and wanted not in book.sheetnames:
                raise InvalidSource(
                    f"{self.path.name}: no sheet {wanted!r}; sheets: {', '.join(book.sheetnames)}"
                )
            self.sheet = wanted or book.sheetnames[0]
            rows = book[self.sheet].iter_rows(max_row=constants.SNIFF_ROWS, values_only=True)
            head = list(rows)
        finally:
            book.close()
        self.notes.append(f"{self.path.name}: reading sheet {self.sheet!r}")
        counts = [sum(v is not None and str(v).strip() != "" for v in row) for row in head]
        if not counts or max(counts) == 0:
            raise InvalidSource(f"{self.path.name}: sheet {self.sheet!r} is empty")
        self._header_row = counts.index(max(counts)) + 1
        header = [_cell_text(v) for v in head[self._header_row - 1]]
        while header and not header[-1]:
            header.pop()
        self._bind(_unique_headers(header, self.path.name, self.notes))
        return self

    def _workbook(self) -> Any:
        import openpyxl

        try:
            return openpyxl.load_workbook(self.path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises zipfile, KeyError and its own errors
            raise InvalidSource(f"{self.path.name}: not a readable XLSX workbook ({exc})") from exc

    def raw_batches(self) -> Iterator[tuple[pa.Array, pa.Table]]:
        book = self._workbook()
        self.problems = []
        width = len(self.columns)
        rows: list[list[str]] = []
        lines: list[int] = []
        start = self._header_row + 1
        try:
            for number, values in enumerate(
                book[self.sheet].iter_rows(min_row=start, values_only=True), start=start
            ):
                cells = [_cell_text(v) for v in values]
                if not any(cells):
                    continue
                if any(cells[width:]):
                    self.problems.append(
                        RowProblem(
                            self.path.name,
                            number,
                            "extra_cells",  # the row is kept
                            f"has values beyond the {width} header columns; they are ignored",
                        )
                    )
                rows.append((cells + [""] * width)[:width])
                lines.append(number)
                if len(rows) >= constants.XLSX_BATCH_ROWS:
                    yield _rows_table(rows, lines, self.columns)
                    rows, lines = [], []
            if rows:
                yield _rows_table(rows, lines, self.columns)
        finally:
            book.close()


def _rows_table(
    rows: list[list[str]], lines: list[int], columns: list[str]
) -> tuple[pa.Array, pa.Table]:
    arrays = {c: pa.array([r[i] for r in rows], pa.string()) for i, c in enumerate(columns)}
    return pa.array(lines, pa.int64()), pa.table(arrays)


def _cell_text(value: object) -> str:
    """Spreadsheet cells as the text a person sees: 12 not 12.0, dates in ISO 8601.

    Excel shows at most 15 significant digits but stores formula results with binary noise
    (=100*0.07 is 7.000000000000001): rounding to 15 digits gives back what the sheet shows.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        value = float(f"{value:.15g}")
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value).strip()


# -- Darwin Core archives -----------------------------------------------------------------
class ArchiveSource(Source):
    """An existing DwC-A: the core's columns are already terms; vernacular names fold in."""

    kind = "dwca"
    # The core's row type when it is one the node publishes (Occurrence, Taxon, Event).
    row_type: str | None = None

    def open(self) -> ArchiveSource:
        with open_archive(self.path, self.workdir) as archive:
            core = archive.core
            self.columns = list(core.columns)
            if core.row_type in ID_TERM_FOR_ROW_TYPE:
                self.id_term = ID_TERM_FOR_ROW_TYPE[core.row_type]
                self.row_type = core.row_type
            self._header_lines = core.descriptor.lines_to_ignore
        base = self._given if self._given is not None else auto_mapping(self.columns)
        mapped = {t for terms in base.columns.values() for t in terms}
        if "id" in self.columns and not (
            base.id_column or base.id_generate or self.id_term in mapped
        ):
            # The core `id` column is the record identifier (text guide): name it.
            base = replace(base, id_column="id")
        self._given = base
        self._bind(self.columns)
        if self._given is not None and self._given.auto:
            self.mapping = _keeping_every_column(self.mapping, self.columns)
        return self

    def extract_extensions(self, folder: Path) -> list[ExtensionTable]:
        """Every extension of the archive, stored whole in `folder` (see extension_tables)."""
        with open_archive(self.path, self.workdir) as archive:
            return extract_extensions(archive, folder, self.id_term)

    def numbered_batches(self) -> Iterator[tuple[pa.Array, pa.Table]]:
        with open_archive(self.path, self.workdir) as archive:
            self.problems = archive.problems
            vernacular = _vernacular_lookup(archive)
            first = self._header_lines + 1
            for batch in archive.iter_batches():
                lines = pa.array(range(first, first + batch.num_rows), pa.int64())
                first += batch.num_rows
                keys = batch.column(0)
                table = self.mapping.apply(
                    pa.table(batch), id_term=self.id_term, dataset_id=self.dataset_id, lines=lines
                )
                for language, (ids, names) in vernacular.items():
                    position = pc.index_in(keys, value_set=ids)
                    table = table.append_column(
                        VERNACULAR_PREFIX + language, pc.take(names, position).fill_null("")
                    )
                yield lines, table


def _keeping_every_column(mapping: ColumnMapping, columns: list[str]) -> ColumnMapping:
    """An archive's columns are terms already, Darwin Core or not (`threatStatus`, an
    institution's own): each one not mapped keeps its name, so republishing drops nothing."""
    used = set(mapping.columns) | {v.column for v in mapping.vernacular}
    taken = {t for terms in mapping.columns.values() for t in terms} | set(mapping.constants)
    if mapping.id_column:
        used.add(mapping.id_column)
    extra = {
        c: (c,) for c in columns if c not in used and c not in taken and not c.startswith("fed_")
    }
    return replace(mapping, columns={**mapping.columns, **extra}) if extra else mapping


def _language(code: str) -> str | None:
    text = code.strip().lower()
    first = re.split(r"[-_ ]", text)[0] if text else ""
    for language, codes in _LANGUAGE_CODES.items():
        if text in codes or first in codes:
            return language
    return None


def _vernacular_lookup(archive: DwcArchive) -> dict[str, tuple[pa.Array, pa.Array]]:
    """language -> (core ids, names joined by " | ") from the VernacularName extension."""
    extension = archive.extension(VERNACULAR_ROW_TYPE)
    if extension is None or "vernacularName" not in extension.columns:
        return {}
    table = archive.read_table(extension)
    if "language" not in table.column_names or table.num_rows == 0:
        return {}
    codes = pc.dictionary_encode(table.column("language").combine_chunks())
    mapped = pa.array([_language(c or "") for c in codes.dictionary.to_pylist()], pa.string())
    table = pa.table(
        {
            "coreid": table.column(0),
            "language": pc.take(mapped, codes.indices),
            "name": pc.utf8_trim_whitespace(table.column("vernacularName")),
        }
    ).filter(pc.field("language").is_valid() & (pc.field("name") != ""))
    grouped = table.group_by(["coreid", "language"], use_threads=False).aggregate(
        [("name", "distinct")]
    )
    found = {}
    for language in ("zh", "vi", "en"):
        rows = grouped.filter(pc.field("language") == language)
        if rows.num_rows:
            names = pc.binary_join(rows.column("name_distinct"), VERNACULAR_SEPARATOR)
            found[language] = (rows.column("coreid").combine_chunks(), names.combine_chunks())
    return found


# -- entry point --------------------------------------------------------------------------
def open_source(
    path: Path | str,
    mapping: ColumnMapping | Path | str | None = None,
    encoding: str | None = None,
    dataset_type: str = "occurrence",
    *,
    dataset_id: str | None = None,
    sheet: str | None = None,
    workdir: Path | None = None,
) -> Source:
    """Open a CSV/TSV, XLSX or DwC-A for mapped, streamed reading.

    Args:
        mapping: a mapping, a mapping file, or None to map columns named like terms.
        encoding: the file's encoding when known; else the mapping's, else detected.
        dataset_id: prefix of generated ids (`[id] generate = "line"`); default file stem.
        workdir: the folder an archive is unpacked in (default: the system's temp folder).
    """
    path = Path(path)
    if not path.exists():
        raise InvalidSource(f"{path}: no such file")
    if isinstance(mapping, str | Path):
        mapping = load_mapping(mapping)
    dataset_id = dataset_id or path.stem
    suffix = path.suffix.lower()
    if suffix in XLSX_SUFFIXES:
        return XlsxSource(path, mapping, dataset_type, dataset_id).open(sheet)
    if suffix == ".xls":
        raise InvalidSource(f"{path.name}: old Excel format; save it as .xlsx or CSV")
    archive_name = suffix in (".zip", ".tgz") or path.name.lower().endswith(".tar.gz")
    if path.is_dir() or archive_name or is_container(path):
        source = ArchiveSource(path, mapping, dataset_type, dataset_id)
        source.workdir = workdir
        return source.open()
    return CsvSource(path, mapping, dataset_type, dataset_id).open(encoding)


def is_container(path: Path) -> bool:
    """A zip or tar file, whatever its name says."""
    return zipfile.is_zipfile(path) or tarfile.is_tarfile(path)
