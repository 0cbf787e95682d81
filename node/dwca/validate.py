"""Validation reports for Darwin Core archives and institutions' source files.

The verdict `publishable` follows the rules GBIF applies before indexing:
- a broken archive (unreadable container, invalid meta.xml, undecodable or mis-described data
  file, unsupported core rowType) is not publishable;
- occurrences: every record has a unique occurrenceID, or else at most 25% of records lack
  a part of the institutionCode+collectionCode+catalogNumber triplet and the complete
  triplets are unique (gbif-api OccurrenceValidationReport, applied by GBIF's crawler);
- checklists and sampling events: taxonID / eventID (else the core id) present and unique,
  and so is the core id whenever extensions hang on it (the IPT's publishing check);
- extension rows whose coreid matches no core row, and a term mapped twice in one file,
  block too (GBIF validator IndexableRules: RECORD_REFERENTIAL_INTEGRITY_VIOLATION,
  DUPLICATED_TERM).
Everything else is a warning: record-level issues (coordinates out of range, unparseable
dates, an unknown basisOfRecord) are flagged by GBIF on the records it indexes, not refused.

Kinds reuse GBIF's names where one exists. Counts are exact; each kind keeps its first
examples. Data files stream as Arrow batches and checks are vectorised; identifier
uniqueness and referential integrity are DuckDB queries that spill to disk, so memory stays
flat whatever the archive's size.
"""

from __future__ import annotations

import codecs
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from mappings.columns import ColumnMapping, load_mapping, suggest_term, term_for_column
from mappings.sources import open_source
from mappings.terms import EVENT_ROW_TYPE, OCCURRENCE_ROW_TYPE, TAXON_ROW_TYPE, short_name
from node import constants
from node.dwca.meta import DataFile, read_xml_text
from node.dwca.reader import DwcArchive, open_archive
from node.errors import NodeError
from node.records import parse_event_date

ALWAYS_BLOCKING = frozenset(
    {
        "ARCHIVE_UNREADABLE",
        "META_XML_INVALID",
        "CORE_ROWTYPE_UNSUPPORTED",
        "DUPLICATED_TERM",
        "ID_MISSING",
        "ID_DUPLICATED",
        "RECORD_REFERENTIAL_INTEGRITY_VIOLATION",
        "SOURCE_UNREADABLE",
        "MAPPING_INVALID",
    }
)
# Blocking only when neither identifier rule holds.
OCCURRENCE_RULE_KINDS = frozenset(
    {
        "OCCURRENCE_ID_MISSING",
        "OCCURRENCE_ID_DUPLICATED",
        "TRIPLET_INCOMPLETE",
        "TRIPLET_DUPLICATED",
    }
)
INVALID_TRIPLET_LIMIT = 0.25  # gbif-api OccurrenceValidationReport: at most 25% incomplete
TRIPLET_TERMS = ("institutionCode", "collectionCode", "catalogNumber")
REQUIRED_TERMS = {  # GBIF data quality requirements: the minimum terms per dataset class
    "occurrence": ("occurrenceID", "basisOfRecord", "scientificName", "eventDate"),
    "checklist": ("taxonID", "scientificName"),
    "event": ("eventID", "eventDate"),
}
ID_TERM = {"occurrence": "occurrenceID", "checklist": "taxonID", "event": "eventID"}
DATASET_TYPE_FOR_ROW_TYPE = {
    OCCURRENCE_ROW_TYPE: "occurrence",
    TAXON_ROW_TYPE: "checklist",
    EVENT_ROW_TYPE: "event",
}
_DWC, _GBIF = "http://rs.tdwg.org/dwc/terms/", "http://rs.gbif.org/terms/1.0/"
KNOWN_ROW_TYPES = frozenset(  # registered at rs.gbif.org (core/ and extension/)
    [_DWC + t for t in ("Occurrence", "Taxon", "Event", "MeasurementOrFact",
                        "ResourceRelationship", "Identification", "MaterialEntity")]
    + [_GBIF + t for t in ("VernacularName", "Description", "Distribution", "Multimedia",
                           "Image", "Reference", "References", "SpeciesProfile",
                           "TypesAndSpecimen", "Identifier", "DNADerivedData")]
    + ["http://rs.tdwg.org/ac/terms/Multimedia",
       "http://rs.iobis.org/obis/terms/ExtendedMeasurementOrFact",
       "http://rs.tdwg.org/chrono/terms/ChronometricAge"]
)  # fmt: skip
# Darwin Core's BasisOfRecord vocabulary, compared without case or underscores, so GBIF's
# enumeration spelling (PRESERVED_SPECIMEN) passes too.
BASIS_OF_RECORD = ("PreservedSpecimen", "FossilSpecimen", "LivingSpecimen", "MaterialSample",
                   "MaterialEntity", "MaterialCitation", "HumanObservation", "MachineObservation",
                   "Observation", "Occurrence", "Event", "Taxon")  # fmt: skip
_NUMBER = r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$"
_LICENCE = re.compile(  # the three licences GBIF accepts
    r"creativecommons\.org/(publicdomain/zero/1\.0|licenses/by(-nc)?/4\.0)"
    r"|\bCC0\b|\bCC[- ]BY(-NC)?[- ]4\.0\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Problem:
    kind: str
    message: str
    file: str | None = None
    line: int | None = None
    field: str | None = None
    value: str | None = None
    blocking: bool = False

    def __str__(self) -> str:
        where = f"{self.file} line {self.line}: " if self.file and self.line else ""
        where = where or (f"{self.file}: " if self.file else "")
        return where + self.message


@dataclass
class ValidationReport:
    """What is wrong, where, how often, and whether GBIF would index the data."""

    path: str
    publishable: bool
    dataset_type: str | None
    reasons: list[str]
    records: dict[str, int]
    counts: dict[str, int]
    problems: list[Problem]
    notes: list[str] = field(default_factory=list)

    @property
    def blocking_kinds(self) -> list[str]:
        return sorted({p.kind for p in self.problems if p.blocking})

    def to_dict(self) -> dict[str, Any]:
        """Plain data for `fednode validate --json`."""
        return {**asdict(self), "blocking_kinds": self.blocking_kinds}

    def format_text(self, max_per_kind: int = 5) -> str:
        """A summary line, counts per kind, then the first problems of each kind."""
        verdict = "publishable" if self.publishable else "NOT publishable"
        sizes = ", ".join(f"{f} {n:,} rows" for f, n in self.records.items()) or "no rows read"
        out = [
            f"{Path(self.path).name}: {verdict} ({self.dataset_type or 'unknown type'}; {sizes})"
        ]
        out += [f"  because {reason}" for reason in self.reasons]
        out += [f"  note: {note}" for note in self.notes]
        blocking = set(self.blocking_kinds)
        kinds = sorted(self.counts, key=lambda k: (k not in blocking, k))
        if kinds:
            out.append("Problems by kind:")
            for kind in kinds:
                label = "blocking" if kind in blocking else "warning"
                out.append(f"  {kind:<40} {self.counts[kind]:>9,}  {label}")
        for kind in kinds:
            shown = [p for p in self.problems if p.kind == kind][:max_per_kind]
            out.append(f"{kind}:")
            out += [f"  {p}" for p in shown]
            if self.counts[kind] > len(shown):
                out.append(f"  ({self.counts[kind]:,} in all)")
        if any(k not in blocking for k in kinds):
            out.append(
                "Warnings do not stop publishing: GBIF flags such records when it indexes "
                "them. Fixing them at the source still improves the data."
            )
        return "\n".join(out)


# -- archives -----------------------------------------------------------------------------
def validate_archive(path: Path | str) -> ValidationReport:
    """Validate any DwC-A (zip, tgz, folder or bare data file); bad input never raises."""
    run = _Run(Path(path))
    try:
        with open_archive(path) as archive, _IdStore() as ids:
            dataset_type = _check_structure(archive, run)
            if dataset_type is not None:
                _check_data(archive, run, ids, dataset_type)
    except NodeError as exc:
        run.unreadable(exc.detail)
    except (OSError, ValueError, pa.ArrowException) as exc:
        run.unreadable(f"{type(exc).__name__}: {exc}")
    return run.finish()


def _check_structure(archive: DwcArchive, run: _Run) -> str | None:
    """meta.xml-level checks; returns the dataset type, None for an unsupported core."""
    core, layout = archive.core, archive.layout
    for data_file in [core, *archive.extensions]:
        _check_terms(data_file, run, layout.has_metafile)
    for extension in archive.extensions:
        if extension.row_type not in KNOWN_ROW_TYPES:
            run.add(
                "UNKNOWN_ROWTYPE",
                f"rowType {extension.row_type} is not registered with GBIF; its rows are "
                "ignored when indexed",
                file=extension.name,
            )
    for warning in layout.warnings:
        run.add("EML_NOT_FOUND", warning, file="meta.xml")
    if not layout.warnings:
        _check_metadata(layout.root, archive.metadata_path, run)
    row_type = core.row_type or _guess_row_type(core.columns)
    run.dataset_type = DATASET_TYPE_FOR_ROW_TYPE.get(row_type)
    if run.dataset_type is None:
        run.add(
            "CORE_ROWTYPE_UNSUPPORTED",
            f"core rowType {row_type} is not Occurrence, Taxon or Event, the cores GBIF indexes",
            file=core.name,
        )
    elif not layout.has_metafile:
        run.notes.append(f"no meta.xml: {core.name} read as a simple Darwin Core file")
    return run.dataset_type


def _guess_row_type(columns: list[str]) -> str:
    """A simple archive (no meta.xml) says what it holds only through its column names."""
    terms = {term_for_column(c) for c in columns}
    occurrence_like = bool(terms & {"occurrenceID", "basisOfRecord"})
    if "taxonID" in terms and not occurrence_like:
        return TAXON_ROW_TYPE
    if "eventID" in terms and not occurrence_like:
        return EVENT_ROW_TYPE
    return OCCURRENCE_ROW_TYPE


def _check_terms(data_file: DataFile, run: _Run, has_metafile: bool) -> None:
    names = [f["term"] for f in data_file.descriptor.fields] if has_metafile else data_file.columns
    seen: set[str] = set()
    for given in names:
        name = short_name(given) if has_metafile else (term_for_column(given) or given)
        if name in seen:
            run.add(
                "DUPLICATED_TERM",
                f"{name} is mapped twice in meta.xml; a term takes one column",
                file=data_file.name,
                field=name,
            )
        seen.add(name)
        if term_for_column(name) != name:
            guess = suggest_term(name)
            run.add(
                "UNKNOWN_TERM",
                f"{given} is not in fednode's term list (Darwin Core, Dublin Core, GBIF)"
                + (f"; did you mean {guess}?" if guess else ""),
                file=data_file.name,
                field=name,
            )


def _check_metadata(root: Path, metadata: Path | None, run: _Run) -> None:
    if metadata is None:  # the reader looks for exact names; EML.xml is common too
        found = [p for p in root.iterdir() if p.name.lower() in ("eml.xml", "metadata.xml")]
        metadata = found[0] if found else None
    if metadata is None or metadata.name == "meta.xml":
        run.add(
            "EML_NOT_FOUND",
            "no metadata document (eml.xml): GBIF takes the title, licence and contacts from it",
            file="meta.xml" if metadata else None,
        )
        return
    try:
        text = read_xml_text(metadata)
    except NodeError as exc:
        run.add("EML_INVALID", exc.detail, file=metadata.name)
        return
    if not _LICENCE.search(text):
        run.add(
            "LICENSE_MISSING_OR_UNKNOWN",
            "no CC0 1.0, CC-BY 4.0 or CC-BY-NC 4.0 licence in intellectualRights; GBIF "
            "indexes only datasets under one of these",
            file=metadata.name,
        )


def _check_data(archive: DwcArchive, run: _Run, ids: _IdStore, dataset_type: str) -> None:
    core = archive.core
    has_id = archive.layout.has_metafile  # a simple archive has no core id column
    rename = {} if has_id else {c: term_for_column(c) or c for c in core.columns}
    terms = [rename.get(c, c) for c in core.columns]
    run.check_required(dataset_type, terms, core.name)
    key_term = ID_TERM[dataset_type]
    occurrence_file = (
        core if dataset_type == "occurrence" else archive.extension(OCCURRENCE_ROW_TYPE)
    )
    occurrence = _OccurrenceRule(run, ids) if occurrence_file is not None else None
    key = key_term if key_term in terms else ("id" if has_id else None)
    # Occurrences are identified by occurrenceID; their core id matters as a link target only.
    by_core_id = key == "id" and occurrence_file is not core
    core_ids = has_id and (bool(archive.extensions) or by_core_id)
    for lines, table in _stream(archive, core, run):
        table = table.rename_columns(terms)
        if occurrence_file is core:
            run.check_records(table, lines, core.name, occurrence=True)
            occurrence.add(table, lines, core.name)  # type: ignore[union-attr]
        else:
            run.check_records(table, lines, core.name, occurrence=False)
            if key and key != "id":
                run.check_ids(ids, table.column(key), lines, core.name, key)
        if core_ids:
            run.check_ids(ids, table.column("id"), lines, core.name, "id", store="core")
    if dataset_type != "occurrence" and key is None:
        run.add("ID_MISSING", f"no {key_term} column", file=core.name, field=key_term)
    for extension in archive.extensions:
        for lines, table in _stream(archive, extension, run):
            ids.add(f"ref:{extension.name}", table.column(0), lines, keep_empty=True)
            if extension is occurrence_file:
                run.check_records(table, lines, extension.name, occurrence=True)
                occurrence.add(table, lines, extension.name)  # type: ignore[union-attr]
        run.check_references(ids, extension.name, core.name)
    if occurrence is not None and occurrence_file is not None:
        occurrence.finish(occurrence_file.name)
    run.finish_ids(ids)
    run.locate_skipped_rows(archive)


def _stream(
    archive: DwcArchive, data_file: DataFile, run: _Run
) -> Iterator[tuple[pa.Array, pa.Table]]:
    """Batches with each row's provisional line: header lines + position in the file."""
    first = data_file.descriptor.lines_to_ignore + 1
    start = first
    for batch in archive.iter_batches(data_file):
        yield pa.array(range(first, first + batch.num_rows), pa.int64()), pa.table(batch)
        first += batch.num_rows
    run.records[data_file.name] = first - start


# -- sources ------------------------------------------------------------------------------
def validate_source(
    path: Path | str,
    mapping: ColumnMapping | Path | str | None = None,
    dataset_type: str = "occurrence",
    encoding: str | None = None,
) -> ValidationReport:
    """Validate an institution's file through its mapping, as publishing would read it."""
    path = Path(path)
    run = _Run(path)
    run.dataset_type = dataset_type
    try:
        if isinstance(mapping, str | Path):
            mapping = load_mapping(mapping)
    except NodeError as exc:
        run.add("MAPPING_INVALID", exc.detail)
        return run.finish()
    try:
        source = open_source(path, mapping, encoding, dataset_type)
    except NodeError as exc:
        mapping_error = mapping is not None and exc.detail.startswith(mapping.origin)
        run.add("MAPPING_INVALID" if mapping_error else "SOURCE_UNREADABLE", exc.detail)
        return run.finish()
    run.notes += [source.describe(), *source.notes]
    for column in source.unmapped_columns:
        run.add(
            "UNMAPPED_COLUMN",
            f"column {column!r} is mapped to no term and will not be published",
            file=path.name,
            field=column,
        )
    id_term = source.mapping.id_term or source.id_term
    untranslated: dict[str, set[str]] = {}
    try:
        with _IdStore() as ids:
            occurrence = _OccurrenceRule(run, ids) if dataset_type == "occurrence" else None
            count, columns = 0, None
            for lines, table in source.numbered_batches():
                if columns is None:
                    columns = table.column_names
                    run.check_required(dataset_type, columns, path.name)
                count += table.num_rows
                run.check_records(table, lines, path.name, occurrence=occurrence is not None)
                if occurrence is not None:
                    occurrence.add(table, lines, path.name)
                elif id_term in table.column_names:
                    run.check_ids(ids, table.column(id_term), lines, path.name, id_term)
                for term, left in source.mapping.untranslated(table).items():
                    untranslated.setdefault(term, set()).update(left)
            run.records[path.name] = count
            if occurrence is not None:
                occurrence.finish(path.name)
            elif columns is not None and id_term not in columns:
                run.add("ID_MISSING", f"no column gives {id_term}", file=path.name, field=id_term)
            run.finish_ids(ids)
    except NodeError as exc:
        run.add("SOURCE_UNREADABLE", exc.detail)
    for term, kept in untranslated.items():
        for value in sorted(kept):
            run.add(
                "UNTRANSLATED_VALUE",
                f"{term} value {value!r} has no translation in the mapping; published as is",
                file=path.name,
                field=term,
                value=value,
            )
    for problem in source.problems:
        run.add("COLUMN_MISMATCH", problem.detail, file=problem.file, line=problem.line)
    return run.finish()


# -- the machinery ------------------------------------------------------------------------
class _Run:
    """Collects counts and examples while batches stream past, then decides the verdict."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.dataset_type: str | None = None
        self.records: dict[str, int] = {}
        self.notes: list[str] = []
        self.reasons: list[str] = []
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, list[Problem]] = {}
        self.blocking = set(ALWAYS_BLOCKING)
        self.uniqueness: list[tuple[str, str, str]] = []  # (store, file, term)
        self.limit = constants.VALIDATION_EXAMPLES_PER_KIND

    def add(self, kind: str, message: str, count: int = 1, **where: Any) -> None:
        self.counts[kind] += count
        examples = self.examples.setdefault(kind, [])
        if len(examples) < self.limit:
            examples.append(Problem(kind, message, **where))

    def unreadable(self, detail: str) -> None:
        kind = "META_XML_INVALID" if detail.startswith("meta.xml") else "ARCHIVE_UNREADABLE"
        self.add(kind, detail)

    def flag(
        self, kind: str, mask: pa.Array, values: pa.Array, lines: pa.Array, file: str,
        term: str, template: str,
    ) -> None:  # fmt: skip
        """Count a vectorised mask; turn its first rows into examples."""
        count = pc.sum(mask).as_py() or 0
        if not count:
            return
        room = self.limit - len(self.examples.get(kind, []))
        for i in pc.indices_nonzero(mask)[: max(room, 0)].to_pylist():
            value = values[i].as_py()
            self.add(kind, template.format(term=term, value=value), count=0, file=file,
                     line=lines[i].as_py(), field=term, value=value)  # fmt: skip
        self.counts[kind] += count

    def check_required(self, dataset_type: str, terms: list[str], file: str) -> None:
        for term in REQUIRED_TERMS.get(dataset_type, ()):
            if term not in terms:
                self.add(
                    "REQUIRED_TERM_MISSING",
                    f"no {term} column: GBIF asks for it in every {dataset_type} dataset",
                    file=file,
                    field=term,
                )

    def check_records(self, table: pa.Table, lines: pa.Array, file: str, occurrence: bool) -> None:
        """Record-level warnings, vectorised: coordinates, dates, basisOfRecord."""
        columns = table.column_names
        for term, low, high in (("decimalLatitude", -90, 90), ("decimalLongitude", -180, 180)):
            if term not in columns:
                continue
            text = _text(table, term)
            trimmed = pc.utf8_trim_whitespace(text)
            numeric = pc.match_substring_regex(trimmed, _NUMBER)
            invalid = pc.and_(pc.not_equal(trimmed, ""), pc.invert(numeric))
            self.flag("COORDINATE_INVALID", invalid, text, lines, file, term,
                      "{term} {value!r} is not a decimal number")  # fmt: skip
            number = pc.cast(pc.if_else(numeric, trimmed, None), pa.float64())
            outside = pc.fill_null(pc.or_(pc.less(number, low), pc.greater(number, high)), False)
            self.flag("COORDINATE_OUT_OF_RANGE", outside, text, lines, file, term,
                      "{term} {value!r} is outside " + f"{low}..{high}")  # fmt: skip
        if "eventDate" in columns:
            text = _text(table, "eventDate")
            encoded = pc.dictionary_encode(text)
            distinct = encoded.dictionary.to_pylist()  # dates repeat: parse each once
            good = pa.array([not v.strip() or parse_event_date(v)[0] is not None for v in distinct])
            bad = pc.invert(pc.take(good, encoded.indices))
            self.flag("RECORDED_DATE_INVALID", bad, text, lines, file, "eventDate",
                      "{term} {value!r} is not an ISO 8601 date or interval")  # fmt: skip
        if occurrence and "basisOfRecord" in columns:
            text = _text(table, "basisOfRecord")
            folded = pc.utf8_lower(pc.replace_substring(pc.utf8_trim_whitespace(text), "_", ""))
            known = pa.array([b.lower() for b in BASIS_OF_RECORD])
            bad = pc.and_(pc.not_equal(folded, ""), pc.invert(pc.is_in(folded, value_set=known)))
            self.flag("BASIS_OF_RECORD_INVALID", bad, text, lines, file, "basisOfRecord",
                      "{term} {value!r} is not in the Darwin Core type vocabulary "
                      "(PreservedSpecimen, HumanObservation, ...); the IPT refuses it")  # fmt: skip

    def check_ids(
        self, ids: _IdStore, values: pa.ChunkedArray | pa.Array, lines: pa.Array, file: str,
        term: str, store: str | None = None,
    ) -> None:  # fmt: skip
        text = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        text = text.fill_null("")
        empty = pc.equal(pc.utf8_trim_whitespace(text), "")
        self.flag("ID_MISSING", empty, text, lines, file, term, "record has no {term}")
        store = store or f"key:{file}:{term}"
        ids.add(store, text, lines)
        if (store, file, term) not in self.uniqueness:
            self.uniqueness.append((store, file, term))

    def finish_ids(self, ids: _IdStore) -> None:
        for store, file, term in self.uniqueness:
            extra, examples = ids.duplicates(store, self.limit)
            for value, count, lines in examples:
                self.add("ID_DUPLICATED", _repeat_message(term, value, count, lines), count=0,
                         file=file, line=lines[0], field=term, value=value)  # fmt: skip
            self.counts["ID_DUPLICATED"] += extra
        if not self.counts["ID_DUPLICATED"]:
            del self.counts["ID_DUPLICATED"]

    def check_references(self, ids: _IdStore, file: str, core: str) -> None:
        count, examples = ids.orphans(f"ref:{file}", "core", self.limit)
        for line, value in examples:
            self.add("RECORD_REFERENTIAL_INTEGRITY_VIOLATION",
                     f"coreid {value!r} matches no row of {core}", count=0, file=file,
                     line=line, field="coreid", value=value)  # fmt: skip
        if count:
            self.counts["RECORD_REFERENTIAL_INTEGRITY_VIOLATION"] += count

    def locate_skipped_rows(self, archive: DwcArchive) -> None:
        """Rows the reader skipped (wrong column count): find their lines, report them, and
        shift the provisional lines of later examples in the same file."""
        files = {p.file for p in archive.problems}
        for data_file in [archive.core, *archive.extensions]:
            if data_file.name not in files:
                continue
            bad = _bad_lines(data_file)
            details = [p.detail for p in archive.problems if p.file == data_file.name]
            for kind, examples in self.examples.items():
                self.examples[kind] = [
                    replace(p, line=_shift(p.line, bad)) if p.file == data_file.name else p
                    for p in examples
                ]
            for i, detail in enumerate(details):
                line = bad[i] if i < len(bad) else None
                self.add("COLUMN_MISMATCH", f"{detail}; the row is skipped", file=data_file.name,
                         line=line)  # fmt: skip

    def finish(self) -> ValidationReport:
        blocking = sorted(k for k in self.counts if k in self.blocking)
        for kind in blocking:
            if kind in OCCURRENCE_RULE_KINDS:
                continue  # summarised once by _OccurrenceRule
            first = self.examples[kind][0]
            many = f" ({self.counts[kind]:,} in all)" if self.counts[kind] > 1 else ""
            self.reasons.append(f"{kind}: {first}{many}")
        problems = [
            replace(p, blocking=p.kind in self.blocking)
            for kind in sorted(self.examples, key=lambda k: (k not in self.blocking, k))
            for p in self.examples[kind]
        ]
        return ValidationReport(
            path=str(self.path),
            publishable=not blocking,
            dataset_type=self.dataset_type,
            reasons=self.reasons,
            records=self.records,
            counts=dict(self.counts),
            problems=problems,
            notes=self.notes,
        )


class _OccurrenceRule:
    """GBIF's identifier rule for occurrences: unique occurrenceIDs, or else unique triplets
    with at most 25% incomplete."""

    def __init__(self, run: _Run, ids: _IdStore) -> None:
        self.run, self.ids = run, ids
        self.records = self.missing = self.incomplete = 0

    def add(self, table: pa.Table, lines: pa.Array, file: str) -> None:
        run, columns, n = self.run, table.column_names, table.num_rows
        self.records += n
        if "occurrenceID" in columns:
            values = _text(table, "occurrenceID")
            empty = pc.equal(pc.utf8_trim_whitespace(values), "")
            self.missing += pc.sum(empty).as_py() or 0
            run.flag("OCCURRENCE_ID_MISSING", empty, values, lines, file, "occurrenceID",
                     "record has no occurrenceID")  # fmt: skip
            self.ids.add("occurrenceID", values, lines)
        elif n:
            self.missing += n
            run.add("OCCURRENCE_ID_MISSING", count=n, file=file, field="occurrenceID", message=(
                "no occurrenceID column; GBIF reads occurrenceID, not the core id: map the id "
                "column as occurrenceID too (a <field index=\"0\" term=\"...dwc/terms/"
                "occurrenceID\"/> in meta.xml, or [id] column in a mapping)"))  # fmt: skip
        absent = [t for t in TRIPLET_TERMS if t not in columns]
        if absent and n:
            self.incomplete += n
            run.add("TRIPLET_INCOMPLETE", f"no {', '.join(absent)} column", count=n, file=file)
        elif n:
            parts = [_text(table, t) for t in TRIPLET_TERMS]
            gaps = [pc.equal(pc.utf8_trim_whitespace(p), "") for p in parts]
            incomplete = pc.or_(pc.or_(gaps[0], gaps[1]), gaps[2])
            self.incomplete += pc.sum(incomplete).as_py() or 0
            run.flag("TRIPLET_INCOMPLETE", incomplete, parts[2], lines, file, "catalogNumber",
                     "record lacks institutionCode, collectionCode or catalogNumber")  # fmt: skip
            triplets = pc.binary_join_element_wise(*parts, " / ")
            self.ids.add("triplet", pc.if_else(incomplete, "", triplets), lines)

    def finish(self, file: str) -> None:
        run = self.run
        extra_ids, id_examples = self.ids.duplicates("occurrenceID", run.limit)
        extra_triplets, triplet_examples = self.ids.duplicates("triplet", run.limit)
        for kind, extra, examples, term in (
            ("OCCURRENCE_ID_DUPLICATED", extra_ids, id_examples, "occurrenceID"),
            ("TRIPLET_DUPLICATED", extra_triplets, triplet_examples, "triplet"),
        ):
            for value, count, lines in examples:
                run.add(kind, _repeat_message(term, value, count, lines), count=0, file=file,
                        line=lines[0], field=term, value=value)  # fmt: skip
            run.counts[kind] += extra
            if not run.counts[kind]:
                del run.counts[kind]
        ratio = self.incomplete / self.records if self.records else 0.0
        ids_hold = self.missing == 0 and extra_ids == 0
        triplets_hold = ratio <= INVALID_TRIPLET_LIMIT and extra_triplets == 0
        if ids_hold:  # triplets do not matter then
            for kind in ("TRIPLET_INCOMPLETE", "TRIPLET_DUPLICATED"):
                run.counts.pop(kind, None)
                run.examples.pop(kind, None)
        elif triplets_hold:
            run.notes.append(
                "GBIF accepts these occurrences on their institutionCode+collectionCode+"
                "catalogNumber triplets; a unique occurrenceID on every record is still better"
            )
        else:
            run.blocking |= OCCURRENCE_RULE_KINDS
            parts = []
            if self.missing:
                parts.append(f"{self.missing:,} of {self.records:,} records have no occurrenceID")
            if extra_ids:
                parts.append(f"{extra_ids:,} records repeat an occurrenceID")
            if ratio > INVALID_TRIPLET_LIMIT:
                parts.append(
                    f"{ratio:.0%} of records lack part of the institutionCode+collectionCode+"
                    "catalogNumber triplet (GBIF allows 25%)"
                )
            if extra_triplets:
                parts.append(f"{extra_triplets:,} records repeat a triplet")
            run.reasons.append(
                "GBIF needs a unique occurrenceID on every record, or else unique "
                "institutionCode+collectionCode+catalogNumber triplets: " + "; ".join(parts)
            )


class _IdStore:
    """Identifier columns in a temporary DuckDB database: uniqueness and coreid lookups run
    as joins that spill to disk instead of Python sets that grow with the data."""

    def __enter__(self) -> _IdStore:
        self._dir = Path(tempfile.mkdtemp(prefix="fednode-validate-"))
        # In memory, but bounded: beyond the limit DuckDB evicts blocks to temp_directory.
        self.con = duckdb.connect(":memory:")
        self.con.execute(f"SET memory_limit = '{constants.VALIDATION_MEMORY_LIMIT}'")
        self.con.execute(f"SET temp_directory = '{self._dir / 'spill'}'")
        self.con.execute("SET preserve_insertion_order = false")
        self._tables: dict[str, str] = {}
        self._pending: dict[str, list[pa.Table]] = {}
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.con.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def add(self, name: str, values: pa.Array, lines: pa.Array, keep_empty: bool = False) -> None:
        if name not in self._tables:
            self._tables[name] = f"t{len(self._tables)}"
            self.con.execute(f"CREATE TABLE {self._tables[name]} (line BIGINT, value VARCHAR)")
        values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        batch = pa.table({"line": lines, "value": values.fill_null("")})
        if not keep_empty:
            batch = batch.filter(pc.not_equal(batch.column("value"), ""))
        pending = self._pending.setdefault(name, [])
        pending.append(batch)
        if sum(t.num_rows for t in pending) >= constants.VALIDATION_INSERT_ROWS:
            self._flush(name)

    def _flush(self, name: str) -> None:
        """One INSERT per many batches: each statement commits, and commits cost."""
        pending = self._pending.pop(name, [])
        if pending:
            batch = pa.concat_tables(pending)  # noqa: F841 (read by DuckDB by name)
            self.con.execute(f"INSERT INTO {self._tables[name]} SELECT line, value FROM batch")

    def duplicates(self, name: str, limit: int) -> tuple[int, list[tuple[str, int, list[int]]]]:
        """(records repeating an earlier value, first repeated values with count and lines)."""
        table = self._tables.get(name)
        if table is None:
            return 0, []
        self._flush(name)
        (extra,) = self.con.execute(
            f"SELECT count(*) - count(DISTINCT value) FROM {table}"
        ).fetchone()  # type: ignore[misc]
        if not extra:
            return 0, []
        rows = self.con.execute(
            f"""WITH d AS (SELECT value, count(*) AS n, min(line) AS first FROM {table}
                           GROUP BY value HAVING count(*) > 1 ORDER BY first LIMIT {limit})
                SELECT d.value, d.n, list(t.line ORDER BY t.line)[1:5]
                FROM d JOIN {table} t USING (value)
                GROUP BY d.value, d.n, d.first ORDER BY d.first"""
        ).fetchall()
        return int(extra), [(v, int(n), list(lines)) for v, n, lines in rows]

    def orphans(self, name: str, target: str, limit: int) -> tuple[int, list[tuple[int, str]]]:
        """(rows of `name` whose value is not in `target`, the first of them)."""
        table = self._tables.get(name)
        if table is None:
            return 0, []
        self._flush(name)
        self._flush(target)
        core = self._tables.get(target)
        source = f"{table} r ANTI JOIN {core} c USING (value)" if core else f"{table} r"
        (count,) = self.con.execute(f"SELECT count(*) FROM {source}").fetchone()  # type: ignore[misc]
        rows = self.con.execute(
            f"SELECT r.line, r.value FROM {source} ORDER BY r.line LIMIT {limit}"
        ).fetchall()
        return int(count), [(int(line), value) for line, value in rows]


def _text(table: pa.Table, column: str) -> pa.Array:
    values = table.column(column).combine_chunks()
    if not pa.types.is_string(values.type):
        values = pc.cast(values, pa.string())
    return values.fill_null("")


def _repeat_message(term: str, value: str, count: int, lines: list[int]) -> str:
    shown = ", ".join(map(str, lines)) + (", ..." if count > len(lines) else "")
    return f"{term} {value!r} is used by {count:,} records (lines {shown})"


def _shift(line: int | None, skipped: list[int]) -> int | None:
    """A provisional line (header + position) once the skipped rows before it count."""
    if line is None:
        return None
    for bad in skipped:
        if line >= bad:
            line += 1
    return line


def _bad_lines(data_file: DataFile) -> list[int]:
    """Lines of rows with a wrong column count: the threaded reader cannot number them, a
    serial pass over the first column can (only run when such rows exist)."""
    descriptor = data_file.descriptor
    found: list[int] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        if row.number is not None:
            found.append(row.number)
        return "skip"

    codec = codecs.lookup(descriptor.file_encoding or "utf-8").name
    quote = descriptor.fields_enclosed_by or None
    reader = pacsv.open_csv(
        data_file.path,
        pacsv.ReadOptions(
            skip_rows=descriptor.lines_to_ignore,
            autogenerate_column_names=True,
            encoding="utf8" if codec == "utf-8" else codec,
            use_threads=False,
        ),
        pacsv.ParseOptions(
            delimiter=descriptor.fields_terminated_by or "\t",
            quote_char=quote or False,
            double_quote=bool(quote),
            newlines_in_values=bool(quote),
            ignore_empty_lines=True,
            invalid_row_handler=on_invalid,
        ),
        pacsv.ConvertOptions(include_columns=["f0"], column_types={"f0": pa.string()}),
    )
    for _ in reader:
        pass
    return sorted(found)
