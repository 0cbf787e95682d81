"""What a record may still say once a rule has hidden part of it.

Generalising coordinates is worthless if the exact point survives in `georeferenceRemarks`,
a label transcription or an elevation, and withholding `recordedBy` is worthless if the
name survives in `recordedByID` or "leg. ..." on the label. So hiding works by allow-list
and with a second net:

- A record a `generalise` rule hits keeps only NON_LOCATING_TERMS (and what the agreement
  keeps by name, `keep = [...]`); every other field is cleared. The list holds terms that
  name the taxon, the record's identity and rights, dates, people and places no finer than a
  province: none of them narrows a point below the coarsest grid.
- Withholding a term withholds its COMPANIONS too (the same fact under another term).
- The second net clears any text field that still restates a withheld value, or, in a
  generalised record, the exact coordinates at a finer precision than the grid.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from node.core.scripts import CJK

NON_LOCATING_TERMS = frozenset(
    {
        # identity, rights, and what enforcement writes
        "occurrenceID", "institutionCode", "institutionID", "collectionCode", "collectionID",
        "datasetID", "datasetName", "ownerInstitutionCode", "basisOfRecord", "type",
        "language", "license", "rightsHolder", "accessRights", "bibliographicCitation",
        "informationWithheld", "dataGeneralizations", "modified",
        # the taxon and its identification
        "taxonID", "scientificName", "scientificNameAuthorship", "scientificNameID",
        "acceptedNameUsage", "taxonRank", "verbatimTaxonRank", "kingdom", "phylum", "class",
        "order", "superfamily", "family", "subfamily", "tribe", "genus", "genericName",
        "subgenus", "specificEpithet", "infraspecificEpithet", "cultivarEpithet",
        "vernacularName", "taxonomicStatus", "nomenclaturalCode", "nomenclaturalStatus",
        "higherClassification", "nameAccordingTo", "namePublishedIn", "originalNameUsage",
        "parentNameUsage", "identificationQualifier", "typeStatus", "identifiedBy",
        "identifiedByID", "dateIdentified", "identificationVerificationStatus",
        "iucnRedListCategory", "threatStatus",
        # the organism, without its place
        "occurrenceStatus", "individualCount", "organismQuantity", "organismQuantityType",
        "sex", "lifeStage", "reproductiveCondition", "establishmentMeans",
        "degreeOfEstablishment", "pathway", "vitality", "preparations", "disposition",
        "recordedBy", "recordedByID",
        # when
        "eventDate", "year", "month", "day", "startDayOfYear", "endDayOfYear",
        # where, no finer than a province; the coordinates themselves are generalised
        "continent", "country", "countryCode", "stateProvince",
        "decimalLatitude", "decimalLongitude", "coordinateUncertaintyInMeters",
        "coordinatePrecision", "geodeticDatum",
    }
)  # fmt: skip
# Names of taxa and their authors are public: the second net does not search them (an
# author "Wang" is not the withheld collector Wang).
PUBLIC_TAXON_TERMS = frozenset(
    {
        "scientificName", "scientificNameAuthorship", "acceptedNameUsage", "kingdom", "phylum",
        "class", "order", "superfamily", "family", "subfamily", "tribe", "genus",
        "genericName", "subgenus", "specificEpithet", "infraspecificEpithet", "taxonRank",
        "vernacularName", "higherClassification", "originalNameUsage", "parentNameUsage",
        "nameAccordingTo", "namePublishedIn",
    }
)  # fmt: skip
# Node columns: provenance, names and flags enforcement itself writes or reads.
NODE_COLUMN_PREFIX = "fed_"
# Withholding the key withholds these as well: the same fact under another term.
COMPANIONS: dict[str, tuple[str, ...]] = {
    "recordedBy": ("recordedByID", "verbatimLabel"),
    "identifiedBy": ("identifiedByID",),
    "recordNumber": ("fieldNumber", "verbatimLabel"),
    "catalogNumber": ("otherCatalogNumbers", "verbatimLabel"),
    "eventDate": ("verbatimEventDate", "year", "month", "day", "startDayOfYear",
                  "endDayOfYear", "fed_event_start", "fed_event_end"),
    "locality": ("verbatimLocality", "locationRemarks", "verbatimLabel", "locationID"),
    "decimalLatitude": ("verbatimLatitude", "verbatimCoordinates", "footprintWKT"),
    "decimalLongitude": ("verbatimLongitude", "verbatimCoordinates", "footprintWKT"),
    "minimumElevationInMeters": ("maximumElevationInMeters", "verbatimElevation"),
    "maximumElevationInMeters": ("minimumElevationInMeters", "verbatimElevation"),
}  # fmt: skip
# A withheld value this short is matched as a whole word only, so "Li" does not clear
# every "Guangxi" while "Wei Y.G." is still found inside "leg. Wei Y.G. 0123".
_SHORTEST_SUBSTRING = 4
# Above one distinct withheld value per this many records, search record by record.
_PER_VALUE_COST = 20
_VALUE_SEPARATORS = r"\s*(?:\||;|,|&|、|和| and )\s*"
# A number finer than the grid, or degrees with minutes: candidates for a restated point.
_NUMBER_TOKENS = r"[^0-9.]+"
_DECIMAL_COMMA = r"(\d),(\d)"  # 23,45612 is written for 23.45612 in much of the world
_DMS = r"\d{1,3}\s*(?:[°º˚度]|deg|d)\s*\d{1,2}(?:[.,]\d+)?\s*(?:['′’分]|min|m)"


def with_companions(terms: Iterable[str]) -> tuple[str, ...]:
    """The terms and every companion of them, in a stable order without repeats."""
    out: list[str] = []
    for term in terms:
        for name in (term, *COMPANIONS.get(term, ())):
            if name not in out:
                out.append(name)
    return tuple(out)


def restates_point(
    text: pa.Array, latitude: pa.Array, longitude: pa.Array, grid: pa.Array
) -> pa.Array:
    """True where the text carries a coordinate close to the record's exact point at a finer
    precision than the record's grid (null grid: the record is not generalised)."""
    rows = len(text)
    if rows == 0:
        return pa.array([], pa.bool_())
    text = pc.fill_null(text, "")
    dms = pc.fill_null(pc.match_substring_regex(text, _DMS, ignore_case=True), False)
    text = pc.replace_substring_regex(text, _DECIMAL_COMMA, r"\1.\2")
    tokens = pc.split_pattern_regex(text, _NUMBER_TOKENS)
    flat = pc.list_flatten(tokens)
    parents = pc.list_parent_indices(tokens)
    decimal = pc.fill_null(pc.match_substring_regex(flat, r"^\d{1,3}\.\d+$"), False)
    flat, parents = flat.filter(decimal), parents.filter(decimal)
    hit = np.zeros(rows, dtype=bool)
    if len(flat):
        digits = pc.subtract(pc.utf8_length(flat), pc.add(pc.find_substring(flat, "."), 1))
        value = pc.cast(flat, pa.float64()).to_numpy(zero_copy_only=False)
        cell = pc.take(grid, parents).to_numpy(zero_copy_only=False)
        lat = np.abs(pc.take(latitude, parents).to_numpy(zero_copy_only=False))
        lon = np.abs(pc.take(longitude, parents).to_numpy(zero_copy_only=False))
        finer = digits.to_numpy(zero_copy_only=False) > np.round(-np.log10(cell))
        with np.errstate(invalid="ignore"):
            near = (np.abs(value - lat) < cell) | (np.abs(value - lon) < cell)
        close = finer & np.nan_to_num(near, nan=0).astype(bool)
        np.logical_or.at(hit, parents.to_numpy(zero_copy_only=False)[close], True)
    generalised = pc.is_valid(grid).to_numpy(zero_copy_only=False)
    found = np.logical_or(hit, dms.to_numpy(zero_copy_only=False))
    return pa.array(found & generalised)


def restated_values(columns: Mapping[str, pa.Array], withheld: pa.Array) -> dict[str, pa.Array]:
    """Per column, True where its text contains, ignoring case, a part of the record's
    withheld value.

    A withheld value is split into its parts ("Wen F. | Xu W.B." -> two people); parts of
    four characters or more (or Chinese) are searched as substrings, shorter ones as words. All
    columns are searched at once (joined per record), and only the records found there are
    searched column by column, so the cost is one pass over the records per withheld term.
    """
    rows = len(withheld)
    lowered = {name: pc.utf8_lower(pc.fill_null(text, "")) for name, text in columns.items()}
    if not lowered:
        return {}
    texts = list(lowered.values())
    joined = texts[0] if len(texts) == 1 else pc.binary_join_element_wise(*texts, "\x1f")
    values = pc.utf8_lower(pc.utf8_trim_whitespace(pc.fill_null(withheld, "")))
    candidates = np.nonzero(_contains(joined, values))[0]
    found: dict[str, pa.Array] = {}
    for name, text in lowered.items():
        mask = np.zeros(rows, dtype=bool)
        if len(candidates):
            picked = pa.array(candidates)
            mask[candidates[_contains(pc.take(text, picked), pc.take(values, picked))]] = True
        found[name] = pa.array(mask)
    return found


def _contains(text: pa.Array, values: pa.Array) -> np.ndarray:
    """Row by row: does the (lower-case) text hold a part of the (lower-case) value?

    Records repeat few withheld values (collectors, numbers): then the search runs once per
    distinct value over the records carrying it, in Arrow. Values nearly unique per record
    are searched record by record instead, which costs the same whatever they are.
    """
    rows = len(text)
    found = np.zeros(rows, dtype=bool)
    encoded = pc.dictionary_encode(values)
    has_text = pc.greater(pc.utf8_length(text), 0).to_numpy(zero_copy_only=False)
    distinct = encoded.dictionary.to_pylist()
    if len(distinct) * _PER_VALUE_COST > rows:
        parts = {value: _matchers(value) for value in distinct}
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        texts = text.to_pylist()
        for i in np.nonzero(has_text)[0]:
            found[i] = any(match(texts[i]) for match in parts[distinct[codes[i]]])
        return found
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    order = np.argsort(indices, kind="stable")
    bounds = np.searchsorted(indices[order], np.arange(len(distinct) + 1))
    for code, value in enumerate(distinct):
        rows_here = order[bounds[code] : bounds[code + 1]]
        rows_here = rows_here[has_text[rows_here]]
        if not value or len(rows_here) == 0:
            continue
        subset = pc.take(text, pa.array(rows_here))
        hit = np.zeros(len(rows_here), dtype=bool)
        for part in _parts(value):
            if _as_substring(part):
                match = pc.match_substring(subset, part)
            else:
                match = pc.match_substring_regex(subset, rf"(^|\W){re.escape(part)}(\W|$)")
            hit |= match.to_numpy(zero_copy_only=False)
        found[rows_here[hit]] = True
    return found


def _matchers(value: str) -> list[Callable[[str], bool]]:
    """The tests `_contains` applies to one record's text for one withheld value."""
    matchers: list[Callable[[str], bool]] = []
    for part in _parts(value) if value else []:
        if _as_substring(part):
            matchers.append(_substring(part))
        else:
            matchers.append(_word(part))
    return matchers


def _as_substring(part: str) -> bool:
    """Long parts are searched anywhere; short ones as whole words, except in scripts that
    write words without spaces (a Chinese name of two or three characters inside a label)."""
    return len(part) >= _SHORTEST_SUBSTRING or (len(part) >= 2 and CJK.search(part) is not None)


def _substring(part: str) -> Callable[[str], bool]:
    def contains(text: str) -> bool:
        return part in text

    return contains


def _word(part: str) -> Callable[[str], bool]:
    pattern = re.compile(rf"(^|\W){re.escape(part)}(\W|$)")

    def contains(text: str) -> bool:
        return pattern.search(text) is not None

    return contains


def _parts(value: str) -> list[str]:
    parts = [p.strip() for p in re.split(_VALUE_SEPARATORS, value)]
    return [p for p in {value, *parts} if p]
