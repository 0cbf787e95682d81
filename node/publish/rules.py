"""GBIF's identifier rules and record checks, vectorised over each streamed batch."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from agreements.threat import THREAT_TERMS, UNREADABLE, category_codes
from node.core.dates import is_iso_event_date, parse_event_date, plain_days
from node.core.numbers import DECIMAL, ParsedNumbers, parse_numbers
from node.publish.idstore import IdStore
from node.publish.report import OCCURRENCE_RULE_KINDS, ValidationRun

INVALID_TRIPLET_LIMIT = 0.25  # gbif-api OccurrenceValidationReport: at most 25% incomplete
TRIPLET_TERMS = ("institutionCode", "collectionCode", "catalogNumber")
REQUIRED_TERMS = {  # GBIF data quality requirements: the minimum terms per dataset class
    "occurrence": ("occurrenceID", "basisOfRecord", "scientificName", "eventDate"),
    "checklist": ("taxonID", "scientificName"),
    "event": ("eventID", "eventDate"),
}
# Darwin Core's BasisOfRecord vocabulary, compared without case or underscores, so GBIF's
# enumeration spelling (PRESERVED_SPECIMEN) passes too.
BASIS_OF_RECORD = ("PreservedSpecimen", "FossilSpecimen", "LivingSpecimen", "MaterialSample",
                   "MaterialEntity", "MaterialCitation", "HumanObservation", "MachineObservation",
                   "Observation", "Occurrence", "Event", "Taxon")  # fmt: skip
# Two letters outside ISO 3166-1's user-assigned ranges (AA, QM-QZ, XA-XZ, ZZ): those
# name no country ("XX" is a common placeholder for "unknown").
_COUNTRY_CODE = r"^[A-Z]{2}$"
_USER_ASSIGNED_CODE = r"^(AA|Q[M-Z]|X[A-Z]|ZZ)$"


def check_required(run: ValidationRun, dataset_type: str, terms: list[str], file: str) -> None:
    for term in REQUIRED_TERMS.get(dataset_type, ()):
        if term not in terms:
            run.add(
                "REQUIRED_TERM_MISSING",
                f"no {term} column: GBIF asks for it in every {dataset_type} dataset",
                file=file,
                field=term,
            )


def check_records(
    run: ValidationRun,
    table: pa.Table,
    lines: pa.Array,
    file: str,
    occurrence: bool,
    parsed: dict[str, ParsedNumbers | pa.Array] | None = None,
) -> None:
    """Record-level warnings, vectorised: coordinates, dates, basisOfRecord.

    `parsed` receives the coordinates and plain days read on the way, for the stored layout.
    """
    parsed = {} if parsed is None else parsed
    columns = table.column_names
    for term, low, high in (("decimalLatitude", -90, 90), ("decimalLongitude", -180, 180)):
        if term not in columns:
            continue
        text = _text(table, term)
        number, invalid = parsed[term] = parse_numbers(text, DECIMAL)
        run.flag("COORDINATE_INVALID", invalid, text, lines, file, term,
                 "{term} {value!r} is not a decimal number")  # fmt: skip
        outside = pc.fill_null(pc.or_(pc.less(number, low), pc.greater(number, high)), False)
        run.flag("COORDINATE_OUT_OF_RANGE", outside, text, lines, file, term,
                 "{term} {value!r} is outside " + f"{low}..{high}")  # fmt: skip
    if "eventDate" in columns:
        text = _text(table, "eventDate")
        # Plain days are read in Arrow; the rest repeat, so each distinct one is parsed once.
        days = parsed["eventDate"] = plain_days(text)
        encoded = pc.dictionary_encode(pc.if_else(pc.is_null(days), text, ""))
        distinct = encoded.dictionary.to_pylist()
        good = pa.array([not v.strip() or is_iso_event_date(v) for v in distinct])
        bad = pc.invert(pc.take(good, encoded.indices))
        run.flag("RECORDED_DATE_INVALID", bad, text, lines, file, "eventDate",
                 "{term} {value!r} is not an ISO 8601 date or interval")  # fmt: skip
    for term in ("modified", "verbatimEventDate"):
        if term in columns:
            text = _text(table, term)
            encoded = pc.dictionary_encode(text)
            readable = [not v.strip() or parse_event_date(v)[1] is not None
                        for v in encoded.dictionary.to_pylist()]  # fmt: skip
            bad = pc.invert(pc.take(pa.array(readable), encoded.indices))
            run.flag("DATE_UNREADABLE", bad, text, lines, file, term,
                     "{term} {value!r} cannot be read as a date: an agreement with an embargo "
                     "keeps this record home")  # fmt: skip
    for term in THREAT_TERMS:
        if term in columns:
            text = _text(table, term)
            bad = pc.fill_null(pc.equal(category_codes(text), UNREADABLE), False)
            run.flag("THREAT_CATEGORY_UNREADABLE", bad, text, lines, file, term,
                     "{term} {value!r} is no IUCN category (EN, 濒危, Nguy cấp, EN B1ab(iii), "
                     "...): enforcement applies a flow's most restrictive sensitive rule to it; "
                     "translate it in the mapping")  # fmt: skip
    if "scientificName" in columns:
        text = _text(table, "scientificName")
        empty = pc.equal(pc.utf8_trim_whitespace(text), "")
        run.flag("SCIENTIFIC_NAME_MISSING", empty, text, lines, file, "scientificName",
                 "record has no {term}: GBIF cannot match it to a taxon")  # fmt: skip
    if "countryCode" in columns:
        text = _text(table, "countryCode")
        trimmed = pc.utf8_upper(pc.utf8_trim_whitespace(text))
        code = pc.and_(
            pc.match_substring_regex(trimmed, _COUNTRY_CODE),
            pc.invert(pc.match_substring_regex(trimmed, _USER_ASSIGNED_CODE)),
        )
        bad = pc.and_(pc.not_equal(trimmed, ""), pc.invert(code))  # fmt: skip
        run.flag("COUNTRY_CODE_INVALID", bad, text, lines, file, "countryCode",
                 "{term} {value!r} is no ISO 3166-1 alpha-2 code (CN, VN, ...)")  # fmt: skip
    if occurrence and "basisOfRecord" in columns:
        text = _text(table, "basisOfRecord")
        folded = pc.utf8_lower(pc.replace_substring(pc.utf8_trim_whitespace(text), "_", ""))
        known = pa.array([b.lower() for b in BASIS_OF_RECORD])
        bad = pc.and_(pc.not_equal(folded, ""), pc.invert(pc.is_in(folded, value_set=known)))
        run.flag("BASIS_OF_RECORD_INVALID", bad, text, lines, file, "basisOfRecord",
                 "{term} {value!r} is not in the Darwin Core type vocabulary "
                 "(PreservedSpecimen, HumanObservation, ...); the IPT refuses it")  # fmt: skip


def check_ids(
    run: ValidationRun, ids: IdStore, values: pa.ChunkedArray | pa.Array, lines: pa.Array,
    file: str, term: str, store: str | None = None,
) -> None:  # fmt: skip
    text = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    text = text.fill_null("")
    empty = pc.equal(pc.utf8_trim_whitespace(text), "")
    run.flag("ID_MISSING", empty, text, lines, file, term, "record has no {term}")
    store = store or f"key:{file}:{term}"
    ids.add(store, text, lines)
    if (store, file, term) not in run.uniqueness:
        run.uniqueness.append((store, file, term))


def finish_ids(run: ValidationRun, ids: IdStore) -> None:
    for store, file, term in run.uniqueness:
        extra, examples = ids.duplicates(store, run.limit)
        for value, count, lines in examples:
            run.add("ID_DUPLICATED", _repeat_message(term, value, count, lines), count=0,
                    file=file, line=lines[0], field=term, value=value)  # fmt: skip
        run.counts["ID_DUPLICATED"] += extra
    if not run.counts["ID_DUPLICATED"]:
        del run.counts["ID_DUPLICATED"]


def check_references(run: ValidationRun, ids: IdStore, file: str, core: str) -> None:
    count, examples = ids.orphans(f"ref:{file}", "core", run.limit)
    for line, value in examples:
        run.add("RECORD_REFERENTIAL_INTEGRITY_VIOLATION",
                f"coreid {value!r} matches no row of {core}", count=0, file=file,
                line=line, field="coreid", value=value)  # fmt: skip
    if count:
        run.counts["RECORD_REFERENTIAL_INTEGRITY_VIOLATION"] += count


class OccurrenceRule:
    """GBIF's identifier rule for occurrences: unique occurrenceIDs, or else unique triplets
    with at most 25% incomplete."""

    def __init__(self, run: ValidationRun, ids: IdStore) -> None:
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
        ids_hold = self.missing == 0 and extra_ids == 0
        # Triplets decide only when the ids do not hold; otherwise their grouping is skipped.
        extra_triplets, triplet_examples = (
            (0, []) if ids_hold else self.ids.duplicates("triplet", run.limit)
        )
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


def _text(table: pa.Table, column: str) -> pa.Array:
    values = table.column(column).combine_chunks()
    if not pa.types.is_string(values.type):
        values = pc.cast(values, pa.string())
    return values.fill_null("")


def _repeat_message(term: str, value: str, count: int, lines: list[int]) -> str:
    shown = ", ".join(map(str, lines)) + (", ..." if count > len(lines) else "")
    return f"{term} {value!r} is used by {count:,} records (lines {shown})"
