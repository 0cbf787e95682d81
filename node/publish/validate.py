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
import contextlib
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from mappings.columns import ColumnMapping, suggest_term, term_for_column
from node.core.errors import NodeError
from node.core.terms import EVENT_ROW_TYPE, OCCURRENCE_ROW_TYPE, TAXON_ROW_TYPE, short_name
from node.dwca.meta import DataFile, read_xml_text
from node.dwca.reader import DwcArchive, open_archive
from node.publish.idstore import IdStore
from node.publish.report import ValidationReport, ValidationRun
from node.publish.rules import (
    OccurrenceRule,
    check_ids,
    check_records,
    check_references,
    check_required,
    finish_ids,
)
from node.publish.source_check import SourceCheck

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
_LICENCE = re.compile(  # the three licences GBIF accepts
    r"creativecommons\.org/(publicdomain/zero/1\.0|licenses/by(-nc)?/4\.0)"
    r"|\bCC0\b|\bCC[- ]BY(-NC)?[- ]4\.0\b",
    re.IGNORECASE,
)


# -- archives -----------------------------------------------------------------------------
def validate_archive(path: Path | str) -> ValidationReport:
    """Validate any DwC-A (zip, tgz, folder or bare data file); bad input never raises."""
    run = ValidationRun(Path(path))
    try:
        with open_archive(path) as archive, IdStore() as ids:
            dataset_type = _check_structure(archive, run)
            if dataset_type is not None:
                _check_data(archive, run, ids, dataset_type)
    except NodeError as exc:
        run.unreadable(exc.detail)
    except (OSError, ValueError, pa.ArrowException) as exc:
        run.unreadable(f"{type(exc).__name__}: {exc}")
    return run.finish()


def _check_structure(archive: DwcArchive, run: ValidationRun) -> str | None:
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


# Terms only a record of a name (not of an observation or specimen) carries.
_TAXON_ONLY = frozenset(
    {"taxonID", "taxonRank", "parentNameUsageID", "acceptedNameUsageID", "taxonomicStatus",
     "parentNameUsage", "acceptedNameUsage", "nomenclaturalStatus", "higherTaxonID"}
)  # fmt: skip
_OCCURRENCE_ONLY = frozenset(
    {"occurrenceID", "basisOfRecord", "eventDate", "recordedBy", "catalogNumber",
     "decimalLatitude", "individualCount"}
)  # fmt: skip


def _guess_row_type(columns: list[str]) -> str:
    """A simple archive (no meta.xml) says what it holds only through its column names,
    whatever their capitalisation: names without observations are a checklist, as GBIF's
    crawler reads them."""
    terms = {term_for_column(c) or c.strip() for c in columns}
    terms |= {t[:1].lower() + t[1:] for t in terms}
    occurrence_like = bool(terms & _OCCURRENCE_ONLY)
    if terms & _TAXON_ONLY and not occurrence_like:
        return TAXON_ROW_TYPE
    if "eventID" in terms and not occurrence_like:
        return EVENT_ROW_TYPE
    return OCCURRENCE_ROW_TYPE


def _check_terms(data_file: DataFile, run: ValidationRun, has_metafile: bool) -> None:
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
        # Every Dublin Core term is a term (extensions use dcterms:description, :type, ...).
        dublin_core = given.startswith(("http://purl.org/dc/terms/", "dcterms:"))
        if term_for_column(name) != name and not dublin_core:
            guess = suggest_term(name)
            run.add(
                "UNKNOWN_TERM",
                f"{given} is not in fednode's term list (Darwin Core, Dublin Core, GBIF)"
                + (f"; did you mean {guess}?" if guess else ""),
                file=data_file.name,
                field=name,
            )


def _check_metadata(root: Path, metadata: Path | None, run: ValidationRun) -> None:
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


def _check_data(archive: DwcArchive, run: ValidationRun, ids: IdStore, dataset_type: str) -> None:
    core = archive.core
    has_id = archive.layout.has_metafile  # a simple archive has no core id column
    rename = {} if has_id else {c: term_for_column(c) or c for c in core.columns}
    terms = [rename.get(c, c) for c in core.columns]
    check_required(run, dataset_type, terms, core.name)
    key_term = ID_TERM[dataset_type]
    occurrence_file = (
        core if dataset_type == "occurrence" else archive.extension(OCCURRENCE_ROW_TYPE)
    )
    occurrence = OccurrenceRule(run, ids) if occurrence_file is not None else None
    key = key_term if key_term in terms else ("id" if has_id else None)
    # Occurrences are identified by occurrenceID; their core id matters as a link target only.
    by_core_id = key == "id" and occurrence_file is not core
    core_ids = has_id and (bool(archive.extensions) or by_core_id)
    for lines, table in _stream(archive, core, run):
        table = table.rename_columns(terms)
        if occurrence_file is core:
            check_records(run, table, lines, core.name, occurrence=True)
            occurrence.add(table, lines, core.name)  # type: ignore[union-attr]
        else:
            check_records(run, table, lines, core.name, occurrence=False)
            if key and key != "id":
                check_ids(run, ids, table.column(key), lines, core.name, key)
        if core_ids:
            check_ids(run, ids, table.column("id"), lines, core.name, "id", store="core")
    if not run.records.get(core.name):
        empty_core(run, core.name)
    if dataset_type != "occurrence" and key is None:
        run.add("ID_MISSING", f"no {key_term} column", file=core.name, field=key_term)
    for extension in archive.extensions:
        for lines, table in _stream(archive, extension, run):
            ids.add(f"ref:{extension.name}", table.column(0), lines, keep_empty=True)
            if extension is occurrence_file:
                check_records(run, table, lines, extension.name, occurrence=True)
                occurrence.add(table, lines, extension.name)  # type: ignore[union-attr]
        check_references(run, ids, extension.name, core.name)
    if occurrence is not None and occurrence_file is not None:
        occurrence.finish(occurrence_file.name)
    finish_ids(run, ids)
    _locate_skipped_rows(run, archive)


def _stream(
    archive: DwcArchive, data_file: DataFile, run: ValidationRun
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
    dataset_type: str | None = "occurrence",
    encoding: str | None = None,
) -> ValidationReport:
    """Validate an institution's file through its mapping, as publishing would read it.

    `dataset_type=None` reads the type from the column names, as GBIF does for a file
    without meta.xml.
    """
    check = SourceCheck(path, mapping, dataset_type, encoding)
    if check.source is not None:
        with contextlib.suppress(NodeError):  # reported as SOURCE_UNREADABLE
            for _ in check.checked():
                pass
    return check.report()


def guess_dataset_type(columns: list[str]) -> str:
    """The dataset type a file's column names say it holds (occurrence when unclear)."""
    return DATASET_TYPE_FOR_ROW_TYPE[_guess_row_type(columns)]


def empty_core(run: ValidationRun, name: str) -> None:
    """A dataset of no records is refused: zero rows from a file that holds data lines
    means the file was misread, and publishing it would replace data with nothing."""
    run.add(
        "EMPTY_CORE",
        f"no records were read from {name}; check its header row, delimiter and meta.xml",
        file=name,
    )


# -- rows the reader skipped --------------------------------------------------------------
def _locate_skipped_rows(run: ValidationRun, archive: DwcArchive) -> None:
    """Rows the reader skipped (wrong column count): find their lines, report them, and
    shift the provisional lines of later examples in the same file."""
    files = {p.file for p in archive.problems}
    for data_file in [archive.core, *archive.extensions]:
        if data_file.name not in files:
            continue
        bad = _bad_lines(data_file)
        details = [p.detail for p in archive.problems if p.file == data_file.name]
        for kind, examples in run.examples.items():
            run.examples[kind] = [
                replace(p, line=_shift(p.line, bad)) if p.file == data_file.name else p
                for p in examples
            ]
        for i, detail in enumerate(details):
            line = bad[i] if i < len(bad) else None
            run.add("COLUMN_MISMATCH", f"{detail}; the row is skipped", file=data_file.name,
                    line=line)  # fmt: skip


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
