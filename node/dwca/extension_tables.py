"""Extension data files kept whole: one Parquet table per extension, beside the core.

A republished archive must carry every row of every extension it came with, of any row
type, known or not (VernacularName, Description, Multimedia, Audubon Core,
MeasurementOrFact, Occurrence under an Event core, ...). Each extension is stored as
`ext-<row type>.parquet` in the same snapshot folder as the core (so the store swaps core
and extensions in one rename), as text, `coreid` first, then one column per term under its
short name. The full term URI of each column and the row type travel in the Parquet
metadata, so the archive written back declares the same terms.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from node.core.terms import short_name, term_uri
from node.dwca.reader import DwcArchive

EXTENSION_PREFIX = "ext-"
CORE_KEY = "coreid"
ROW_TYPE_KEY = b"fednode:rowType"
TERM_KEY = b"term"
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class ExtensionTable:
    """One stored extension: its row type, file, and the term URI of each column."""

    row_type: str
    path: Path
    terms: tuple[tuple[str, str], ...]  # (column, term URI), coreid excluded

    @property
    def name(self) -> str:
        return short_name(self.row_type)

    @property
    def file_name(self) -> str:
        """The data file's name inside an archive, as the IPT names them."""
        return self.path.stem.removeprefix(EXTENSION_PREFIX) + ".txt"

    def read(self) -> pa.Table:
        return pq.read_table(self.path)

    def rows(self) -> int:
        return pq.ParquetFile(self.path).metadata.num_rows


def extension_schema(row_type: str, terms: Sequence[tuple[str, str]]) -> pa.Schema:
    """Text columns, `coreid` first; the row type and each term URI in the metadata."""
    fields = [pa.field(CORE_KEY, pa.string())]
    fields += [pa.field(c, pa.string(), metadata={TERM_KEY: uri.encode()}) for c, uri in terms]
    return pa.schema(fields, metadata={ROW_TYPE_KEY: row_type.encode()})


def _free_path(folder: Path, row_type: str) -> Path:
    slug = _SLUG.sub("-", short_name(row_type).lower()).strip("-") or "extension"
    path = folder / f"{EXTENSION_PREFIX}{slug}.parquet"
    number = 2
    while path.exists():
        path = folder / f"{EXTENSION_PREFIX}{slug}-{number}.parquet"
        number += 1
    return path


def write_extension(
    folder: Path, row_type: str, terms: Sequence[tuple[str, str]], tables: Iterator[pa.Table]
) -> ExtensionTable:
    """Stream `tables` (coreid + term columns, text) into a new extension file in `folder`."""
    schema = extension_schema(row_type, terms)
    path = _free_path(folder, row_type)
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for table in tables:
            columns = [
                _text(table, f.name) if f.name in table.column_names else _empty(table.num_rows)
                for f in schema
            ]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))
    return ExtensionTable(row_type, path, tuple(terms))


def write_extension_table(folder: Path, like: ExtensionTable, table: pa.Table) -> ExtensionTable:
    """A transformed copy of `like` (same row type and terms) holding `table`."""
    return write_extension(folder, like.row_type, like.terms, iter([table]))


def load_extensions(folder: Path) -> list[ExtensionTable]:
    """The extensions stored in a snapshot folder (none for data stored before them)."""
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob(f"{EXTENSION_PREFIX}*.parquet")):
        schema = pq.read_schema(path)
        row_type = (schema.metadata or {}).get(ROW_TYPE_KEY, b"").decode()
        terms = tuple(
            (f.name, (f.metadata or {}).get(TERM_KEY, term_uri(f.name).encode()).decode())
            for f in schema
            if f.name != CORE_KEY
        )
        found.append(ExtensionTable(row_type, path, terms))
    return found


def extract_extensions(
    archive: DwcArchive, folder: Path, id_term: str | None = None
) -> list[ExtensionTable]:
    """Every extension of an opened archive, stored whole in `folder`.

    Extension rows point at the core's `id` column. The node stores the core under its id
    term (occurrenceID, taxonID, eventID) and writes that term as `id` again, so where an
    archive's `id` differs from its id term the core ids are translated here; a row whose
    core record is absent keeps its coreid (validation reports orphans, nothing is lost).
    """
    translate = _core_key_map(archive, id_term)
    found = []
    for data_file in archive.extensions:
        terms: list[tuple[str, str]] = []
        for f in data_file.descriptor.fields:
            column = short_name(f["term"])
            if column != CORE_KEY and column not in (c for c, _ in terms):
                terms.append((column, f["term"]))
        batches = (
            _translated(pa.Table.from_batches([b]), translate)
            for b in archive.iter_batches(data_file)
        )
        found.append(write_extension(folder, data_file.row_type or "", terms, batches))
    return found


def _core_key_map(archive: DwcArchive, id_term: str | None) -> tuple[pa.Array, pa.Array] | None:
    core = archive.core
    if not archive.extensions or not id_term or id_term not in core.columns:
        return None
    if "id" not in core.columns:
        return None
    table = archive.read_table(core).select(["id", id_term])
    differs = pc.not_equal(table["id"], table[id_term])
    if not pc.any(differs).as_py():
        return None
    return table["id"].combine_chunks(), table[id_term].combine_chunks()


def _translated(table: pa.Table, translate: tuple[pa.Array, pa.Array] | None) -> pa.Table:
    table = table.rename_columns([CORE_KEY, *table.column_names[1:]])
    if translate is None:
        return table
    keys, ids = translate
    position = pc.index_in(table[CORE_KEY], value_set=keys)
    mapped = pc.coalesce(pc.take(ids, position), table[CORE_KEY])
    return table.set_column(0, CORE_KEY, mapped)


def _text(table: pa.Table, name: str) -> pa.Array:
    values = table[name].combine_chunks()
    if not pa.types.is_string(values.type):
        values = pc.cast(values, pa.string())
    return values


def _empty(rows: int) -> pa.Array:
    return pa.nulls(rows, pa.string())
