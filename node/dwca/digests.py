"""Per-record digests: computed in bulk, under a scheme every kept version names.

Versions are compared record by record through a 64-bit digest of the text each record
publishes: its core line, then, per language in code-point order, `lang=name | name`
for the vernacular names folded into the archive. That text can be rebuilt from an
archive alone, so a version kept under an older scheme is re-digested from its own zip
rather than shown as "everything changed".

The scheme is XXH3-64 (seed 0) of that UTF-8 text, as a signed 64-bit integer. XXH3's
output is frozen by its specification since xxHash 0.8.0, so digests kept years ago still
compare; it hashes ~10 GB/s, which leaves one library call per record as the whole cost
(a fifth of the BLAKE2b it replaces). It notices edits by the publisher and signs nothing
(the archive's SHA-256 and its signature do that).
"""

from __future__ import annotations

import contextlib
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import defusedxml.ElementTree as safe_et
import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from xxhash import xxh3_64_intdigest

from node.core import constants
from node.core.errors import InvalidArchive
from node.core.terms import VERNACULAR_ROW_TYPE

DIGEST_SCHEME = "xxh3-64"
# What versions published before schemes were recorded used: BLAKE2b-64 of a text that
# an archive cannot rebuild (the vernacular names as the source wrote them).
LEGACY_SCHEME = "blake2b-64"
DIGEST_SCHEMA = pa.schema([("id", pa.string()), ("digest", pa.int64())])

_TEXT_NS = "{http://rs.tdwg.org/dwc/text/}"
_CHUNK = 16 * 1024**2


def spilling_duckdb(spill: Path) -> duckdb.DuckDBPyConnection:
    """In memory up to the limit, then on disk under `spill` (not in the cwd)."""
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{constants.DIFF_MEMORY_LIMIT}'")
    # One thread: each thread pins partitions of its own, and at 20M rows two of them
    # outgrow the cap where one spills. Row order is never asked of these queries.
    con.execute("SET threads = 1")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET temp_directory = '" + str(spill / ".duckdb").replace("'", "''") + "'")
    return con


def vernacular_names(values: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array, pa.Array]:
    """`a | b` cells split into names: the trimmed non-empty names, the row each belongs
    to, and list offsets that give each row its names (for `names_per_record`)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    split = pc.split_pattern(pc.fill_null(values, ""), "|")
    names = pc.utf8_trim_whitespace(pc.list_flatten(split))
    keep = pc.not_equal(names, "")
    kept_before = pc.cumulative_sum(pc.cast(keep, pa.int32()))
    offsets = pc.take(pa.concat_arrays([pa.array([0], pa.int32()), kept_before]), split.offsets)
    return names.filter(keep), pc.list_parent_indices(split).filter(keep), offsets


def names_per_record(names: pa.Array, offsets: pa.Array) -> pa.Array:
    """Each record's names joined by " | ", null where it has none."""
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, names), " | ")
    return pc.if_else(pc.equal(joined, ""), pa.scalar(None, pa.string()), joined)


def signed_text(lines: pa.Array, vernacular: dict[str, pa.Array]) -> pa.Array:
    """What a record's digest covers: its line, then `lang=names` per language with names.

    Args:
        vernacular: per language, each record's names joined by " | " (null: none).
    """
    parts = [
        pc.binary_join_element_wise(pa.scalar(lang), vernacular[lang], "=")
        for lang in sorted(vernacular)
    ]
    if not parts:
        return lines
    return pc.binary_join_element_wise(lines, *parts, "\t", null_handling="skip")


def digests_of(texts: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The scheme's digest of each text, in order."""
    values = pc.cast(texts, pa.binary()).to_pylist()
    unsigned = np.fromiter(map(xxh3_64_intdigest, values), np.uint64, len(values))
    return pa.array(unsigned.view(np.int64))


def archive_digests(archive: Path, dest: Path, fold_vernacular: bool) -> int:
    """Digest every core record of a published zip into `dest` (id, digest), out of core.

    Used when the version before was kept under another scheme, so its records can still
    be compared one by one. Lines are streamed from the zip into Parquet and joined with
    the vernacular names by DuckDB, which spills beyond its memory limit.

    Args:
        fold_vernacular: whether the archive's VernacularName file holds names the node
            folded from the records (not a source's own extension table).
    """
    try:
        return _archive_digests(archive, dest, fold_vernacular)
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError, pa.ArrowInvalid) as exc:
        raise InvalidArchive(
            f"{archive}: the kept version cannot be read to compare records with it ({exc})"
        ) from exc


def _archive_digests(archive: Path, dest: Path, fold_vernacular: bool) -> int:
    with (
        zipfile.ZipFile(archive) as source,
        tempfile.TemporaryDirectory(dir=dest.parent, prefix=".digests-") as scratch,
    ):
        core, vernacular = _locations(source)
        lines_path = Path(scratch) / "lines.parquet"
        names_path = Path(scratch) / "names.parquet"
        records = _write_parts(source, core, lines_path, _core_part)
        if vernacular and fold_vernacular:
            _write_parts(source, vernacular, names_path, _vernacular_part)
        else:
            pq.write_table(_vernacular_part([], 0), names_path)
        target = pq.ParquetWriter(dest, DIGEST_SCHEMA, compression="zstd")
        with spilling_duckdb(Path(scratch)) as con, contextlib.closing(target):
            signed = con.sql(
                """WITH names AS (
                       SELECT coreid, language,
                              string_agg(name, ' | ' ORDER BY row) AS joined
                       FROM read_parquet($names) GROUP BY coreid, language),
                   signed AS (
                       SELECT coreid, string_agg(language || '=' || joined, chr(9)
                                                 ORDER BY language) AS part
                       FROM names GROUP BY coreid)
                   SELECT l.id, l.line || coalesce(chr(9) || s.part, '') AS text
                   FROM read_parquet($lines) l LEFT JOIN signed s ON s.coreid = l.id
                   ORDER BY l.row""",
                params={"names": str(names_path), "lines": str(lines_path)},
            ).to_arrow_reader(constants.ARCHIVE_BATCH_ROWS)
            for batch in signed:
                target.write_table(
                    pa.table([batch["id"], digests_of(batch["text"])], schema=DIGEST_SCHEMA)
                )
    return records


def _locations(source: zipfile.ZipFile) -> tuple[str, str | None]:
    try:
        root = safe_et.fromstring(source.read("meta.xml"))
    except (KeyError, safe_et.ParseError) as exc:
        raise InvalidArchive(f"cannot read the kept archive's meta.xml ({exc})") from exc
    core = root.find(f"{_TEXT_NS}core/{_TEXT_NS}files/{_TEXT_NS}location")
    if core is None or not core.text:
        raise InvalidArchive("the kept archive's meta.xml names no core file")
    vernacular = None
    for extension in root.findall(f"{_TEXT_NS}extension"):
        if extension.get("rowType") == VERNACULAR_ROW_TYPE:
            found = extension.find(f"{_TEXT_NS}files/{_TEXT_NS}location")
            vernacular = found.text if found is not None else None
    return core.text, vernacular


def _lines(source: zipfile.ZipFile, member: str) -> Iterator[list[bytes]]:
    """The member's lines after the header, a chunk at a time, without line ends."""
    rest, header = b"", True
    with source.open(member) as handle:
        while chunk := handle.read(_CHUNK):
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            if header:
                lines, header = lines[1:], False
            yield lines
    if rest and not header:
        yield [rest]


def _core_part(lines: list[bytes], first: int) -> pa.Table:
    text = pc.cast(pa.array(lines, pa.binary()), pa.string())
    ids = pc.list_element(pc.split_pattern(text, "\t", max_splits=1), 0)
    rows = pa.array(range(first, first + len(lines)), pa.int64())
    return pa.table({"id": ids, "line": text, "row": rows})


def _vernacular_part(lines: list[bytes], first: int) -> pa.Table:
    cells = [line.decode("utf-8").split("\t") for line in lines]
    return pa.table(
        {
            "coreid": pa.array([c[0] for c in cells], pa.string()),
            "name": pa.array([c[1] if len(c) > 1 else "" for c in cells], pa.string()),
            "language": pa.array([c[2] if len(c) > 2 else "" for c in cells], pa.string()),
            "row": pa.array(range(first, first + len(lines)), pa.int64()),
        }
    )


def _write_parts(
    source: zipfile.ZipFile,
    member: str,
    dest: Path,
    part: Callable[[list[bytes], int], pa.Table],
) -> int:
    rows = 0
    writer: pq.ParquetWriter | None = None
    try:
        for lines in _lines(source, member):
            table = part(lines, rows)
            if writer is None:
                writer = pq.ParquetWriter(dest, table.schema, compression="zstd")
            writer.write_table(table)
            rows += len(lines)
        if writer is None:
            pq.write_table(part([], 0), dest)
    finally:
        if writer is not None:
            writer.close()
    return rows
