"""The Darwin Core vocabulary, once: term names, URIs, row types and the typed terms.

The term list is python-dwca-reader's (generated from the TDWG term list), so reader,
writer and validator agree on what a known term is.
"""

from __future__ import annotations

import pyarrow as pa
from dwca.darwincore.terms import TERMS as _DWCA_READER_TERMS

DWC_NS = "http://rs.tdwg.org/dwc/terms/"
DC_NS = "http://purl.org/dc/terms/"
GBIF_NS = "http://rs.gbif.org/terms/1.0/"

OCCURRENCE_ROW_TYPE = DWC_NS + "Occurrence"
TAXON_ROW_TYPE = DWC_NS + "Taxon"
EVENT_ROW_TYPE = DWC_NS + "Event"
VERNACULAR_ROW_TYPE = GBIF_NS + "VernacularName"

# GBIF extension terms the node writes or reads besides the DwC/DC core list.
_GBIF_TERMS = [GBIF_NS + t for t in ("gbifID", "datasetKey", "issue", "isPreferredName")]

TERM_URIS: dict[str, str] = {}
for _uri in [*_DWCA_READER_TERMS, *_GBIF_TERMS]:
    TERM_URIS.setdefault(_uri.rsplit("/", 1)[-1], _uri)
TERM_URIS.setdefault("language", DC_NS + "language")
TERM_URIS.setdefault("source", DC_NS + "source")
# GBIF indexes the IUCN category under IUCN's own namespace.
TERM_URIS.setdefault("iucnRedListCategory", "http://iucn.org/terms/iucnRedListCategory")
# Darwin Core terms added after the list python-dwca-reader was generated from.
for _name in (
    "organismQuantity",
    "organismQuantityType",
    "degreeOfEstablishment",
    "pathway",
    "recordedByID",
    "identifiedByID",
    "georeferenceVerificationStatus",
    "verbatimLabel",
    "vitality",
    "caste",
):
    TERM_URIS.setdefault(_name, DWC_NS + _name)

KNOWN_TERMS = frozenset(TERM_URIS)


def short_name(term: str) -> str:
    """`http://rs.tdwg.org/dwc/terms/decimalLatitude` -> `decimalLatitude`."""
    return term.rstrip("/").rsplit("/", 1)[-1].rsplit("#", 1)[-1]


def term_uri(name: str) -> str:
    """The URI for a short term name; unknown names keep a DwC-namespace URI."""
    return TERM_URIS.get(name, name if "://" in name else DWC_NS + name)


# Terms stored typed beside nothing else: the typed value replaces the text in Parquet, the
# verbatim text survives in `fed_issues` when the cast fails. Same choice as GBIF's
# SIMPLE_PARQUET downloads, which type coordinates and dates.
FLOAT_TERMS = (
    "decimalLatitude",
    "decimalLongitude",
    "coordinateUncertaintyInMeters",
    "coordinatePrecision",
    "minimumElevationInMeters",
    "maximumElevationInMeters",
    "minimumDepthInMeters",
    "maximumDepthInMeters",
)
INT_TERMS = ("year", "month", "day", "individualCount", "startDayOfYear", "endDayOfYear")

# Classification ranks, highest first: what taxon scopes in agreements match against.
CLASSIFICATION_TERMS = (
    "kingdom",
    "phylum",
    "class",
    "order",
    "family",
    "subfamily",
    "genus",
    "specificEpithet",
    "scientificName",
)

ID_TERM_FOR_ROW_TYPE = {
    OCCURRENCE_ROW_TYPE: "occurrenceID",
    TAXON_ROW_TYPE: "taxonID",
    EVENT_ROW_TYPE: "eventID",
}

# Provenance columns the node adds to every stored record: where it came from, and when.
PROVENANCE_FIELDS: tuple[pa.Field, ...] = (
    pa.field("fed_source", pa.string()),
    pa.field("fed_dataset", pa.string()),
    pa.field("fed_agreement", pa.string()),
    pa.field("fed_harvest_run", pa.string()),
    pa.field("fed_licence", pa.string()),
    pa.field("fed_generalised", pa.bool_()),
    pa.field("fed_issues", pa.list_(pa.string())),
    pa.field("fed_event_start", pa.date32()),
    pa.field("fed_event_end", pa.date32()),
)
PROVENANCE_NAMES = tuple(f.name for f in PROVENANCE_FIELDS)


def arrow_type(term: str) -> pa.DataType:
    """The Parquet type a term is stored as."""
    if term in FLOAT_TERMS:
        return pa.float64()
    if term in INT_TERMS:
        return pa.int32()
    if term in PROVENANCE_NAMES:
        return next(f.type for f in PROVENANCE_FIELDS if f.name == term)
    return pa.string()
