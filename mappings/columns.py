"""Column mappings: how an institution's own columns become Darwin Core terms.

Institutions export spreadsheets with their own headers (`SPECIES_FULL`, `采集人`, `Tên khoa
học`) and their own vocabularies (`濒危（EN）`, `标本`). A mapping file says, once, what each
column means; the IPT asks the same questions on its mapping and value-translation pages.

A mapping file is TOML. Every table is optional:

    auto = true                  # also map columns already named like a term
                                 # (case-insensitive, as the IPT does); default true

    [source]                     # how to read the file, when detection is not enough
    encoding = "gb18030"         # else detected (charset-normalizer)
    delimiter = ","              # else sniffed among , tab ; |
    sheet = "标本"                # XLSX: else the first sheet

    [id]                         # what identifies a record
    column = "标本号"              # this column -> occurrenceID (occurrence) or taxonID
    # generate = "line"          # or "<dataset>:<line>", as the IPT does for checklists
    # term = "taxonID"           # only to override the dataset type's id term

    [columns]                    # source column = term, or [terms] to feed several
    SPECIES_FULL = "scientificName"
    "标本号" = ["catalogNumber", "recordNumber"]   # TOML: quote non-ASCII names

    [constants]                  # term = value, the same for every row
    kingdom = "Plantae"

    [translations.iucnRedListCategory]   # per term: verbatim value = published value
    "濒危（EN）" = "EN"                    # matched after NFKC folding, without spaces
                                         # or case, so `濒危 (EN)` matches too

    [vernacular]                 # column = language (zh, vi or en); names travel as
    SPECIES_CN = "zh"            # fed_vernacular_<language>, several joined by " | "
    "别名" = { language = "zh", split = "、" }   # one cell holding several names

Values that have no translation pass through unchanged (as in the IPT); `validate_source`
lists them so the mapping can be completed.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mappings.mapping_file import VERNACULAR_LANGUAGES, MappingFile
from node.core.errors import InvalidSource
from node.core.terms import KNOWN_TERMS, short_name
from node.core.tomlschema import validate_toml

VERNACULAR_SEPARATOR = " | "
VERNACULAR_PREFIX = "fed_vernacular_"

# Terms GBIF indexes that python-dwca-reader's (2015) term list lacks; the IUCN namespace
# term is the one GBIF interprets on occurrences. Drop once node.core.terms carries them.
PENDING_TERMS = {"iucnRedListCategory": "http://iucn.org/terms/iucnRedListCategory"}
MAPPABLE_TERMS = frozenset(KNOWN_TERMS | PENDING_TERMS.keys())
_BY_LOWER = {t.lower(): t for t in MAPPABLE_TERMS}


@dataclass(frozen=True)
class VernacularColumn:
    column: str
    language: str
    split: str | None = None


@dataclass(frozen=True)
class ColumnMapping:
    """Source column -> terms, constants, translations, vernacular columns and the id rule."""

    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    translations: dict[str, dict[str, str]] = field(default_factory=dict)
    vernacular: tuple[VernacularColumn, ...] = ()
    id_column: str | None = None
    id_generate: str | None = None
    id_term: str | None = None
    auto: bool = True
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    origin: str = "automatic mapping"

    # -- use -------------------------------------------------------------------------
    def resolve(self, columns: Sequence[str], *, id_term: str = "occurrenceID") -> ColumnMapping:
        """Check every named column exists and add automatic mappings for the rest."""
        present = set(columns)
        named = [*self.columns, *(v.column for v in self.vernacular)]
        if self.id_column:
            named.append(self.id_column)
        for name in named:
            if name not in present:
                hint = _suggest(name, columns)
                raise InvalidSource(
                    f"{self.origin}: column {name!r} is not in the file"
                    f"{hint}; its columns are: {', '.join(columns)}"
                )
        if not self.auto:
            return self
        taken = {t for terms in self.columns.values() for t in terms} | set(self.constants)
        if self.id_column or self.id_generate:
            taken.add(self.id_term or id_term)
        claimed = set(named)
        id_own = auto_mapping([self.id_column]).columns if self.id_column else {}
        if self.id_column in id_own and id_own[self.id_column][0] not in taken:
            # The id column is a term of its own too (GBIF's `gbifID`): it keeps it, so the
            # value is not found only under the id term.
            claimed.discard(self.id_column)
        extra = {}
        for column, term in auto_mapping(columns).columns.items():
            if column not in claimed and term[0] not in taken:
                extra[column] = term
                taken.add(term[0])
        return replace(self, columns={**self.columns, **extra})

    def unmapped(self, columns: Sequence[str]) -> list[str]:
        """Columns that will not be published: worth a warning, they may hold data."""
        used = set(self.columns) | {v.column for v in self.vernacular}
        if self.id_column:
            used.add(self.id_column)
        return [c for c in columns if c not in used]

    def apply(
        self,
        table: pa.Table,
        *,
        id_term: str = "occurrenceID",
        dataset_id: str = "dataset",
        first_line: int = 2,
        lines: pa.Array | None = None,
    ) -> pa.Table:
        """Verbatim source columns -> text columns named by short DwC terms (+ vernacular).

        Args:
            id_term: the dataset type's id term; `[id] term` overrides it.
            dataset_id: prefix of generated ids.
            first_line: the line of the table's first row in the source, for generated ids.
            lines: each row's line, when rows were skipped in between (wins over first_line).
        """
        length = table.num_rows
        id_term = self.id_term or id_term
        out: dict[str, pa.Array] = {}
        if self.id_column or self.id_generate:
            clash = [c for c, t in self.columns.items() if id_term in t and c != self.id_column]
            if clash:
                raise InvalidSource(
                    f"{self.origin}: [id] gives {id_term} but column {clash[0]!r} is also "
                    f"mapped to {id_term}; keep one"
                )
        if self.id_generate:
            if lines is None:
                lines = pa.array(range(first_line, first_line + length), pa.int64())
            numbers = pc.cast(lines, pa.string())
            out[id_term] = pc.binary_join_element_wise(f"{dataset_id}:", numbers, "")
        elif self.id_column:
            out[id_term] = _text(table, self.id_column)
        for column, terms in self.columns.items():
            values = _text(table, column)
            for term in terms:
                if term == id_term and term in out:
                    continue
                out[term] = self._translate(term, values)
        for term, value in self.constants.items():
            out[term] = pa.nulls(length, pa.string()).fill_null(value)
        for language in VERNACULAR_LANGUAGES:
            sources = [v for v in self.vernacular if v.language == language]
            if sources:
                out[VERNACULAR_PREFIX + language] = _vernacular(table, sources)
        return pa.table(out)

    def untranslated(self, mapped: pa.Table, limit: int = 20) -> dict[str, list[str]]:
        """Per translated term, values left as they were (no translation matched)."""
        found: dict[str, list[str]] = {}
        for term, table in self.translations.items():
            if term not in mapped.column_names:
                continue
            values = pc.unique(mapped.column(term))
            known = pa.array(sorted(set(table.values())), pa.string())
            keep = pc.and_(pc.invert(pc.is_in(values, value_set=known)), pc.not_equal(values, ""))
            left = values.filter(pc.fill_null(keep, False)).to_pylist()[:limit]
            if left:
                found[term] = left
        return found

    def _translate(self, term: str, values: pa.Array) -> pa.Array:
        table = self.translations.get(term)
        if not table:
            return values
        keys = pa.array(list(table), pa.string())
        targets = pa.array(list(table.values()), pa.string())
        positions = pc.index_in(_fold(values), value_set=keys)
        translated = pc.take(targets, positions)
        return pc.if_else(pc.is_null(positions), values, translated)


# -- loading ------------------------------------------------------------------------------
def load_mapping(path: Path | str) -> ColumnMapping:
    """Read and check a mapping file; errors name the file, the line and a likely fix."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
        raw = tomllib.loads(text)
    except FileNotFoundError as exc:
        raise InvalidSource(f"{path}: no such mapping file") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidSource(f"{path}: not valid TOML ({exc}){_toml_hint(path, exc)}") from exc
    return mapping_from_dict(raw, origin=str(path), text=text)


def mapping_from_dict(
    raw: dict[str, Any], origin: str = "mapping", text: str = ""
) -> ColumnMapping:
    """Build a mapping from parsed TOML (also used by tests and node.toml inline tables).

    `text`, the file the dict was parsed from, lets type errors name their lines.
    """
    spec = validate_toml(MappingFile, raw, text=text, source=origin, error=InvalidSource)
    if spec.id.column is not None and spec.id.generate is not None:
        raise InvalidSource(f"{origin}: [id] takes `column` or `generate`, not both")
    id_term = _term(spec.id.term, origin, "[id] term") if spec.id.term is not None else None

    columns: dict[str, tuple[str, ...]] = {}
    seen: dict[str, str] = {}
    for column, names in spec.columns.items():
        terms = tuple(_term(n, origin, f"[columns] {column!r}") for n in names)
        for term in terms:
            if term in seen:
                raise InvalidSource(
                    f"{origin}: [columns] {column!r} and {seen[term]!r} both map to {term!r}; "
                    "a term takes one column"
                )
            seen[term] = column
        columns[_nfc(column)] = terms

    constants: dict[str, str] = {}
    for name, value in spec.constants.items():
        term = _term(name, origin, "[constants]")
        if term in seen:
            raise InvalidSource(
                f"{origin}: {term!r} is both a constant and mapped from column {seen[term]!r}"
            )
        constants[term] = value

    translations: dict[str, dict[str, str]] = {}
    for name, table in spec.translations.items():
        term = _term(name, origin, "[translations]")
        folded: dict[str, str] = {}
        for verbatim, published in table.items():
            key = _fold_one(verbatim)
            if key in folded and folded[key] != published:
                raise InvalidSource(
                    f"{origin}: [translations.{name}] {verbatim!r} repeats another value "
                    f"(after folding width, case and spaces) with a different translation"
                )
            folded[key] = published
        translations[term] = folded

    vernacular = tuple(
        VernacularColumn(_nfc(column), v.language, v.split or None)
        for column, v in spec.vernacular.items()
    )
    return ColumnMapping(
        columns=columns,
        constants=constants,
        translations=translations,
        vernacular=vernacular,
        id_column=_nfc(spec.id.column) if spec.id.column is not None else None,
        id_generate=spec.id.generate,
        id_term=id_term,
        auto=spec.auto,
        encoding=spec.source.encoding,
        delimiter=spec.source.delimiter,
        sheet=spec.source.sheet,
        origin=origin,
    )


def auto_mapping(columns: Iterable[str]) -> ColumnMapping:
    """Map every column already named like a term (`scientificname`, `dwc:eventDate`, a URI)."""
    mapped: dict[str, tuple[str, ...]] = {}
    taken: set[str] = set()
    for column in columns:
        term = term_for_column(column)
        if term and term not in taken:
            mapped[column] = (term,)
            taken.add(term)
    return ColumnMapping(columns=mapped)


def term_for_column(column: str) -> str | None:
    """The term a column header names, ignoring case, a `dwc:` prefix or a namespace URI."""
    name = column.strip()
    if "://" in name:
        name = short_name(name)
    name = name.split(":", 1)[1] if re.match(r"^[a-z]+:[A-Za-z]", name) else name
    return _BY_LOWER.get(name.lower())


def suggest_term(name: str) -> str | None:
    """The term a misspelt name most likely meant."""
    if name.lower() in _BY_LOWER:
        return _BY_LOWER[name.lower()]
    close = difflib.get_close_matches(name, sorted(MAPPABLE_TERMS), n=1, cutoff=0.75)
    if close:
        return close[0]
    lowered = difflib.get_close_matches(name.lower(), sorted(_BY_LOWER), n=1, cutoff=0.75)
    return _BY_LOWER[lowered[0]] if lowered else None


# -- helpers ------------------------------------------------------------------------------
def _term(name: Any, origin: str, where: str) -> str:
    text = str(name).strip()
    candidate = short_name(text) if "://" in text else text
    if candidate in MAPPABLE_TERMS:
        return candidate
    guess = suggest_term(candidate)
    hint = f"; did you mean {guess!r}?" if guess else ""
    raise InvalidSource(f"{origin}: {where}: unknown Darwin Core term {text!r}{hint}")


def _toml_hint(path: Path, exc: Exception) -> str:
    """Unquoted Chinese or Vietnamese column names are the usual TOML mistake here."""
    found = re.search(r"at line (\d+)", str(exc))
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if found and int(found.group(1)) <= len(lines):
        key = lines[int(found.group(1)) - 1].split("=", 1)[0].strip()
        if key and not re.fullmatch(r"[A-Za-z0-9_.\-]+|\".*\"|'.*'|\[.*\]", key):
            return f'; quote the column name: "{key}" = ...'
    return ""


def _suggest(name: str, columns: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(columns), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _text(table: pa.Table, column: str) -> pa.Array:
    values = table.column(column).combine_chunks()
    if not pa.types.is_string(values.type):
        values = pc.cast(values, pa.string())
    return values.fill_null("")


def _nfc(name: Any) -> str:
    """Column names as composed Unicode: a file saved on macOS or in windows-1258 may spell
    `Tỉnh` with combining marks, and the two spellings must meet."""
    return unicodedata.normalize("NFC", str(name)).strip()


def _fold_one(text: str) -> str:
    """The comparison form of a value: full-width brackets folded, spaces and case ignored
    (`濒危 (EN)`, `濒危(EN)` and `濒危（EN）` are one value typed three ways)."""
    folded = unicodedata.normalize("NFKC", str(text))
    return re.sub(r"\s+", "", folded).lower()


def _fold(values: pa.Array) -> pa.Array:
    folded = pc.utf8_normalize(values, "NFKC")
    return pc.utf8_lower(pc.replace_substring_regex(folded, r"\s+", ""))


def _vernacular(table: pa.Table, sources: list[VernacularColumn]) -> pa.Array:
    """Names of one language from one or more columns, joined by " | "."""
    parts = []
    for source in sources:
        values = _text(table, source.column)
        if source.split:
            pattern = r"\s*(?:" + re.escape(source.split) + r")\s*"
            values = pc.replace_substring_regex(values, pattern, VERNACULAR_SEPARATOR)
        parts.append(values)
    joined = (
        pc.binary_join_element_wise(*parts, VERNACULAR_SEPARATOR) if len(parts) > 1 else parts[0]
    )
    # Empty cells and empty split pieces leave stray separators: collapse and trim them.
    joined = pc.replace_substring_regex(joined, r"(\s*\|\s*)+", VERNACULAR_SEPARATOR)
    return pc.replace_substring_regex(joined, r"^[\s|]+|[\s|]+$", "")
