"""Stream any Darwin Core archive into Arrow record batches with flat memory.

The archive is unpacked by `unpack.safe_unpack` (caps enforced), described by `meta`
(python-dwca-reader's descriptors), and each data file is parsed by `pyarrow.csv.open_csv`
with the dialect meta.xml gives. Every value is text, as written (the verbatim value);
typing happens later in `node.store.records`.
"""

from __future__ import annotations

import codecs
import csv
import io
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from node.core import constants
from node.core.errors import InvalidArchive
from node.core.terms import short_name
from node.dwca.meta import ArchiveLayout, DataFile, describe
from node.dwca.unpack import safe_unpack

# RowProblem.kind of a row left out for its column count (others keep the row).
SKIPPED_ROW = "column_count"


@dataclass(frozen=True)
class RowProblem:
    """A data row the reader could not use, with where it is."""

    file: str
    line: int | None
    kind: str
    detail: str

    def __str__(self) -> str:
        where = f"{self.file} line {self.line}" if self.line else self.file
        return f"{where}: {self.detail}"


def _single_char(value: str | None, what: str, file: str) -> str | None:
    if not value:
        return None
    if len(value) != 1:
        raise InvalidArchive(f"{file}: {what} {value!r} must be a single character")
    return value


def _encoding(descriptor_encoding: str | None, file: str) -> str:
    name = (descriptor_encoding or "utf-8").strip()
    try:
        codec = codecs.lookup(name)
    except LookupError as exc:
        raise InvalidArchive(f"{file}: unknown encoding {name!r} in meta.xml") from exc
    # A UTF-8 BOM is common in exports from spreadsheets; utf-8-sig drops it.
    return "utf-8-sig" if codec.name == "utf-8" else codec.name


class DwcArchive:
    """An opened archive. Use as a context manager; temporary files go on close."""

    def __init__(self, source: Path | str, workdir: Path | None = None) -> None:
        self.source = Path(source)
        self._tmp = Path(tempfile.mkdtemp(prefix="fednode-dwca-", dir=workdir))
        self.problems: list[RowProblem] = []
        try:
            self.unpacked = safe_unpack(self.source, self._tmp / "unpacked")
            self.layout: ArchiveLayout = describe(self.unpacked.root)
        except BaseException:
            self.close()
            raise

    # -- structure ---------------------------------------------------------------------
    @property
    def core(self) -> DataFile:
        return self.layout.core

    @property
    def extensions(self) -> list[DataFile]:
        return self.layout.extensions

    @property
    def metadata_path(self) -> Path | None:
        return self.layout.metadata_path

    def extension(self, row_type: str) -> DataFile | None:
        return next((e for e in self.extensions if e.row_type == row_type), None)

    # -- data --------------------------------------------------------------------------
    def iter_batches(
        self, data_file: DataFile | None = None, block_bytes: int = constants.CSV_BLOCK_BYTES
    ) -> Iterator[pa.RecordBatch]:
        """Yield record batches of text columns named by `data_file.columns`.

        Rows with the wrong number of columns are skipped and recorded in `problems`. A
        file meta.xml splits over several locations is read part after part, each with
        its own header lines.
        """
        data_file = data_file or self.core
        for path in data_file.paths:
            yield from self._iter_part(data_file, path, block_bytes)

    def _iter_part(
        self, data_file: DataFile, path: Path, block_bytes: int
    ) -> Iterator[pa.RecordBatch]:
        descriptor = data_file.descriptor
        name = data_file.name
        delimiter = _single_char(descriptor.fields_terminated_by, "fieldsTerminatedBy", name)
        quote = _single_char(descriptor.fields_enclosed_by, "fieldsEnclosedBy", name)
        skip = descriptor.lines_to_ignore
        problems = self.problems

        def on_invalid(row: pacsv.InvalidRow) -> str:
            problems.append(
                RowProblem(
                    name,
                    row.number,  # pyarrow counts physical lines, skipped ones included
                    SKIPPED_ROW,
                    f"has {row.actual_columns} columns, expected {row.expected_columns}",
                )
            )
            return "skip"

        encoding = _encoding(descriptor.file_encoding, name)
        with self.unpacked.open_binary(path) as head:
            width = _first_row_width(head, name, encoding, delimiter or "\t", quote, skip)
        if width == 0:
            return
        plan = _column_plan(data_file, width)
        read_options = pacsv.ReadOptions(
            skip_rows=skip,
            column_names=[f"f{i}" for i in range(width)],
            encoding=encoding,
            block_size=block_bytes,
            # Single-threaded parsing is as fast here (decompression is the bottleneck)
            # and is the only mode in which pyarrow reports the line of a bad row.
            use_threads=False,
        )
        parse_options = pacsv.ParseOptions(
            delimiter=delimiter or "\t",
            quote_char=quote or False,
            double_quote=bool(quote),
            escape_char=False,
            newlines_in_values=bool(quote),
            ignore_empty_lines=True,
            invalid_row_handler=on_invalid,
        )
        convert_options = pacsv.ConvertOptions(
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            null_values=[],
            check_utf8=True,
            auto_dict_encode=False,
            # Every column is text: numbers and dates are never reinterpreted here.
            column_types={f"f{i}": pa.string() for i in range(width)},
        )
        stream = self.unpacked.open_binary(path)
        try:
            reader = pacsv.open_csv(stream, read_options, parse_options, convert_options)
        except pa.ArrowInvalid as exc:
            stream.close()
            if "Empty CSV file" in str(exc):
                return
            raise InvalidArchive(f"{name}: cannot parse ({exc})") from exc
        except UnicodeDecodeError as exc:
            stream.close()
            raise InvalidArchive(
                f"{name}: not valid {descriptor.file_encoding or 'UTF-8'} text ({exc.reason} "
                f"at byte {exc.start})"
            ) from exc
        with stream:
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
                    raise InvalidArchive(f"{name}: cannot parse ({exc})") from exc
                yield _project(batch, plan, data_file.columns)

    def read_table(self, data_file: DataFile | None = None) -> pa.Table:
        """The whole data file as one table (small files, tests, validation)."""
        data_file = data_file or self.core
        batches = list(self.iter_batches(data_file))
        if not batches:
            schema = pa.schema([(c, pa.string()) for c in data_file.columns])
            return schema.empty_table()
        return pa.Table.from_batches(batches)

    # -- lifecycle ---------------------------------------------------------------------
    def close(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> DwcArchive:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _first_row_width(
    raw: IO[bytes], name: str, encoding: str, delimiter: str, quote: str | None, skip: int
) -> int:
    """Columns in the first data row, refused beyond MAX_DATA_COLUMNS.

    pyarrow cannot infer the width of a one-line file without a final newline (a real
    IPT sample has one), so the width is read here and the columns are named explicitly.
    Only the first MAX_LINE_BYTES per line are read: an archive is untrusted, and one
    line of 500,000 columns would otherwise cost gigabytes in the parser.
    """
    cap = constants.MAX_LINE_BYTES * (skip + 1)
    head = raw.read(cap + 1)
    whole = len(head) <= cap
    try:
        text = codecs.getincrementaldecoder(encoding)().decode(head[:cap], final=whole)
    except UnicodeDecodeError as exc:
        raise InvalidArchive(
            f"{name}: not valid {encoding} text ({exc.reason} at byte {exc.start}); "
            "declare the right encoding in meta.xml"
        ) from exc
    handle = io.StringIO(text, newline="")
    rows = csv.reader(
        handle,
        delimiter=delimiter,
        quotechar=quote or '"',
        quoting=csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE,
    )
    width = 0
    try:
        for number, row in enumerate(rows):
            if number >= skip and row:
                width = len(row)
                break
    except csv.Error as exc:
        raise InvalidArchive(f"{name}: cannot parse the first row ({exc})") from exc
    if not whole and (width == 0 or handle.tell() >= len(text)):
        raise InvalidArchive(
            f"{name}: the first row is longer than {constants.MAX_LINE_BYTES:,} bytes; "
            "refusing the file"
        )
    if width > constants.MAX_DATA_COLUMNS:
        raise InvalidArchive(
            f"{name}: the first row has {width:,} columns; the limit is "
            f"{constants.MAX_DATA_COLUMNS:,} (Darwin Core has about 200 terms)"
        )
    return width


@dataclass(frozen=True)
class _Source:
    index: int | None  # column in the file, or None for a meta.xml constant
    default: str | None


def _column_plan(data_file: DataFile, width: int) -> dict[str, _Source]:
    descriptor = data_file.descriptor
    plan: dict[str, _Source] = {}
    key_index = descriptor.id_index if descriptor.represents_corefile else descriptor.coreid_index
    key = None if descriptor.created_from_file else data_file.columns[0]
    if key is not None:
        plan[key] = _Source(key_index, None)
    # By term, not by position: `columns` holds each term once, so a term meta.xml maps
    # twice would shift every later field onto the wrong column. The last mapping wins,
    # as in python-dwca-reader's row dictionaries (the validator reports DUPLICATED_TERM).
    for f in descriptor.fields:
        column = short_name(f["term"])
        if column != key:
            plan[column] = _Source(f["index"], f["default"])
    for column, source in plan.items():
        if source.index is not None and source.index >= width:
            raise InvalidArchive(
                f"{data_file.name}: meta.xml maps {column!r} to column index {source.index} "
                f"(0-based), but the file's first row has only {width} columns"
            )
    return plan


def _project(batch: pa.RecordBatch, plan: dict[str, _Source], columns: list[str]) -> pa.RecordBatch:
    arrays = []
    for column in columns:
        source = plan[column]
        if source.index is None:
            arrays.append(pa.array([source.default or ""] * batch.num_rows, pa.string()))
            continue
        values = batch.column(source.index)
        if not pa.types.is_string(values.type):
            values = pc.cast(values, pa.string())
        if source.default:
            empty = pc.equal(values, "")
            values = pc.if_else(empty, source.default, values)
        arrays.append(values)
    return pa.RecordBatch.from_arrays(arrays, names=columns)


def open_archive(source: Path | str, workdir: Path | None = None) -> DwcArchive:
    """Open a zip, tgz or folder archive (or a bare data file) for streaming."""
    return DwcArchive(source, workdir)
