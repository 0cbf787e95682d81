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
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from agreements.disclosure import (
    NODE_COLUMN_PREFIX,
    NON_LOCATING_TERMS,
    PUBLIC_TAXON_TERMS,
    restated_values,
    restates_point,
    with_companions,
)
from agreements.embargo import released
from agreements.generalise import (
    GRID_DEGREES,
    RESTATES_COORDINATES,
    generalise_coordinates,
    grid_text,
)
from agreements.model import Agreement, AgreementState, Flow, SensitiveRule
from agreements.pseudonyms import ID_TERMS, SPECIMEN_NUMBER_TERMS, pseudonymise
from agreements.scope import (
    Classification,
    all_false,
    all_true,
    basis_mask,
    column,
    count_true,
    floats,
    region_mask,
    strings,
    taxa_mask,
)
from agreements.threat import CATEGORIES, UNREADABLE, parse_category, record_categories
from node.core.licences import licence_url
from node.core.terms import FLOAT_TERMS, INT_TERMS

VERBATIM = "fed_verbatim"  # node.store.records: the text of values that failed their cast
_COORDINATES = (
    "decimalLatitude", "decimalLongitude", "coordinateUncertaintyInMeters", "coordinatePrecision",
)  # fmt: skip
# Per sensitive rule: the rule, which records it matches, and why, in words, per record.
_Hits = list[tuple[SensitiveRule, pa.Array, pa.Array]]
# Fields emptied in some records: (name, mask), in the order they were emptied.
_Cleared = list[tuple[str, pa.Array]]
# A withheld term's values before any rule changed them, for the second net; never sent.
_SECRET = "fed_secret_"
# Written by enforcement itself: never cleared, never searched by the second net.
_WRITTEN = frozenset({"license", "rightsHolder", "informationWithheld", "dataGeneralizations"})


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
    unreadable_categories: int = 0
    fields_withheld: dict[str, int] = field(default_factory=dict)
    fields_cleared: dict[str, int] = field(default_factory=dict)
    second_net: dict[str, int] = field(default_factory=dict)
    pseudonymised: int = 0
    sent: int = 0
    rules: list[dict[str, object]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def enforce(
    table: pa.Table,
    agreement: Agreement,
    flow: Flow,
    now: dt.datetime,
    dataset_id: str,
    red_list: Mapping[str, str] | None = None,
    *,
    state: AgreementState | None = None,
    pseudonym_key: bytes | None = None,
) -> tuple[pa.Table, EnforcementReport]:
    """The records `flow` lets leave the node, transformed as it requires, and a report.

    Args:
        table: records of `dataset_id` in the stored layout (node.store.records.to_stored_layout).
        now: the moment of export; decides validity and embargo.
        red_list: the node's red list, scientific name -> category text, consulted
            beside the records' own iucnRedListCategory / threatStatus; the more severe
            category decides, and an unreadable one counts as the most severe.
        state: the agreement's state when the caller already has it; by default
            enforcement verifies the agreement itself, so no caller can forget to.
        pseudonym_key: the node's secret for `opaque_ids` flows; such a flow sends
            nothing without it.
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
    elif flow.problem:
        report.denied = f"{flow.problem}; this flow shares nothing"
    elif flow.opaque_ids and not pseudonym_key:
        report.denied = f"{flow.label} asks for opaque ids and no pseudonym key was given"
    elif dataset_id not in flow.datasets:
        report.denied, reason = f"{flow.label} does not grant dataset '{dataset_id}'", "dataset"
    if report.denied:
        report.out_of_scope = {reason: table.num_rows}
        return _finish(table.slice(0, 0), agreement, flow, report, [], None)

    keep = all_true(table.num_rows)
    scope = (
        ("basis_of_record", basis_mask(table, flow), _basis_text(flow)),
        ("taxa", taxa_mask(Classification(table), flow), _taxa_text(flow)),
        ("region", region_mask(table, flow), _region_text(flow)),
    )
    for reason, mask, text in scope:
        report.out_of_scope[reason] = count_true(pc.and_(keep, pc.invert(mask)))
        report.rules.append({"rule": text, "records": report.out_of_scope[reason]})
        keep = pc.and_(keep, mask)
    report.in_scope = count_true(keep)
    if flow.embargo_days is not None:
        cutoff = now.date() - dt.timedelta(days=flow.embargo_days)
        recent = pc.invert(released(table, cutoff))
        report.embargoed = count_true(pc.and_(keep, recent))
        text = (
            f"embargo {flow.embargo_days} days: records with any date after {cutoff}, "
            "an unreadable date, or none"
        )
        report.rules.append({"rule": text, "records": report.embargoed})
        keep = pc.and_(keep, pc.invert(recent))
    table = table.filter(keep)
    # The withheld values as the records hold them now, before generalisation empties some of
    # them: the second net must still find them in the fields that survive.
    for name in flow.withhold:
        if name in table.column_names:
            table = _put(table, _SECRET + name, strings(table, name))
    table, cleared = _sensitive(table, agreement, flow, red_list, report)
    return _finish(table, agreement, flow, report, cleared, pseudonym_key)


def _finish(
    table: pa.Table,
    agreement: Agreement,
    flow: Flow,
    report: EnforcementReport,
    cleared: _Cleared,
    pseudonym_key: bytes | None,
) -> tuple[pa.Table, EnforcementReport]:
    """Withheld fields, licence and attribution: what every sent record carries."""
    rows = table.num_rows
    notice = f"withheld under agreement {agreement.ref}"
    withheld = [name for name in with_companions(flow.withhold) if name in table.column_names]
    # The second net searches for the withheld terms' own values; a companion (a label
    # transcription) is withheld whole, and its other words are no secret of the flow.
    originals = {name: strings(table, _SECRET + name) for name in flow.withhold if name in withheld}
    table = table.drop_columns([c for c in table.column_names if c.startswith(_SECRET)])
    for name in withheld:
        typed = name in FLOAT_TERMS or name in INT_TERMS or not _is_text(table, name)
        value = pa.nulls(rows, table.schema.field(name).type) if typed else _constant(notice, rows)
        table = _put(table, name, value)
        report.fields_withheld[name] = rows
    table = _forget_verbatim(table, {name: all_true(rows) for name in withheld})
    if flow.withhold:
        shown = ", ".join(withheld) or ", ".join(flow.withhold)
        report.rules.append({"rule": f"withhold {shown}", "records": rows})
    table, net = _second_net_values(table, originals, report)
    cleared = [*cleared, *net]
    if flow.opaque_ids and pseudonym_key:
        table = _pseudonymise(table, agreement, pseudonym_key, report)
        table, numbers = _clear_specimen_numbers(table, report)
        cleared = [*cleared, *numbers]
    names = _notice_names(rows, withheld, cleared)
    if names is not None:
        text = pc.binary_join_element_wise(names, f" {notice}", "")
        table = _put(table, "informationWithheld", _append_text(table, "informationWithheld", text))
    uri = licence_url(flow.licence)
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
        table = _put(table, "fed_generalised", all_false(rows))
    text = f"licence {flow.licence} ({uri}); rightsHolder {flow.attribution} where none"
    report.rules.append({"rule": text, "records": rows})
    report.sent = rows
    return table, report


def _notice_names(rows: int, withheld: list[str], cleared: _Cleared) -> pa.Array | None:
    """Per record, the names of the fields emptied in it, comma-separated (null if none)."""
    columns: list[pa.Array | str] = [", ".join(withheld)] if withheld else []
    masks: dict[str, pa.Array] = {}  # a field may be emptied by several steps, in other rows
    for name, mask in cleared:
        if name not in withheld:
            masks[name] = pc.or_(masks[name], mask) if name in masks else mask
    for name, mask in masks.items():
        columns.append(pc.if_else(mask, name, pa.scalar(None, pa.string())))
    if not columns or rows == 0:
        return None
    if len(columns) == 1 and isinstance(columns[0], str):
        return _constant(columns[0], rows)
    arrays = [_constant(c, rows) if isinstance(c, str) else c for c in columns]
    # null_handling="skip" drops the rows where every value is null (pyarrow 26): join with
    # a unit separator instead, then collapse it.
    joined = pc.binary_join_element_wise(
        *arrays, "\x1f", null_handling="replace", null_replacement=""
    )
    joined = pc.utf8_trim(pc.replace_substring_regex(joined, "\x1f+", ", "), ", ")
    return pc.if_else(pc.greater(pc.utf8_length(joined), 0), joined, None)


def _searchable(table: pa.Table, exclude: set[str]) -> list[str]:
    """Text columns the second net searches: not ids, names of taxa, or what we write."""
    return [
        name
        for name in table.column_names
        if name not in exclude
        and name not in _WRITTEN
        and name not in PUBLIC_TAXON_TERMS
        and name not in ID_TERMS
        and not name.startswith(NODE_COLUMN_PREFIX)
        and _is_text(table, name)
    ]


def _second_net_values(
    table: pa.Table, originals: Mapping[str, pa.Array], report: EnforcementReport
) -> tuple[pa.Table, _Cleared]:
    """Clear any other text field that restates a withheld value ("leg. Wen F. 123")."""
    cleared: _Cleared = []
    if not originals or table.num_rows == 0:
        return table, cleared
    candidates = _searchable(table, set(originals))
    if not candidates:
        return table, cleared
    found: dict[str, pa.Array] = {}
    texts = {name: strings(table, name) for name in candidates}
    for values in originals.values():
        for name, mask in restated_values(texts, values).items():
            found[name] = pc.or_(found[name], mask) if name in found else mask
    for name, mask in found.items():
        hits = count_true(mask)
        if hits:
            report.second_net[name] = report.second_net.get(name, 0) + hits
            table = _put(table, name, pc.if_else(mask, "", texts[name]))
            table = _forget_verbatim(table, {name: mask})
            cleared.append((name, mask))
    return table, cleared


def _pseudonymise(
    table: pa.Table, agreement: Agreement, key: bytes, report: EnforcementReport
) -> pa.Table:
    for name in ID_TERMS:
        if name in table.column_names:
            table = _put(table, name, pseudonymise(strings(table, name), key, agreement.id))
            report.pseudonymised = table.num_rows
    return table


def _clear_specimen_numbers(
    table: pa.Table, report: EnforcementReport
) -> tuple[pa.Table, _Cleared]:
    """Numbers that identify the specimen as surely as the id the flow hides."""
    cleared: _Cleared = []
    for name in SPECIMEN_NUMBER_TERMS:
        if name not in table.column_names:
            continue
        mask = _has_value(table, name)
        report.fields_cleared[name] = report.fields_cleared.get(name, 0) + count_true(mask)
        table = _put(table, name, _emptied(table, name, mask))
        table = _forget_verbatim(table, {name: mask})
        cleared.append((name, mask))
    return table, cleared


def _emptied(table: pa.Table, name: str, mask: pa.Array) -> pa.Array:
    """The column with the masked values emptied: null when typed, "" when text."""
    values = column(table, name)
    empty = "" if _is_text(table, name) else pa.nulls(table.num_rows, values.type)
    return pc.if_else(mask, empty, values)


def _is_text(table: pa.Table, name: str) -> bool:
    kind = table.schema.field(name).type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _sensitive(
    table: pa.Table,
    agreement: Agreement,
    flow: Flow,
    red_list: Mapping[str, str] | None,
    report: EnforcementReport,
) -> tuple[pa.Table, _Cleared]:
    """Drop what a withhold rule matches; generalise what a generalise rule matches.

    A record's category is the most severe of its own iucnRedListCategory /
    threatStatus and of the node's red list for its name (or accepted name). A category
    written but unreadable matches the flow's most restrictive rule: the node decides who
    is sensitive, and cannot decide on text it does not understand.
    """
    rows, taxa = table.num_rows, Classification(table)
    own = record_categories(table)
    listed = _red_list_masks(taxa, red_list or {})
    unreadable = pc.or_(
        pc.fill_null(pc.equal(own, UNREADABLE), False), listed.pop(UNREADABLE, all_false(rows))
    )
    report.unreadable_categories = count_true(unreadable)
    if not flow.sensitive:
        return table, []
    hits: _Hits = []
    level = pa.repeat(pa.scalar(0, pa.int8()), rows)
    top = max(rule.level for rule in flow.sensitive)
    for rule in flow.sensitive:
        # Every category a record has counts (its own and the red list's), not only the
        # most severe: a rule for EN must still catch a record the red list calls CR.
        from_record = pc.fill_null(pc.is_in(own, pa.array(rule.threat, pa.string())), False)
        category = pc.if_else(from_record, own, pa.nulls(rows, pa.string()))
        for code in reversed(CATEGORIES):  # the most severe category is set last
            if code in rule.threat and code in listed:
                category = pc.if_else(listed[code], pa.scalar(code), category)
        by_threat = pc.is_valid(category)
        if rule.level == top:
            by_threat = pc.or_(by_threat, unreadable)
        by_name = taxa.match(rule.names.names) if rule.names else all_false(rows)
        hit = pc.or_(by_threat, by_name) if (rule.threat or rule.names) else all_true(rows)
        text = pc.if_else(
            unreadable,
            pa.scalar("an unreadable threat category (the most restrictive rule applies)"),
            pc.binary_join_element_wise("threat category ", category, ""),
        )
        reason = pc.if_else(
            by_threat,
            text,
            f"listed in {rule.names.path}" if rule.names else "a rule for every record",
        )
        hits.append((rule, hit, reason))
        level = pc.max_element_wise(level, pc.if_else(hit, pa.scalar(rule.level, pa.int8()), 0))
    withheld = pc.equal(level, 4)
    report.withheld_sensitive = count_true(withheld)
    for rule, hit, _ in hits:
        decisive = count_true(pc.and_(hit, pc.equal(level, rule.level)))
        records = count_true(hit)
        report.rules.append({"rule": rule.describe(), "records": records, "decisive": decisive})
    if report.unreadable_categories:
        report.rules.append(
            {
                "rule": "unreadable threat category -> the flow's most restrictive rule",
                "records": report.unreadable_categories,
            }
        )
    kept = pc.invert(withheld)
    hits = [(rule, hit.filter(kept), reason.filter(kept)) for rule, hit, reason in hits]
    return _generalise(table.filter(kept), agreement, flow, hits, level.filter(kept), report)


def _generalise(
    table: pa.Table,
    agreement: Agreement,
    flow: Flow,
    hits: _Hits,
    level: pa.Array,
    report: EnforcementReport,
) -> tuple[pa.Table, _Cleared]:
    """Snap to the grid, then keep only the allow-list (and `keep`) in generalised records,
    then clear any kept text that still restates the exact point."""
    rows = table.num_rows
    grid = pa.nulls(rows, pa.float64())
    for rule_level, degrees in zip((3, 2, 1), GRID_DEGREES, strict=True):
        grid = pc.if_else(pc.equal(level, rule_level), degrees, grid)
    generalised = pc.is_valid(grid)
    report.generalised = count_true(generalised)
    if report.generalised == 0:
        return table, []
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
    # What a generalised record loses: every field off the allow-list the flow does not keep,
    # and what any matching rule clears by name.
    clear_by: dict[str, pa.Array] = {}
    for name in table.column_names:
        allowed = name in NON_LOCATING_TERMS or name in flow.keep
        if not allowed and not name.startswith(NODE_COLUMN_PREFIX) and name not in _WRITTEN:
            clear_by[name] = generalised
    for rule, hit, _ in hits:
        for name in (*rule.clear, *RESTATES_COORDINATES) if rule.action == "generalise" else ():
            if name in table.column_names:
                before = clear_by.get(name, all_false(rows))
                clear_by[name] = pc.or_(before, pc.and_(hit, generalised))
    cleared: _Cleared = []
    for name, by in clear_by.items():
        mask = pc.and_(by, _has_value(table, name))
        hits_here = count_true(mask)
        if hits_here:
            report.fields_cleared[name] = report.fields_cleared.get(name, 0) + hits_here
            table = _put(table, name, _emptied(table, name, mask))
            cleared.append((name, mask))
    table = _forget_verbatim(table, {name: generalised for name in clear_by})
    table, net = _second_net_point(table, latitude, longitude, grid, set(clear_by), report)
    flag = generalised
    if "fed_generalised" in table.column_names:
        flag = pc.or_(pc.fill_null(column(table, "fed_generalised"), False), generalised)
    return _put(table, "fed_generalised", flag), [*cleared, *net]


def _second_net_point(
    table: pa.Table,
    latitude: pa.Array,
    longitude: pa.Array,
    grid: pa.Array,
    already: set[str],
    report: EnforcementReport,
) -> tuple[pa.Table, _Cleared]:
    """Clear kept text of a generalised record that restates its exact point."""
    cleared: _Cleared = []
    generalised = pc.is_valid(grid)
    rows = pc.indices_nonzero(generalised)
    for name in table.column_names:
        if name in already or name in _WRITTEN or name.startswith(NODE_COLUMN_PREFIX):
            continue
        if not _is_text(table, name):
            continue
        text = pc.take(strings(table, name), rows)
        found = restates_point(
            text, pc.take(latitude, rows), pc.take(longitude, rows), pc.take(grid, rows)
        )
        hits = count_true(found)
        if not hits:
            continue
        mask = pc.is_in(
            pa.array(range(table.num_rows), pa.uint64()), pc.cast(rows.filter(found), pa.uint64())
        )
        report.second_net[name] = report.second_net.get(name, 0) + hits
        table = _put(table, name, _emptied(table, name, mask))
        table = _forget_verbatim(table, {name: mask})
        cleared.append((name, mask))
    return table, cleared


def _has_value(table: pa.Table, name: str) -> pa.Array:
    values = column(table, name)
    if _is_text(table, name):
        return pc.fill_null(pc.greater(pc.utf8_length(values), 0), False)
    return pc.is_valid(values)


def _forget_verbatim(table: pa.Table, drop: Mapping[str, pa.Array]) -> pa.Table:
    """Remove each term's entry from `fed_verbatim` in the records where its mask is true.

    `fed_verbatim` keeps the text of a value that failed its cast (node.store.records), and the
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
    dropped = all_false(len(entries))
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


def _red_list_masks(taxa: Classification, red_list: Mapping[str, str]) -> dict[str, pa.Array]:
    """Per category (UNREADABLE included), which records the node's red list puts in it."""
    names: dict[str, list[str]] = {}
    for name, text in red_list.items():
        code = parse_category(text)
        if code is not None:
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
