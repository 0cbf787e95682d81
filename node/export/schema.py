"""The one schema every exported Parquet file has, written down once.

Downstream tools (DuckDB, pandas, polars, Spark, Trino) read the export without knowing
which node, peer or GBIF query a file came from, so every file carries the same columns in
the same order with the same types. `node/schema/export-schema.json` and
`docs/export-schema.md` are generated from this module (`python -m node.export.schema`),
and a test fails when they drift apart.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mappings.names import parse_name
from node.core.errors import InvalidInput
from node.core.terms import (
    DC_NS,
    DWC_NS,
    GBIF_NS,
    PROVENANCE_FIELDS,
    arrow_type,
    term_uri,
)
from node.store.records import VERBATIM_FIELD

# Raise on any change of columns, order, types or meanings: readers key caches on it.
EXPORT_SCHEMA_VERSION = 1

SCHEMA_JSON_PATH = Path(__file__).parents[1] / "schema" / "export-schema.json"
DOCS_PATH = Path(__file__).parents[2] / "docs" / "export-schema.md"
DOCS_START = "<!-- export-columns:start -->"
DOCS_END = "<!-- export-columns:end -->"

# The hive partition keys: where this node got the records, and under which dataset id.
PARTITION_FIELDS: tuple[tuple[str, str], ...] = (
    ("source", "Where this node got the records: its own id, the peer's id, or `gbif`"),
    ("dataset", "The dataset id at that source (the query name for GBIF)"),
)

# `dcterms:source` would collide with the `source` partition key, so it is kept in
# `fed_extra['source']`. The class names are row types, not columns.
TERMS_NOT_COLUMNS = frozenset({"source", "Event", "Occurrence", "Taxon"})

# Darwin Core terms by class, in the order of the Darwin Core quick reference.
_DWC_CLASSES: dict[str, dict[str, str]] = {
    "Record-level": {
        "type": "Nature of the resource (e.g. PhysicalObject, Event)",
        "modified": "When the record was last changed at its publisher",
        "language": "Language of the record's text",
        "license": "Licence the publisher attached to the record",
        "rightsHolder": "Who owns or manages rights over the record",
        "accessRights": "Who may access the record and how",
        "rights": "Rights statement (legacy Dublin Core)",
        "bibliographicCitation": "How to cite this record",
        "references": "A page or document about the record",
        "institutionID": "Identifier of the holding institution",
        "collectionID": "Identifier of the collection",
        "datasetID": "Identifier of the publisher's dataset",
        "institutionCode": "Acronym of the holding institution",
        "collectionCode": "Code of the collection within the institution",
        "datasetName": "Name of the publisher's dataset",
        "ownerInstitutionCode": "Institution owning the object when not the holder",
        "basisOfRecord": "Kind of evidence: PreservedSpecimen, HumanObservation, ...",
        "informationWithheld": "What was left out of the record and why",
        "dataGeneralizations": "How the record was made less precise (e.g. coordinates)",
        "dynamicProperties": "Further measurements as key-value text (often JSON)",
    },
    "Occurrence": {
        "occurrenceID": "Identifier of the occurrence, unique at its publisher",
        "catalogNumber": "Number of the object in its collection",
        "recordNumber": "Collector's field number for the record",
        "recordedBy": "People who recorded the occurrence",
        "recordedByID": "Identifiers (e.g. ORCID) of the people who recorded it",
        "organismQuantity": "A number or enumeration of the organisms present",
        "organismQuantityType": "The unit of organismQuantity (e.g. individuals, % cover)",
        "degreeOfEstablishment": "How established the organism is at the place (e.g. native)",
        "pathway": "How the organism came to the place, if introduced",
        "vitality": "Whether the organism was alive or dead when observed",
        "caste": "Caste of a social organism",
        "verbatimLabel": "The label text of a specimen, as written",
        "individualCount": "Number of individuals present",
        "individualID": "Identifier of the individual organism (legacy)",
        "sex": "Sex of the organisms",
        "lifeStage": "Age class or life stage",
        "reproductiveCondition": "Reproductive condition (e.g. flowering, fruiting)",
        "behavior": "Behaviour shown at the time of the occurrence",
        "establishmentMeans": "Native, introduced, cultivated, ...",
        "occurrenceStatus": "present or absent",
        "preparations": "How the specimen was prepared or preserved",
        "disposition": "Where the object is now (in collection, missing, ...)",
        "associatedMedia": "Links to images or other media",
        "associatedReferences": "Literature about the occurrence",
        "associatedSequences": "Genetic sequence references",
        "associatedTaxa": "Other taxa associated (e.g. host plants)",
        "associatedOccurrences": "Related occurrence records",
        "otherCatalogNumbers": "Other numbers the object is known by",
        "occurrenceDetails": "A page describing the occurrence (legacy)",
        "occurrenceRemarks": "Free-text remarks about the occurrence",
    },
    "MaterialSample": {
        "materialSampleID": "Identifier of the material sample",
    },
    "Event": {
        "eventID": "Identifier of the collecting or observing event",
        "parentEventID": "Event this event belongs to",
        "fieldNumber": "Number given to the event in the field",
        "eventDate": "Date or interval of the event, ISO 8601 text as published",
        "eventTime": "Time of the event",
        "startDayOfYear": "First day of the event as an ordinal day of the year",
        "endDayOfYear": "Last day of the event as an ordinal day of the year",
        "year": "Year of the event",
        "month": "Month of the event, 1-12",
        "day": "Day of the month of the event, 1-31",
        "verbatimEventDate": "The event date as originally written",
        "habitat": "Habitat where the event happened",
        "samplingProtocol": "Method used for sampling",
        "sampleSizeValue": "Size of the sample (number, as text)",
        "sampleSizeUnit": "Unit of sampleSizeValue",
        "samplingEffort": "Effort spent during the event",
        "fieldNotes": "Field notes or a reference to them",
        "eventRemarks": "Free-text remarks about the event",
    },
    "Location": {
        "locationID": "Identifier of the place",
        "higherGeographyID": "Identifier of the enclosing geographic region",
        "higherGeography": "Enclosing geographic names, higher first",
        "continent": "Continent",
        "waterBody": "Water body",
        "islandGroup": "Island group",
        "island": "Island",
        "country": "Country name",
        "countryCode": "ISO 3166-1 alpha-2 country code (CN, VN, ...)",
        "stateProvince": "First-level division (province, e.g. Guangxi)",
        "county": "Second-level division",
        "municipality": "Municipality, town or commune",
        "locality": "Description of the place",
        "verbatimLocality": "The place as originally written",
        "minimumElevationInMeters": "Lower bound of elevation, metres",
        "maximumElevationInMeters": "Upper bound of elevation, metres",
        "verbatimElevation": "Elevation as originally written",
        "minimumDepthInMeters": "Lower bound of depth, metres",
        "maximumDepthInMeters": "Upper bound of depth, metres",
        "verbatimDepth": "Depth as originally written",
        "minimumDistanceAboveSurfaceInMeters": "Lower bound of height above surface (text)",
        "maximumDistanceAboveSurfaceInMeters": "Upper bound of height above surface (text)",
        "locationAccordingTo": "Source of the place information",
        "locationRemarks": "Free-text remarks about the place",
        "decimalLatitude": "Latitude in decimal degrees, WGS84 unless geodeticDatum says",
        "decimalLongitude": "Longitude in decimal degrees",
        "geodeticDatum": "Datum of the coordinates (e.g. WGS84)",
        "coordinateUncertaintyInMeters": "Radius of uncertainty around the point, metres",
        "coordinatePrecision": "Precision of the decimal coordinates, degrees",
        "pointRadiusSpatialFit": "Fit of the point-radius to the place (text)",
        "verbatimCoordinates": "Coordinates as originally written",
        "verbatimLatitude": "Latitude as originally written",
        "verbatimLongitude": "Longitude as originally written",
        "verbatimCoordinateSystem": "Coordinate system of the verbatim coordinates",
        "verbatimSRS": "Reference system of the verbatim coordinates",
        "footprintWKT": "Shape of the place as Well-Known Text",
        "footprintSRS": "Reference system of footprintWKT",
        "footprintSpatialFit": "Fit of the footprint to the place (text)",
        "georeferencedBy": "Who determined the coordinates",
        "georeferencedDate": "When the coordinates were determined",
        "georeferenceProtocol": "Method used to determine the coordinates",
        "georeferenceSources": "Maps or gazetteers used for the coordinates",
        "georeferenceVerificationStatus": "Whether the coordinates were checked",
        "georeferenceRemarks": "Remarks about the coordinates",
    },
    "GeologicalContext": {
        "geologicalContextID": "Identifier of the geological context",
        "earliestEonOrLowestEonothem": "Earliest eon / lowest eonothem",
        "latestEonOrHighestEonothem": "Latest eon / highest eonothem",
        "earliestEraOrLowestErathem": "Earliest era / lowest erathem",
        "latestEraOrHighestErathem": "Latest era / highest erathem",
        "earliestPeriodOrLowestSystem": "Earliest period / lowest system",
        "latestPeriodOrHighestSystem": "Latest period / highest system",
        "earliestEpochOrLowestSeries": "Earliest epoch / lowest series",
        "latestEpochOrHighestSeries": "Latest epoch / highest series",
        "earliestAgeOrLowestStage": "Earliest age / lowest stage",
        "latestAgeOrHighestStage": "Latest age / highest stage",
        "lowestBiostratigraphicZone": "Lowest biostratigraphic zone",
        "highestBiostratigraphicZone": "Highest biostratigraphic zone",
        "lithostratigraphicTerms": "Lithostratigraphic names",
        "group": "Lithostratigraphic group",
        "formation": "Lithostratigraphic formation",
        "member": "Lithostratigraphic member",
        "bed": "Lithostratigraphic bed",
    },
    "Identification": {
        "identificationID": "Identifier of the identification",
        "identifiedBy": "Who identified the organism",
        "identifiedByID": "Identifiers (e.g. ORCID) of who identified it",
        "dateIdentified": "When it was identified, ISO 8601 text",
        "identificationReferences": "Works used for the identification",
        "identificationVerificationStatus": "How far the identification was checked",
        "identificationRemarks": "Remarks about the identification",
        "identificationQualifier": "Doubt about the identification (cf., aff., ...)",
        "typeStatus": "Nomenclatural type status of the specimen",
        "previousIdentifications": "Earlier identifications",
    },
    "Taxon": {
        "taxonID": "Identifier of the taxon at the publisher",
        "scientificNameID": "Identifier of the name (e.g. an IPNI LSID)",
        "acceptedNameUsageID": "Identifier of the accepted name",
        "parentNameUsageID": "Identifier of the parent name",
        "originalNameUsageID": "Identifier of the basionym or original name",
        "nameAccordingToID": "Identifier of the taxonomic concept's source",
        "namePublishedInID": "Identifier of the publication of the name",
        "taxonConceptID": "Identifier of the taxonomic concept",
        "scientificName": "Full name as published, usually with authorship",
        "acceptedNameUsage": "Accepted name according to the publisher",
        "parentNameUsage": "Parent name",
        "originalNameUsage": "Basionym or original name",
        "nameAccordingTo": "Source of the taxonomic concept",
        "namePublishedIn": "Publication of the name",
        "namePublishedInYear": "Year the name was published (text)",
        "higherClassification": "Higher taxa, highest first, separated by |",
        "kingdom": "Kingdom",
        "phylum": "Phylum (division for plants)",
        "class": "Class",
        "order": "Order",
        "family": "Family",
        "subfamily": "Subfamily",
        "genus": "Genus",
        "subgenus": "Subgenus",
        "specificEpithet": "Species epithet",
        "infraspecificEpithet": "Lowest infraspecific epithet",
        "taxonRank": "Rank of the name (species, variety, ...)",
        "verbatimTaxonRank": "Rank as originally written",
        "scientificNameAuthorship": "Authorship of the name",
        "vernacularName": "Common name as published (any language)",
        "nomenclaturalCode": "Code governing the name (ICN for plants)",
        "taxonomicStatus": "accepted, synonym, ... at the publisher",
        "nomenclaturalStatus": "Nomenclatural status (nom. illeg., ...)",
        "taxonRemarks": "Remarks about the taxon",
        "iucnRedListCategory": "IUCN Red List category (CR, EN, VU, ...), as GBIF indexes it",
    },
    "GBIF": {
        "gbifID": "GBIF's identifier of the occurrence (GBIF records)",
        "datasetKey": "GBIF's dataset UUID (GBIF records)",
        "issue": "GBIF's own interpretation flags, as GBIF sent them",
        "isPreferredName": "Whether vernacularName is the preferred one",
    },
}

_FED_COLUMNS: tuple[tuple[str, pa.DataType, str, str], ...] = (
    ("fed_vernacular_zh", pa.string(), "Names", "Chinese common name"),
    ("fed_vernacular_vi", pa.string(), "Names", "Vietnamese common name"),
    ("fed_vernacular_en", pa.string(), "Names", "English common name"),
    (
        "fed_accepted_name",
        pa.string(),
        "Names",
        "Accepted name from the crosswalk given to the export; null when none matched",
    ),
    (
        "fed_match_kind",
        pa.string(),
        "Names",
        "The crosswalk's match_kind for the row that matched (e.g. exact, fuzzy, synonym)",
    ),
    (
        "fed_match_on",
        pa.string(),
        "Names",
        "`scientificName` when the verbatim name matched the crosswalk, `canonical` when "
        "only the name without authorship did",
    ),
)

_PROVENANCE_MEANINGS = {
    "fed_source": "Node id that first stored the record, or `gbif`; the partition's source "
    "when the store left it empty",
    "fed_dataset": "Dataset id at fed_source",
    "fed_agreement": "Agreement the record was received under, as id@version; null for own "
    "data and GBIF",
    "fed_harvest_run": "Harvest run that stored the record",
    "fed_licence": "Licence of the record: the agreement's flow licence, else the record's "
    "`license`, else the node's dataset licence. Filter on it (e.g. leave out CC-BY-NC)",
    "fed_generalised": "True when coordinates were generalised before the record reached "
    "us; null when the source did not say",
    "fed_issues": "Quality flags, GBIF style (COORDINATE_OUT_OF_RANGE, ...)",
    "fed_event_start": "First day of eventDate",
    "fed_event_end": "Last day of eventDate",
}

_TRAILING: tuple[tuple[str, pa.DataType, str, str], ...] = (
    (
        VERBATIM_FIELD.name,
        VERBATIM_FIELD.type,
        "Verbatim",
        "Original text of typed terms whose cast failed, term -> text; null when none",
    ),
    (
        "fed_extra",
        pa.map_(pa.string(), pa.string()),
        "Verbatim",
        "Columns outside this schema (unknown terms, dcterms:source), name -> text; null when none",
    ),
)

# The export's crosswalk.parquet: what an AcceptedNameLookup holds.
ACCEPTED_NAME_SCHEMA = pa.schema(
    [
        pa.field("verbatim_name", pa.string()),
        pa.field("accepted_name", pa.string()),
        pa.field("match_kind", pa.string()),
    ]
)

DWC_COLUMNS: tuple[str, ...] = tuple(t for terms in _DWC_CLASSES.values() for t in terms)


def _columns() -> list[dict[str, Any]]:
    """Every column as name, Arrow type, group, meaning and term URI (None for fed_*)."""
    rows: list[dict[str, Any]] = []
    for group, terms in _DWC_CLASSES.items():
        for term, meaning in terms.items():
            rows.append(
                {
                    "name": term,
                    "type": arrow_type(term),
                    "group": group,
                    "meaning": meaning,
                    "term": term_uri(term),
                }
            )
    for name, kind, group, meaning in _FED_COLUMNS:
        rows.append({"name": name, "type": kind, "group": group, "meaning": meaning, "term": None})
    for field in PROVENANCE_FIELDS:
        rows.append(
            {
                "name": field.name,
                "type": field.type,
                "group": "Provenance",
                "meaning": _PROVENANCE_MEANINGS[field.name],
                "term": None,
            }
        )
    for name, kind, group, meaning in _TRAILING:
        rows.append({"name": name, "type": kind, "group": group, "meaning": meaning, "term": None})
    return rows


_COLUMNS = _columns()
EXPORT_SCHEMA = pa.schema([pa.field(c["name"], c["type"]) for c in _COLUMNS])


def type_name(kind: pa.DataType) -> str:
    """A stable name for an Arrow type (pyarrow's own `str()` changes between versions)."""
    if pa.types.is_map(kind):
        return f"map<{type_name(kind.key_type)},{type_name(kind.item_type)}>"
    if pa.types.is_list(kind):
        return f"list<{type_name(kind.value_type)}>"
    names = {
        pa.string(): "string",
        pa.float64(): "double",
        pa.int32(): "int32",
        pa.bool_(): "bool",
        pa.date32(): "date32",
    }
    return names[kind]


def sql_type(kind: pa.DataType) -> str:
    """The type DuckDB (and Spark SQL, with its own spelling) reads the column as."""
    if pa.types.is_map(kind):
        return f"MAP({sql_type(kind.key_type)}, {sql_type(kind.item_type)})"
    if pa.types.is_list(kind):
        return f"{sql_type(kind.value_type)}[]"
    names = {
        pa.string(): "VARCHAR",
        pa.float64(): "DOUBLE",
        pa.int32(): "INTEGER",
        pa.bool_(): "BOOLEAN",
        pa.date32(): "DATE",
    }
    return names[kind]


def schema_document() -> dict[str, Any]:
    """The export schema as JSON-ready data: what `export-schema.json` must contain."""
    return {
        "name": "fednode-export",
        "schema_version": EXPORT_SCHEMA_VERSION,
        "layout": {
            "pointer": "current.json",
            "current": "current/ (symbolic link on local file systems)",
            "records": "<version>/records/source=<source>/dataset=<dataset>/part-*.parquet",
            "crosswalk": "<version>/crosswalk/part-0.parquet",
            "manifest": "<version>/manifest.json",
        },
        "partitioning": [
            {"name": n, "type": "string", "sql_type": "VARCHAR", "meaning": m}
            for n, m in PARTITION_FIELDS
        ],
        "columns": [
            {
                "name": c["name"],
                "type": type_name(c["type"]),
                "sql_type": sql_type(c["type"]),
                "group": c["group"],
                "term": c["term"],
                "meaning": c["meaning"],
            }
            for c in _COLUMNS
        ],
        "crosswalk_columns": [
            {"name": f.name, "type": type_name(f.type), "sql_type": sql_type(f.type)}
            for f in ACCEPTED_NAME_SCHEMA
        ],
    }


def schema_json() -> str:
    return json.dumps(schema_document(), indent=2, ensure_ascii=False) + "\n"


def schema_from_document(document: dict[str, Any]) -> pa.Schema:
    """Rebuild the Arrow schema from the JSON, so a test can compare it with the code's."""
    by_name = {type_name(c["type"]): c["type"] for c in _COLUMNS}
    return pa.schema([pa.field(c["name"], by_name[c["type"]]) for c in document["columns"]])


def _prefix(uri: str) -> str:
    for namespace, prefix in ((DWC_NS, "dwc"), (DC_NS, "dcterms"), (GBIF_NS, "gbif")):
        if uri.startswith(namespace):
            return prefix
    return "term"


def columns_markdown() -> str:
    """The column table of docs/export-schema.md, one section per group."""
    out = ["### Partition keys (in the path, not in the files)", "", "| column | type | meaning |"]
    out.append("| --- | --- | --- |")
    out += [f"| `{name}` | VARCHAR | {meaning} |" for name, meaning in PARTITION_FIELDS]
    group = None
    for c in _COLUMNS:
        if c["group"] != group:
            group = c["group"]
            out += ["", f"### {group}", "", "| column | type | meaning |", "| --- | --- | --- |"]
        meaning = c["meaning"]
        if c["term"]:
            meaning += f" ([{_prefix(c['term'])}:{c['name']}]({c['term']}))"
        out.append(f"| `{c['name']}` | {sql_type(c['type'])} | {meaning} |")
    return "\n".join(out).strip() + "\n"


def write_documents() -> None:
    """Regenerate the JSON schema and the generated part of docs/export-schema.md."""
    SCHEMA_JSON_PATH.parent.mkdir(parents=True, exist_ok=True)
    SCHEMA_JSON_PATH.write_text(schema_json(), encoding="utf-8")
    text = DOCS_PATH.read_text(encoding="utf-8")
    head, _, rest = text.partition(DOCS_START)
    _, _, tail = rest.partition(DOCS_END)
    DOCS_PATH.write_text(
        f"{head}{DOCS_START}\n\n{columns_markdown()}\n{DOCS_END}{tail}", encoding="utf-8"
    )


# Genus, optional species epithet, optional rank marker and infraspecific epithet; the
# authorship that follows is dropped. An approximation of gnparser's canonical form that
# runs vectorised in RE2; the full parser lives in `mappings`.
# Parser flags that mean the text is no scientific name at all.
_NOT_A_NAME = frozenset({"empty", "unparsed"})


def canonical_name(names: pa.Array | pa.ChunkedArray) -> pa.Array:
    """`Primulina eburnea (Hance) Mich.Möller` -> `Primulina eburnea`; null if not a name.

    The one canonical form of the node (mappings.names, the reconciler's parser), read once
    per distinct value: records repeat few names.
    """
    if isinstance(names, pa.ChunkedArray):
        names = names.combine_chunks()
    encoded = pc.dictionary_encode(pc.cast(names, pa.string()))
    canonical = [_canonical(text) for text in encoded.dictionary.to_pylist()]
    return pc.take(pa.array(canonical, pa.string()), encoded.indices)


def _canonical(text: str | None) -> str | None:
    if not text or not text.strip():
        return None
    parsed = parse_name(text)
    if not parsed.genus[:1].isupper() or _NOT_A_NAME & set(parsed.flags):
        return None
    return parsed.canonical or None


@dataclass(frozen=True)
class AcceptedNameLookup:
    """A checked crosswalk reduced to verbatim name -> accepted name, with lookup arrays for
    the verbatim and the canonical name. (mappings.review.Crosswalk is the full reconcile
    result this is read from.)"""

    table: pa.Table  # ACCEPTED_NAME_SCHEMA, one row per verbatim_name, sorted
    sha256: str  # of the checked table: a changed crosswalk rewrites every partition
    canonical: pa.Table  # canonical, accepted_name, match_kind: unambiguous keys only

    def lookup(self, names: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
        """Accepted name, match kind and what matched, for each record's scientificName."""
        keys = pc.utf8_trim_whitespace(pc.cast(names, pa.string()))
        exact = pc.index_in(keys, value_set=self.table.column("verbatim_name"))
        by_canonical = pc.index_in(canonical_name(keys), value_set=self.canonical.column(0))
        use_exact = pc.is_valid(exact)
        results = []
        for column in ("accepted_name", "match_kind"):
            first = pc.take(self.table.column(column), exact)
            second = pc.take(self.canonical.column(column), by_canonical)
            results.append(pc.if_else(use_exact, first, second))
        on = pc.if_else(
            use_exact,
            pa.scalar("scientificName"),
            pc.if_else(
                pc.is_valid(by_canonical), pa.scalar("canonical"), pa.scalar(None, pa.string())
            ),
        )
        return results[0], results[1], on


def prepare_crosswalk(table: pa.Table) -> AcceptedNameLookup:
    """Check a crosswalk (columns, one accepted name per verbatim name) and index it."""
    missing = [f.name for f in ACCEPTED_NAME_SCHEMA if f.name not in table.column_names]
    if missing:
        raise InvalidInput(
            f"crosswalk: missing column(s) {', '.join(missing)}; it needs "
            f"{', '.join(ACCEPTED_NAME_SCHEMA.names)} "
            f"(columns found: {', '.join(table.column_names)})"
        )
    table = table.select(ACCEPTED_NAME_SCHEMA.names).cast(ACCEPTED_NAME_SCHEMA)
    table = table.filter(pc.is_valid(table.column("verbatim_name")))
    table = table.group_by(ACCEPTED_NAME_SCHEMA.names, use_threads=False).aggregate([])
    counts = table.group_by("verbatim_name").aggregate([([], "count_all")])
    ambiguous = counts.filter(pc.greater(counts.column("count_all"), 1))
    if ambiguous.num_rows:
        name = ambiguous.column("verbatim_name")[0].as_py()
        raise InvalidInput(
            f"crosswalk: {ambiguous.num_rows} verbatim name(s) map to more than one "
            f"accepted name or match kind, e.g. {name!r}; keep one row per verbatim_name"
        )
    table = table.select(ACCEPTED_NAME_SCHEMA.names).sort_by("verbatim_name").combine_chunks()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    digest = hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()
    keyed = pa.table(
        {
            "canonical": canonical_name(table.column("verbatim_name")),
            "accepted_name": table.column("accepted_name"),
            "match_kind": table.column("match_kind"),
        }
    ).filter(pc.is_valid(pc.field("canonical")))
    keyed = keyed.group_by(keyed.column_names, use_threads=False).aggregate([])
    per_key = keyed.group_by("canonical").aggregate([([], "count_all")])
    unique = per_key.filter(pc.equal(per_key.column("count_all"), 1))
    keyed = keyed.filter(pc.is_in(keyed.column("canonical"), value_set=unique.column("canonical")))
    return AcceptedNameLookup(
        table, digest, keyed.select(["canonical", "accepted_name", "match_kind"]).combine_chunks()
    )


if __name__ == "__main__":
    write_documents()
    sys.stdout.write(f"wrote {SCHEMA_JSON_PATH} and {DOCS_PATH}\n")
