"""Which records a flow covers: basisOfRecord, taxa, region and embargo as Arrow masks.

Every function returns a boolean array without nulls, one value per record, and fails
closed: a record missing the value a rule needs (no country, no coordinates, no date)
is outside the rule. Text is compared once per distinct value (dictionary encoding), so
a million records with a few thousand names cost a few thousand comparisons.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

import pyarrow as pa
import pyarrow.compute as pc

from agreements.model import Flow, normalise_name
from node.core.dates import parse_event_date
from node.core.numbers import DECIMAL
from node.core.terms import CLASSIFICATION_TERMS

ACCEPTED_NAME = "fed_accepted_name"  # written by name reconciliation, when it has run
# The accepted name the node's own checklists give (node.publish.own_checklists): trusted to widen.
TRUSTED_ACCEPTED_NAME = "fed_trusted_accepted_name"
# A record's family as the node's checklists give it for the record's genus: a record with
# an empty family must not slip past a family the flow excludes (or miss one it includes).
INFERRED_FAMILY = "fed_inferred_family"
# Matched by their canonical start.
_FULL_NAMES = ("scientificName", ACCEPTED_NAME, TRUSTED_ACCEPTED_NAME)


class Classification:
    """A table's taxon columns, split into lower-case words once per distinct value."""

    def __init__(self, table: pa.Table) -> None:
        self.columns: dict[str, tuple[pa.Array, pa.Array]] = {}
        for term in (*CLASSIFICATION_TERMS, ACCEPTED_NAME, TRUSTED_ACCEPTED_NAME, INFERRED_FAMILY):
            if term in table.column_names:
                encoded = pc.dictionary_encode(strings(table, term))
                # Composed (NFC) as lists are read: a store written before text was
                # composed on the way in may still spell 'Isoëtes' with a combining mark.
                composed = pc.utf8_normalize(encoded.dictionary, "NFC")
                words = pc.utf8_split_whitespace(pc.utf8_lower(composed))
                self.columns[term] = (encoded.indices, words)
        self.rows = table.num_rows

    def match(self, names: Iterable[str], skip: Iterable[str] = ()) -> pa.Array:
        """True where any taxon column equals a name, or a full name starts with one.

        "Primulina" matches genus Primulina and scientificName "Primulina eburnea (Hance)
        Yin Z.Wang"; "Primulina eb" matches nothing, since names compare word by word.
        Columns named in `skip` are not consulted.
        """
        skipped = set(skip)
        wanted = {normalise_name(n) for n in names if n.strip()}
        by_words: dict[int, list[str]] = {}
        for name in sorted(wanted):
            by_words.setdefault(len(name.split()), []).append(name)
        everything = pa.array(sorted(wanted), pa.string())
        mask = all_false(self.rows)
        for term, (indices, words) in self.columns.items():
            if term in skipped:
                continue
            if term in _FULL_NAMES:
                hit = all_false(len(words))
                for count, group in by_words.items():
                    start = pc.binary_join(pc.list_slice(words, 0, count), " ")
                    hit = pc.or_(hit, pc.is_in(start, pa.array(group, pa.string())))
            else:
                hit = pc.is_in(pc.binary_join(words, " "), everything)
            mask = pc.or_(mask, pc.fill_null(pc.take(hit, indices), False))
        return mask


def taxa_mask(taxa: Classification, flow: Flow) -> pa.Array:
    """Include on names the node trusts; exclude on every name, a partner's too.

    An include matched through reconciled accepted names could be widened by a partner's
    checklist (declare this node's orchids synonyms of an included taxon); an exclude
    matched through them can only send less.
    """
    include = taxa.match(flow.taxa.include, skip=(ACCEPTED_NAME,))
    mask = include if flow.taxa.include else all_true(taxa.rows)
    if flow.taxa.exclude:
        mask = pc.and_(mask, pc.invert(taxa.match(flow.taxa.exclude)))
    return mask


def basis_mask(table: pa.Table, flow: Flow) -> pa.Array:
    """PRESERVED_SPECIMEN (GBIF) and PreservedSpecimen (Darwin Core) are the same value."""
    if not flow.basis_of_record:
        return all_true(table.num_rows)
    allowed = pa.array([b.replace("_", "").lower() for b in flow.basis_of_record], pa.string())

    def is_allowed(values: pa.Array) -> pa.Array:
        return pc.is_in(pc.utf8_lower(pc.replace_substring_regex(values, r"[_\s]", "")), allowed)

    return pc.fill_null(per_distinct(strings(table, "basisOfRecord"), is_allowed), False)


def region_mask(table: pa.Table, flow: Flow) -> pa.Array:
    """countryCode in the list and the point inside the box, edges included."""
    mask = all_true(table.num_rows)
    if flow.region.countries:
        countries = pa.array(flow.region.countries, pa.string())

        def is_listed(values: pa.Array) -> pa.Array:
            return pc.is_in(pc.utf8_upper(pc.utf8_trim_whitespace(values)), countries)

        in_country = per_distinct(strings(table, "countryCode"), is_listed)
        mask = pc.and_(mask, pc.fill_null(in_country, False))
    if flow.region.bbox:
        min_lon, min_lat, max_lon, max_lat = flow.region.bbox
        lat, lon = floats(table, "decimalLatitude"), floats(table, "decimalLongitude")
        inside = pc.and_(
            pc.and_(pc.greater_equal(lon, min_lon), pc.less_equal(lon, max_lon)),
            pc.and_(pc.greater_equal(lat, min_lat), pc.less_equal(lat, max_lat)),
        )
        mask = pc.and_(mask, pc.fill_null(inside, False))
    return mask


def released(table: pa.Table, cutoff: dt.date) -> pa.Array:
    """True where the record's latest date is on or before `cutoff`.

    The date is the later of `modified` and the end of the event (fed_event_end, or
    eventDate when the table has no parsed dates), whichever of them is readable: an old
    `modified` (a template's, a migration's) must not release a record observed last week
    or dated in the future, and the most restrictive reading wins. A partial date counts
    as its last day (2025 -> 2025-12-31); a record with no usable date is held back.
    """
    when = end_dates(strings(table, "modified"))
    if "fed_event_end" in table.column_names:
        event_end = pc.cast(column(table, "fed_event_end"), pa.date32())
    else:  # an interval counts to its end, as in the stored fed_event_end
        event_end = end_dates(strings(table, "eventDate"))
    when = pc.max_element_wise(when, event_end, skip_nulls=True)
    return pc.fill_null(pc.less_equal(when, pa.scalar(cutoff, pa.date32())), False)


def end_dates(text: pa.Array) -> pa.Array:
    """The last day each text covers, read as node.core.dates reads every date, else null.

    One reader for the stored event dates and for embargoes: a form the records parser
    understands (`20/11/2026`, `2026年11月`, an interval) cannot slip past an embargo by
    being unreadable here.
    """
    return per_distinct(
        text, lambda distinct: pa.array([_last_day(v) for v in distinct.to_pylist()], pa.date32())
    )


def _last_day(text: str | None) -> dt.date | None:
    return parse_event_date(text)[1]


def per_distinct(values: pa.Array, function: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """`function` applied to each distinct value once, spread back over the records."""
    encoded = pc.dictionary_encode(values)
    return pc.take(function(encoded.dictionary), encoded.indices)


def column(table: pa.Table, name: str) -> pa.Array:
    return table.column(name).combine_chunks()


def strings(table: pa.Table, name: str) -> pa.Array:
    """A column as text; all null when the table lacks it."""
    if name not in table.column_names:
        return pa.nulls(table.num_rows, pa.string())
    values = column(table, name)
    return values if pa.types.is_string(values.type) else pc.cast(values, pa.string())


def floats(table: pa.Table, name: str) -> pa.Array:
    """A numeric term as float64; text that is not a number counts as missing."""
    if name not in table.column_names:
        return pa.nulls(table.num_rows, pa.float64())
    values = column(table, name)
    if pa.types.is_floating(values.type) or pa.types.is_integer(values.type):
        return pc.cast(values, pa.float64())
    text = pc.utf8_trim_whitespace(pc.cast(values, pa.string()))
    number = pc.fill_null(pc.match_substring_regex(text, DECIMAL), False)
    return pc.cast(pc.if_else(number, text, None), pa.float64())


# Boolean masks over a table's rows, as the scope and enforcement steps combine them.
def all_true(rows: int) -> pa.Array:
    return pa.repeat(pa.scalar(True), rows)


def all_false(rows: int) -> pa.Array:
    return pa.repeat(pa.scalar(False), rows)


def count_true(mask: pa.Array) -> int:
    return int(pc.sum(pc.cast(mask, pa.int64())).as_py() or 0)
