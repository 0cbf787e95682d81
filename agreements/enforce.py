"""Enforcement: what one flow of an agreement lets a table of records become on export.

A pure function of (table, agreement, flow, now): no I/O, no clock, no Python loop over
records (every rule is a pyarrow.compute expression; names and dates are read once per
distinct value), and the input table is never changed: Arrow arrays are immutable and each
step builds new columns. Deny by default: an agreement that is not active, a dataset the
flow does not name, or a flow that is not the agreement's sends nothing, and the report
says why. The rules run in a fixed order: dataset, basisOfRecord, taxa, region, embargo,
sensitive taxa (withhold or generalise; the most restrictive matching rule wins), withheld
fields, then licence and attribution on every record.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from agreements.generalise import (
    GRID_DEGREES,
    RESTATES_COORDINATES,
    generalise_coordinates,
    grid_text,
)
from agreements.model import IUCN_CATEGORIES, Agreement, AgreementState, Flow, SensitiveRule
from agreements.scope import (
    Classification,
    basis_mask,
    column,
    count,
    false,
    floats,
    region_mask,
    released,
    strings,
    taxa_mask,
    true,
)
from mappings.terms import FLOAT_TERMS, INT_TERMS

_IUCN_WORDS = {
    "EXTINCT": "EX", "EXTINCT IN THE WILD": "EW", "CRITICALLY ENDANGERED": "CR",
    "ENDANGERED": "EN", "VULNERABLE": "VU", "NEAR THREATENED": "NT",
    "LEAST CONCERN": "LC", "DATA DEFICIENT": "DD", "NOT EVALUATED": "NE",
}  # fmt: skip
_CC = re.compile(r"^CC-(BY(?:-NC)?(?:-SA|-ND)?)-4\.0$")
VERBATIM = "fed_verbatim"  # node.records: the text of values that failed their cast
_COORDINATES = (
    "decimalLatitude", "decimalLongitude", "coordinateUncertaintyInMeters", "coordinatePrecision",
)  # fmt: skip
# Per sensitive rule: the rule, which records it matches, and why, in words, per record.
_Hits = list[tuple[SensitiveRule, pa.Array, pa.Array]]
# Fields cleared by generalisation: their names, and per record a bit set of which.
_Cleared = tuple[list[str], pa.Array]


@dataclass
class EnforcementReport:
    """What a flow did to one table; JSON-ready through to_dict() for the audit log."""

    agreement: str
    agreement_sha256: str
    flow: str
    dataset: str
    status: str
    denied: str | None = None
    total: int = 0
    in_scope: int = 0
    out_of_scope: dict[str, int] = field(default_factory=dict)
    embargoed: int = 0
    withheld_sensitive: int = 0
    generalised: int = 0
    fields_withheld: dict[str, int] = field(default_factory=dict)
    fields_cleared: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    rules: list[dict[str, object]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def licence_uri(licence: str) -> str:
    """CC-BY-NC-4.0 -> the legal-code URI GBIF expects in `license`."""
    if licence == "CC0-1.0":
        return "http://creativecommons.org/publicdomain/zero/1.0/legalcode"
    match = _CC.match(licence)
    if match:
        return f"http://creativecommons.org/licenses/{match.group(1).lower()}/4.0/legalcode"
    return licence


def enforce(
    table: pa.Table,
    agreement: Agreement,
    flow: Flow,
    now: dt.datetime,
    dataset_id: str,
    red_list: Mapping[str, str] | None = None,
    *,
    state: AgreementState | None = None,
) -> tuple[pa.Table, EnforcementReport]:
    """The records `flow` lets leave the node, transformed as it requires, and a report.

    Args:
        table: records of `dataset_id` in the stored layout (node.records.normalise).
        now: the moment of export; decides validity and embargo.
        red_list: the node's red list, scientific name -> IUCN category, consulted
            beside the records' own iucnRedListCategory / threatStatus.
        state: the agreement's state when the caller already has it; by default
            enforcement verifies the agreement itself, so no caller can forget to.
    """
    state = state or agreement.status(now)
    report = EnforcementReport(agreement.ref, agreement.sha256, flow.label, dataset_id, "")
    report.status, report.total = state.status.value, table.num_rows
    table = table.combine_chunks()
    reason = "agreement"
    if not state.active:
        report.denied = f"agreement {agreement.ref} is {state.status.value}: {state.reason}"
    elif flow not in agreement.flows:
        report.denied = f"{flow.label} is not a flow of agreement {agreement.ref}"
    elif dataset_id not in flow.datasets:
        report.denied, reason = f"{flow.label} does not grant dataset '{dataset_id}'", "dataset"
    if report.denied:
        report.out_of_scope = {reason: table.num_rows}
        return _finish(table.slice(0, 0), agreement, flow, report, None)

    keep = true(table.num_rows)
    scope = (
        ("basis_of_record", basis_mask(table, flow), _basis_text(flow)),
        ("taxa", taxa_mask(Classification(table), flow), _taxa_text(flow)),
        ("region", region_mask(table, flow), _region_text(flow)),
    )
    for reason, mask, text in scope:
        report.out_of_scope[reason] = count(pc.and_(keep, pc.invert(mask)))
        report.rules.append({"rule": text, "records": report.out_of_scope[reason]})
        keep = pc.and_(keep, mask)
    report.in_scope = count(keep)
    if flow.embargo_days is not None:
        cutoff = now.date() - dt.timedelta(days=flow.embargo_days)
        recent = pc.invert(released(table, cutoff))
        report.embargoed = count(pc.and_(keep, recent))
        text = f"embargo {flow.embargo_days} days: records dated after {cutoff} or undated"
        report.rules.append({"rule": text, "records": report.embargoed})
        keep = pc.and_(keep, pc.invert(recent))
    table, cleared = _sensitive(table.filter(keep), agreement, flow, red_list, report)
    return _finish(table, agreement, flow, report, cleared)


def _finish(
    table: pa.Table,
    agreement: Agreement,
    flow: Flow,
    report: EnforcementReport,
    cleared: _Cleared | None,
) -> tuple[pa.Table, EnforcementReport]:
    """Withheld fields, licence and attribution: what every sent record carries."""
    rows = table.num_rows
    notice = f"withheld under agreement {agreement.ref}"
    withheld = [name for name in flow.withhold if name in table.column_names]
    for name in withheld:
        typed = name in FLOAT_TERMS or name in INT_TERMS
        value = pa.nulls(rows, table.schema.field(name).type) if typed else _constant(notice, rows)
        table = _put(table, name, value)
        report.fields_withheld[name] = rows
    table = _forget_verbatim(table, {name: true(rows) for name in withheld})
    if flow.withhold:
        report.rules.append({"rule": f"withhold {', '.join(flow.withhold)}", "records": rows})
    names, code = cleared or ([], pa.repeat(pa.scalar(0, pa.int64()), rows))
    by_code = {}  # one notice per combination of fields: few, whatever the row count
    for combination in pc.unique(code).to_pylist():
        fields = withheld + [n for bit, n in enumerate(names) if combination >> bit & 1]
        if fields:
            by_code[combination] = f"{', '.join(fields)} {notice}"
    if by_code:
        keys, texts = pa.array(list(by_code), pa.int64()), pa.array(list(by_code.values()))
        text = pc.take(texts, pc.index_in(code, keys))
        table = _put(table, "informationWithheld", _append_text(table, "informationWithheld", text))
    uri = licence_uri(flow.licence)
    table = _put(table, "license", _constant(uri, rows))
    # Attribution goes to rightsHolder, not bibliographicCitation: it names the institution
    # holding the rights, while bibliographicCitation says how to cite the record and is
    # often the source's own. A record naming its own rights holder keeps it: the GBIF Data
    # User Agreement asks that the identifier of ownership stay with every record shared on.
    holder = strings(table, "rightsHolder")
    named = pc.fill_null(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(holder)), 0), False)
    table = _put(table, "rightsHolder", pc.if_else(named, holder, flow.attribution))
    table = _put(table, "fed_licence", _constant(flow.licence, rows))
    table = _put(table, "fed_agreement", _constant(agreement.ref, rows))
    for name in ("informationWithheld", "dataGeneralizations"):
        if name not in table.column_names:
            table = _put(table, name, pa.nulls(rows, pa.string()))
    if "fed_generalised" not in table.column_names:
        table = _put(table, "fed_generalised", false(rows))
    text = f"licence {flow.licence} ({uri}); rightsHolder {flow.attribution} where none"
    report.rules.append({"rule": text, "records": rows})
    report.sent = rows
    return table, report


def _sensitive(
    table: pa.Table,
    agreement: Agreement,
    flow: Flow,
    red_list: Mapping[str, str] | None,
    report: EnforcementReport,
) -> tuple[pa.Table, _Cleared | None]:
    """Drop what a withhold rule matches; generalise what a generalise rule matches."""
    if not flow.sensitive:
        return table, None
    rows, taxa = table.num_rows, Classification(table)
    codes = _threat_codes(table)
    listed = _red_list_codes(taxa, red_list or {})
    hits: _Hits = []
    level = pa.repeat(pa.scalar(0, pa.int8()), rows)
    for rule in flow.sensitive:
        from_record = pc.fill_null(pc.is_in(codes, pa.array(rule.threat, pa.string())), False)
        category = pc.if_else(from_record, codes, pa.nulls(rows, pa.string()))
        for code in reversed(IUCN_CATEGORIES):  # the most severe category is set last
            if code in rule.threat and code in listed:
                listed_only = pc.and_(listed[code], pc.invert(from_record))
                category = pc.if_else(listed_only, pa.scalar(code), category)
        by_threat = pc.is_valid(category)
        by_name = taxa.match(rule.names.names) if rule.names else false(rows)
        hit = pc.or_(by_threat, by_name) if (rule.threat or rule.names) else true(rows)
        reason = pc.if_else(
            by_threat,
            pc.binary_join_element_wise("threat category ", category, ""),
            f"listed in {rule.names.path}" if rule.names else "a rule for every record",
        )
        hits.append((rule, hit, reason))
        level = pc.max_element_wise(level, pc.if_else(hit, pa.scalar(rule.level, pa.int8()), 0))
    withheld = pc.equal(level, 4)
    report.withheld_sensitive = count(withheld)
    for rule, hit, _ in hits:
        decisive = count(pc.and_(hit, pc.equal(level, rule.level)))
        report.rules.append({"rule": rule.describe(), "records": count(hit), "decisive": decisive})
    kept = pc.invert(withheld)
    hits = [(rule, hit.filter(kept), reason.filter(kept)) for rule, hit, reason in hits]
    return _generalise(table.filter(kept), agreement, hits, level.filter(kept), report)


def _generalise(
    table: pa.Table,
    agreement: Agreement,
    hits: _Hits,
    level: pa.Array,
    report: EnforcementReport,
) -> tuple[pa.Table, _Cleared | None]:
    rows = table.num_rows
    grid = pa.nulls(rows, pa.float64())
    for rule_level, degrees in zip((3, 2, 1), GRID_DEGREES, strict=True):
        grid = pc.if_else(pc.equal(level, rule_level), degrees, grid)
    generalised = pc.is_valid(grid)
    report.generalised = count(generalised)
    if report.generalised == 0:
        return table, None
    latitude, longitude = floats(table, "decimalLatitude"), floats(table, "decimalLongitude")
    uncertainty, precision = (floats(table, name) for name in _COORDINATES[2:])
    new = generalise_coordinates(latitude, longitude, uncertainty, precision, grid)
    for name, values in zip(_COORDINATES, new, strict=True):
        table = _put(table, name, values)
    table = _forget_verbatim(table, dict.fromkeys(_COORDINATES, generalised))
    # The decisive rule's reason: the first rule, in document order, at the record's level.
    reason = pa.nulls(rows, pa.string())
    for rule, hit, rule_reason in reversed(hits):
        reason = pc.if_else(pc.and_(hit, pc.equal(level, rule.level)), rule_reason, reason)
    words = pa.nulls(rows, pa.string())
    for degrees in GRID_DEGREES:
        words = pc.if_else(pc.equal(grid, degrees), grid_text(degrees), words)
    under = f" degrees under agreement {agreement.ref}: "
    message = pc.binary_join_element_wise("Coordinates generalised to ", words, under, reason, "")
    has_point = pc.or_(pc.is_valid(latitude), pc.is_valid(longitude))
    message = pc.if_else(pc.and_(generalised, has_point), message, None)
    table = _put(table, "dataGeneralizations", _append_text(table, "dataGeneralizations", message))
    # Clearing is a union: a field that any matching generalise rule clears is cleared.
    cleared_by: dict[str, pa.Array] = {}
    for rule, hit, _ in hits:
        for name in (*rule.clear, *RESTATES_COORDINATES) if rule.action == "generalise" else ():
            if name in table.column_names:
                cleared_by[name] = pc.or_(cleared_by.get(name, false(rows)), hit)
    code = pa.repeat(pa.scalar(0, pa.int64()), rows)
    for bit, (name, by) in enumerate(cleared_by.items()):
        mask = pc.and_(by, generalised)
        report.fields_cleared[name] = count(mask)
        typed = name in FLOAT_TERMS or name in INT_TERMS
        empty = pa.nulls(rows, table.schema.field(name).type) if typed else ""
        table = _put(table, name, pc.if_else(mask, empty, column(table, name)))
        table = _forget_verbatim(table, {name: mask})
        code = pc.add(code, pc.if_else(mask, 1 << bit, 0))
    flag = generalised
    if "fed_generalised" in table.column_names:
        flag = pc.or_(pc.fill_null(column(table, "fed_generalised"), False), generalised)
    return _put(table, "fed_generalised", flag), (list(cleared_by), code)


def _forget_verbatim(table: pa.Table, drop: Mapping[str, pa.Array]) -> pa.Table:
    """Remove each term's entry from `fed_verbatim` in the records where its mask is true.

    `fed_verbatim` keeps the text of a value that failed its cast (node.records), and the
    archive writer publishes that text wherever the typed value is null. Enforcement nulls
    typed values on purpose (withheld fields, cleared fields, a coordinate it generalises),
    so their verbatim text must go too, or "23°27'31.5\"N" would be sent in place of the
    null. Entries of other terms stay: their text is what the source said.
    """
    if VERBATIM not in table.column_names or not drop:
        return table
    verbatim = column(table, VERBATIM)
    if verbatim.null_count == len(verbatim):
        return table
    as_list = verbatim.cast(pa.list_(pa.struct([("key", pa.string()), ("value", pa.string())])))
    entries = pc.list_flatten(as_list)
    parents = pc.list_parent_indices(as_list)
    keys = pc.struct_field(entries, "key")
    dropped = false(len(entries))
    for term, mask in drop.items():
        here = pc.and_(pc.equal(keys, term), pc.take(pc.fill_null(mask, False), parents))
        dropped = pc.or_(dropped, pc.fill_null(here, False))
    if not pc.any(dropped).as_py():
        return table
    kept = pc.invert(dropped)
    per_record = np.bincount(parents.filter(kept).to_numpy(), minlength=len(verbatim))
    offsets = pa.array(np.concatenate(([0], np.cumsum(per_record))), pa.int32())
    rebuilt = pa.MapArray.from_arrays(
        offsets,
        pc.struct_field(entries, "key").filter(kept),
        pc.struct_field(entries, "value").filter(kept),
        type=verbatim.type,
        mask=verbatim.is_null(),
    )
    return _put(table, VERBATIM, rebuilt)


def _threat_codes(table: pa.Table) -> pa.Array:
    """IUCN code of each record from iucnRedListCategory, else threatStatus; null if none."""
    name = "iucnRedListCategory" if "iucnRedListCategory" in table.column_names else "threatStatus"
    encoded = pc.dictionary_encode(strings(table, name))
    text = pc.utf8_upper(pc.utf8_trim_whitespace(encoded.dictionary))
    text = pc.replace_substring_regex(text, r"[_\-\s]+", " ")
    codes = pc.if_else(pc.is_in(text, pa.array(IUCN_CATEGORIES)), text, None)
    for words, code in _IUCN_WORDS.items():
        codes = pc.if_else(pc.equal(text, words), code, codes)
    return pc.take(codes, encoded.indices)


def _red_list_codes(taxa: Classification, red_list: Mapping[str, str]) -> dict[str, pa.Array]:
    """Per IUCN code, which records the node's red list puts in it."""
    names: dict[str, list[str]] = {}
    for name, category in red_list.items():
        code = _IUCN_WORDS.get(category.strip().upper(), category.strip().upper())
        if code not in IUCN_CATEGORIES:
            raise ValueError(f"red list: '{category}' for {name} is not an IUCN category")
        names.setdefault(code, []).append(name)
    return {code: taxa.match(group) for code, group in names.items()}


def _append_text(table: pa.Table, name: str, addition: pa.Array | str) -> pa.Array:
    """Existing text, then " | " (the Darwin Core list separator), then ours where given."""
    existing = strings(table, name)
    has = pc.fill_null(pc.greater(pc.utf8_length(existing), 0), False)
    joined = pc.if_else(has, pc.binary_join_element_wise(existing, addition, " | "), addition)
    return pc.coalesce(joined, existing)


def _put(table: pa.Table, name: str, column: pa.Array | pa.ChunkedArray) -> pa.Table:
    """A new table with `name` replaced or appended; `table` itself is untouched."""
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, column)
    return table.append_column(name, column)


def _constant(value: str, rows: int) -> pa.Array:
    return pa.repeat(pa.scalar(value, pa.string()), rows)


def _basis_text(flow: Flow) -> str:
    return "basisOfRecord: " + (", ".join(flow.basis_of_record) or "any")


def _taxa_text(flow: Flow) -> str:
    include = ", ".join(flow.taxa.include) or "every taxon"
    return f"taxa: {include}" + (
        f" except {', '.join(flow.taxa.exclude)}" if flow.taxa.exclude else ""
    )


def _region_text(flow: Flow) -> str:
    parts = [f"countryCode in {', '.join(flow.region.countries)}"] if flow.region.countries else []
    if flow.region.bbox:
        parts.append(f"within bbox {list(flow.region.bbox)} (minLon, minLat, maxLon, maxLat)")
    return "region: " + (" and ".join(parts) or "anywhere")
