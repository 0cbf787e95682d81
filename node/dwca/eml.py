"""eml.xml in the GBIF metadata profile 1.3 (EML 2.2.0): build, check, and read peers'.

Elements follow the profile schema's order (gbif/eml-profile `eml-gbif-profile.xsd`), and
licences use the wording GBIF's licence detection recognises, so a node's archive can be
registered with GBIF as it is. The schema itself is not shipped: `eml_problems` checks the
required parts and the element order, which is what the GBIF validator blocks on.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

from node.core import constants
from node.core.config import DatasetConfig, NodeConfig
from node.core.errors import ConfigError, InvalidArchive, UnsafeArchive
from node.core.licences import LICENCES, find_licence
from node.dwca.coverage import Coverage

if TYPE_CHECKING:
    from node.dwca.eml_merge import SourceMetadata

EML_NS = "https://eml.ecoinformatics.org/eml-2.2.0"
SCHEMA_LOCATION = f"{EML_NS} https://rs.gbif.org/schema/eml-gbif-profile/1.3/eml.xsd"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
DATASET_TYPE_THESAURUS = (
    "GBIF Dataset Type Vocabulary: http://rs.gbif.org/vocabulary/gbif/dataset_type.xml"
)
_DATASET_TYPE_KEYWORD = {"occurrence": "Occurrence", "checklist": "Checklist"}

# Children of <dataset> in the profile schema's sequence; anything else is refused.
DATASET_ORDER = (
    "alternateIdentifier",
    "shortName",
    "title",
    "creator",
    "metadataProvider",
    "associatedParty",
    "pubDate",
    "language",
    "abstract",
    "keywordSet",
    "additionalInfo",
    "intellectualRights",
    "licensed",
    "distribution",
    "coverage",
    "purpose",
    "maintenance",
    "contact",
    "publisher",
    "methods",
    "project",
    "literatureCited",
)
_YEAR_DATE = re.compile(r"^\d{4}(-\d{2}-\d{2})?$")
_VERSION = re.compile(r"/v(\d+(?:\.\d+)*)$")
_MIN_ABSTRACT = 5  # the IPT's EmlValidator: a description of at least 5 characters


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def _agent(
    parent: ET.Element,
    tag: str,
    node: NodeConfig,
    person: str = "",
    email: str = "",
) -> None:
    agent = _sub(parent, tag)
    if person and person.strip() != node.name.strip():
        # node.toml holds one name string; the profile needs a surName, and splitting a
        # Chinese or Vietnamese name into given and family parts cannot be guessed safely.
        _sub(_sub(agent, "individualName"), "surName", person.strip())
    _sub(agent, "organizationName", node.name)
    if node.country:
        _sub(_sub(agent, "address"), "country", node.country)
    if email:
        _sub(agent, "electronicMailAddress", email)
    if node.url:
        _sub(agent, "onlineUrl", node.url)


def _decimal(value: float) -> str:
    """xs:decimal has no exponent: fixed notation, trailing zeros dropped."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _coverage(
    dataset_el: ET.Element, coverage: Coverage | None, source: SourceMetadata | None
) -> None:
    """The source's own coverage of each kind, else the one the records show."""
    stated = {
        kind: source.coverage(kind) if source else []
        for kind in ("geographicCoverage", "temporalCoverage", "taxonomicCoverage")
    }
    computed = _computed_coverage(coverage) if coverage is not None else {}
    parts = [
        part
        for kind, given in stated.items()
        for part in (given or ([computed[kind]] if kind in computed else []))
    ]
    if parts:
        _sub(dataset_el, "coverage").extend(parts)


def _computed_coverage(coverage: Coverage) -> dict[str, ET.Element]:
    parts: dict[str, ET.Element] = {}
    if coverage.bbox is not None:
        west, south, east, north = coverage.bbox
        geo = ET.Element("geographicCoverage")
        _sub(
            geo,
            "geographicDescription",
            f"Bounding box of the {coverage.georeferenced:,} georeferenced records",
        )
        box = _sub(geo, "boundingCoordinates")
        for tag, value in (("west", west), ("east", east), ("north", north), ("south", south)):
            _sub(box, f"{tag}BoundingCoordinate", _decimal(value))
        parts["geographicCoverage"] = geo
    if coverage.start is not None and coverage.end is not None:
        temporal = ET.Element("temporalCoverage")
        dates = _sub(temporal, "rangeOfDates")
        _sub(_sub(dates, "beginDate"), "calendarDate", coverage.start.isoformat())
        _sub(_sub(dates, "endDate"), "calendarDate", coverage.end.isoformat())
        parts["temporalCoverage"] = temporal
    ranked = [("family", n) for n, _ in sorted(coverage.families.items(), key=_by_count)]
    ranked += [("genus", n) for n, _ in sorted(coverage.genera.items(), key=_by_count)]
    if ranked:
        taxonomic = ET.Element("taxonomicCoverage")
        shown = ranked[: constants.EML_MAX_TAXA]
        summary = f"{len(coverage.families):,} families and {len(coverage.genera):,} genera"
        if len(shown) < len(ranked):
            summary += f"; the {len(shown):,} with the most records are listed"
        _sub(taxonomic, "generalTaxonomicCoverage", summary)
        for rank, name in shown:
            item = _sub(taxonomic, "taxonomicClassification")
            _sub(item, "taxonRankName", rank)
            _sub(item, "taxonRankValue", name)
        parts["taxonomicCoverage"] = taxonomic
    return parts


def _by_count(item: tuple[str, int]) -> tuple[int, str]:
    return (-item[1], item[0])


def dataset_url(node: NodeConfig, dataset_id: str) -> str:
    """Where peers find the dataset; a URN when the node has no public URL."""
    if node.url:
        return f"{node.url.rstrip('/')}/datasets/{dataset_id}"
    return f"urn:fednode:{node.id}:{dataset_id}"


def build_eml(
    dataset: DatasetConfig,
    node: NodeConfig,
    coverage: Coverage | None,
    version: str,
    pub_date: dt.date,
    licence: str | None = None,
    change_summary: str = "",
    *,
    modified: dt.datetime | None = None,
    source: SourceMetadata | None = None,
) -> bytes:
    """The dataset's eml.xml for one version; refuses metadata GBIF would not accept.

    Args:
        licence: an id (`CC-BY-4.0`), URL or GBIF title; the dataset's licence by default.
        modified: the `dateStamp` (now, by default).
        source: the source's own EML, whose parts are carried where node.toml is silent
            (node.dwca.eml_merge).
    """
    where = f"dataset {dataset.id!r} in node.toml"
    lic = find_licence(licence or dataset.licence)
    if lic is None:
        raise ConfigError(
            f"{where}: licence {licence or dataset.licence!r} is not one the node knows; "
            f"use one of {', '.join(LICENCES)} (GBIF indexes only "
            f"{', '.join(k for k, v in LICENCES.items() if v.gbif_indexes)})"
        )
    own_abstract = len(str(dataset.abstract).strip()) >= _MIN_ABSTRACT
    source_abstract = source.abstract() if source and not own_abstract else None
    if not own_abstract and source_abstract is None:
        raise ConfigError(
            f"{where} needs an `abstract` (at least {_MIN_ABSTRACT} characters): the GBIF "
            "metadata profile requires a description of the dataset"
        )
    if isinstance(pub_date, dt.datetime):
        pub_date = pub_date.date()
    stamp = modified or dt.datetime.now(dt.UTC)
    language = dataset.language or "en"
    root = ET.Element(
        "eml:eml",
        {
            "xmlns:eml": EML_NS,
            "xmlns:xsi": XSI_NS,
            "xsi:schemaLocation": SCHEMA_LOCATION,
            "packageId": f"{dataset_url(node, dataset.id)}/v{version}",
            "system": "http://gbif.org",
            "scope": "system",
            "xml:lang": language,
        },
    )
    ds = _sub(root, "dataset")
    if node.url:
        _sub(ds, "alternateIdentifier", dataset_url(node, dataset.id))
    for title_language, title in (dataset.titles or {language: str(dataset.title)}).items():
        _sub(ds, "title", title, **{"xml:lang": title_language})  # each in its own language
    email = dataset.contact_email or node.contact_email
    creators = source.agents("creator") if source and not dataset.creator.strip() else []
    if creators:
        ds.extend(creators)
    else:
        _agent(ds, "creator", node, person=dataset.creator, email=email)
    _agent(ds, "metadataProvider", node, email=email)
    ds.extend(source.agents("metadataProvider") if source else [])
    ds.extend(source.agents("associatedParty") if source else [])
    _sub(ds, "pubDate", pub_date.isoformat())
    _sub(ds, "language", language)
    if source_abstract is not None:
        ds.append(source_abstract)
    else:
        # EML has one abstract; its paragraphs carry their languages (EML 2.2 text module).
        abstract = _sub(ds, "abstract")
        texts = dataset.abstracts or {language: str(dataset.abstract)}
        for text_language, text in texts.items():
            _sub(abstract, "para", text, **{"xml:lang": text_language})
    if dataset.keywords:
        words = _sub(ds, "keywordSet")
        for word in dataset.keywords:
            _sub(words, "keyword", word)
        _sub(words, "keywordThesaurus", "N/A")
    ds.extend(source.keyword_sets() if source else [])
    kind = _sub(ds, "keywordSet")
    _sub(kind, "keyword", _DATASET_TYPE_KEYWORD.get(dataset.type, dataset.type.title()))
    _sub(kind, "keywordThesaurus", DATASET_TYPE_THESAURUS)
    ds.extend(source.whole("additionalInfo") if source else [])
    rights = _sub(ds, "intellectualRights")
    para = _sub(rights, "para", lic.before)
    link = _sub(para, "ulink", url=lic.url)
    _sub(link, "citetitle", lic.title)
    link.tail = lic.after
    rights.extend(source.rights_paras(lic.id) if source else [])
    licensed = _sub(ds, "licensed")
    _sub(licensed, "licenseName", lic.title)
    _sub(licensed, "url", lic.url)
    _sub(licensed, "identifier", lic.id)
    if node.url:
        _sub(
            _sub(_sub(ds, "distribution"), "online"),
            "url",
            dataset_url(node, dataset.id),
            function="information",
        )
    _coverage(ds, coverage, source)
    ds.extend(source.whole("purpose") if source else [])
    maintenance = _sub(ds, "maintenance")
    summary = change_summary.strip() or f"Version {version}."
    _sub(_sub(maintenance, "description"), "para", summary)
    _sub(maintenance, "maintenanceUpdateFrequency", "unknown")
    contacts = source.agents("contact") if source and not dataset.contact_email else []
    if contacts:
        ds.extend(contacts)
    else:
        _agent(ds, "contact", node, email=email)
    for tag in ("methods", "project", "literatureCited"):
        ds.extend(source.whole(tag) if source else [])
    gbif = _sub(_sub(_sub(root, "additionalMetadata"), "metadata"), "gbif")
    _sub(gbif, "dateStamp", stamp.replace(microsecond=0).isoformat())
    _sub(gbif, "hierarchyLevel", "dataset")
    author = dataset.creator.strip() or node.name
    _sub(
        gbif,
        "citation",
        f"{author} ({pub_date.year}). {dataset.title}. Version {version}. {node.name}. "
        f"{_DATASET_TYPE_KEYWORD.get(dataset.type, 'Dataset')} dataset. "
        f"{dataset_url(node, dataset.id)}",
    )
    gbif.extend(source.gbif_parts() if source else [])
    ET.indent(root)
    link.text, link[0].tail = None, None  # keep the licence sentence free of indentation
    document = ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
    problems = eml_problems(document)
    if problems:
        raise ConfigError(f"{where}: eml.xml would be invalid: " + "; ".join(problems))
    return document


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _children(parent: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in parent if _local(c.tag) == name]


def _text(element: ET.Element | None) -> str:
    return " ".join("".join(element.itertext()).split()) if element is not None else ""


def _agent_ok(agent: ET.Element) -> bool:
    names = [_text(s) for n in _children(agent, "individualName") for s in _children(n, "surName")]
    names += [
        _text(c) for tag in ("organizationName", "positionName") for c in _children(agent, tag)
    ]
    return any(names)


def _parse(document: bytes, where: str) -> ET.Element:
    if len(document) > constants.MAX_XML_BYTES:
        raise UnsafeArchive(f"{where}: {len(document):,} bytes, over the XML size limit")
    try:
        return safe_et.fromstring(document, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise UnsafeArchive(f"{where}: DTDs and entities are not allowed ({exc})") from exc
    except ParseError as exc:
        raise InvalidArchive(f"{where}: malformed XML ({exc})") from exc


def eml_problems(document: bytes) -> list[str]:
    """What keeps an EML document from GBIF's profile: missing parts or misplaced ones."""
    root = _parse(document, "eml.xml")
    if _local(root.tag) != "eml":
        return [f"the root element is <{_local(root.tag)}>, not <eml:eml>"]
    problems = [
        f"<eml> lacks the {a} attribute" for a in ("packageId", "system") if not root.get(a)
    ]
    if root.get("scope") != "system":
        problems.append('<eml> needs scope="system"')
    datasets = _children(root, "dataset")
    if len(datasets) != 1:
        return [*problems, "<eml> needs exactly one <dataset>"]
    ds = datasets[0]
    order = [_local(c.tag) for c in ds]
    unknown = sorted(set(order) - set(DATASET_ORDER))
    if unknown:
        problems.append(f"<dataset> has unknown element(s) {', '.join(unknown)}")
    ranks = [DATASET_ORDER.index(t) for t in order if t in DATASET_ORDER]
    if ranks != sorted(ranks):
        problems.append("<dataset> children are out of the profile's order")
    if not any(_text(t) for t in _children(ds, "title")):
        problems.append("no title")
    for role in ("creator", "contact"):
        agents = _children(ds, role)
        if not agents or not all(_agent_ok(a) for a in agents):
            problems.append(f"no {role} with a surName, organizationName or positionName")
    dates = _children(ds, "pubDate")
    if len(dates) != 1 or not _YEAR_DATE.match(_text(dates[0])):
        problems.append("pubDate missing or not YYYY-MM-DD")
    abstract = _children(ds, "abstract")
    if not abstract or len(_text(abstract[0])) < _MIN_ABSTRACT:
        problems.append(f"abstract missing or shorter than {_MIN_ABSTRACT} characters")
    rights = _children(ds, "intellectualRights")
    if not rights or not _text(rights[0]):
        problems.append("no licence in intellectualRights")
    for extra in _children(root, "additionalMetadata"):
        stamps = [
            s
            for m in _children(extra, "metadata")
            for g in _children(m, "gbif")
            for s in _children(g, "dateStamp")
        ]
        if not stamps:
            problems.append("additionalMetadata/metadata/gbif lacks a dateStamp")
    return problems


def parse_eml(path: Path) -> dict[str, str | None]:
    """Title, licence, pubDate and version from a peer's (or GBIF's) eml.xml.

    `licence` is the id (e.g. `CC-BY-NC-4.0`) when recognised, else the stated text.
    """
    path = Path(path)
    size = path.stat().st_size
    if size > constants.MAX_XML_BYTES:
        raise UnsafeArchive(f"{path.name}: {size:,} bytes, over the XML size limit")
    root = _parse(path.read_bytes(), path.name)
    ds = next(iter(_children(root, "dataset")), None)
    if ds is None:
        raise InvalidArchive(f"{path.name}: no <dataset> element; is this EML?")
    package_id = root.get("packageId")
    match = _VERSION.search(package_id or "")
    return {
        "title": _text(next(iter(_children(ds, "title")), None)) or None,
        "licence": _licence_of(ds),
        "pubDate": _text(next(iter(_children(ds, "pubDate")), None)) or None,
        "version": match.group(1) if match else None,
        "packageId": package_id,
    }


def _licence_of(ds: ET.Element) -> str | None:
    candidates: list[str] = []
    for licensed in _children(ds, "licensed"):
        for tag in ("identifier", "url", "licenseName"):
            candidates += [_text(c) for c in _children(licensed, tag)]
    rights = next(iter(_children(ds, "intellectualRights")), None)
    if rights is not None:
        candidates += [link.get("url", "") for link in rights.iter() if _local(link.tag) == "ulink"]
        candidates += [_text(t) for t in rights.iter() if _local(t.tag) == "citetitle"]
    for candidate in candidates:
        lic = find_licence(candidate)
        if lic:
            return lic.id
    text = _text(rights)
    for lic in LICENCES.values():
        if lic.title.lower() in text.lower():
            return lic.id
    return text or None
