"""What the node shows the world: a DCAT-AP feed (`GET /dcat`, Turtle, as the IPT serves
it) and an IPT-shaped inventory (`GET /inventory/dataset`), for catalogues and GBIF tools.

Both list only what a stranger may download, whoever asks: a partner's own datasets are
listed to it by `/datasets` and `/rss`, never here, so a catalogue that caches or
republishes these documents cannot carry a partner-only dataset's title, counts or versions.
"""

from __future__ import annotations

import datetime as dt
import re

from aiohttp import web

from node.core.licences import find_licence
from node.publish.versions import latest_version
from node.server.api.datasets import listed_entries
from node.server.keys import CONFIG
from node.server.sharing import SHARING, Requester
from node.wire.proxies import public_base

STRANGER = Requester(None)  # the only requester these documents are written for
IPT_TYPES = {"occurrence": "OCCURRENCE", "checklist": "CHECKLIST"}
EVENT_ROW_TYPE = "http://rs.tdwg.org/dwc/terms/Event"
# Characters Turtle forbids inside an IRI reference (RDF 1.1 Turtle, IRIREF), plus space.
_IRI_FORBIDDEN = re.compile(r'[\x00-\x20<>"{}|^`\\]')
_PREFIXES = """@prefix dcat: <http://www.w3.org/ns/dcat#> .
@prefix dct: <http://purl.org/dc/terms/> .
@prefix foaf: <http://xmlns.com/foaf/0.1/> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
"""


async def _public_entries(request: web.Request) -> list[dict[str, object]]:
    """The stranger's view of every dataset it may download, with the latest version."""
    await request.app[SHARING].identify(request)  # signatures checked, strangers rate-limited
    return await listed_entries(request, STRANGER)


async def inventory(request: web.Request) -> web.Response:
    """The IPT's `/inventory/dataset` JSON: `registeredResources` with title, type,
    lastPublished, records, recordsByExtension, eml and dwca."""
    config = request.app[CONFIG]
    resources = []
    for entry in await _public_entries(request):
        version = latest_version(config, str(entry["id"]))
        assert version is not None  # dataset_entry lists published datasets only
        by_extension = {version.row_type: entry["records"]}
        if entry["agreement"] is None:  # whole counts only where the whole archive is public
            by_extension.update(version.extension_records)
        kind = "SAMPLING_EVENT" if version.row_type == EVENT_ROW_TYPE else None
        resources.append(
            {
                "title": entry["title"],
                "type": kind or IPT_TYPES.get(str(entry["type"]), "OCCURRENCE"),
                "lastPublished": version.modified.date().isoformat(),
                "records": entry["records"],
                "recordsByExtension": by_extension,
                "eml": entry["eml"],
                "dwca": entry["archive"],
                "version": entry["version"],
            }
        )
    return web.json_response({"registeredResources": resources})


def _iri(value: str) -> str:
    return "<" + _IRI_FORBIDDEN.sub(lambda m: f"%{ord(m.group()):02X}", value) + ">"


def _literal(value: object, language: str | None = None) -> str:
    text = str(value)
    for raw, escaped in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r")):
        text = text.replace(raw, escaped)
    return f'"{text}"' + (f"@{language}" if language else "")


def _timestamp(value: dt.datetime) -> str:
    return f"{_literal(value.isoformat())}^^xsd:dateTime"


async def dcat(request: web.Request) -> web.Response:
    """A DCAT-AP catalogue in Turtle: one dcat:Dataset per public dataset, its landing page,
    and one dcat:Distribution (the DwC-A) with its licence."""
    config = request.app[CONFIG]
    entries = await _public_entries(request)
    base = public_base(config)
    catalogue = _iri(f"{base}/dcat")
    lines = [_PREFIXES]
    lines.append(f"{catalogue} a dcat:Catalog ;")
    lines.append(f"    dct:title {_literal(config.name)} ;")
    lines.append(f"    dct:description {_literal(f'Datasets published by {config.name}')} ;")
    lines.append(f"    dct:publisher {_iri(f'{base}/.well-known/fednode')} ;")
    lines.append(f"    foaf:homepage {_iri(base)}")
    for entry in entries:
        lines.append(f"    ; dcat:dataset {_iri(str(entry['page']))}")
    lines.append("    .\n")
    lines.append(f"{_iri(f'{base}/.well-known/fednode')} a foaf:Agent ;")
    lines.append(f"    foaf:name {_literal(config.name)} .\n")
    for entry in entries:
        dataset = config.dataset(str(entry["id"]))
        version = latest_version(config, dataset.id)
        assert version is not None
        page = _iri(str(entry["page"]))
        archive = _iri(str(entry["archive"]))
        lines.append(f"{page} a dcat:Dataset ;")
        lines.append(f"    dct:identifier {_literal(dataset.id)} ;")
        for language, title in (dataset.titles or {"": str(dataset.title)}).items():
            lines.append(f"    dct:title {_literal(title, language or None)} ;")
        for language, abstract in (dataset.abstracts or {"": str(dataset.abstract)}).items():
            if abstract:
                lines.append(f"    dct:description {_literal(abstract, language or None)} ;")
        for keyword in dataset.keywords:
            lines.append(f"    dcat:keyword {_literal(keyword)} ;")
        lines.append(f"    dct:language {_literal(dataset.language)} ;")
        lines.append(f"    dct:publisher {_iri(f'{base}/.well-known/fednode')} ;")
        lines.append(f"    dct:modified {_timestamp(version.modified)} ;")
        lines.append(f"    owl:versionInfo {_literal(entry['version'])} ;")
        lines.append(f"    dcat:landingPage {page} ;")
        lines.append(f"    dcat:distribution {archive} .\n")
        licence = find_licence(str(entry["licence"]))
        lines.append(f"{archive} a dcat:Distribution ;")
        lines.append(f"    dct:title {_literal('Darwin Core Archive')} ;")
        lines.append(f"    dct:format {_literal('DwC-A')} ;")
        lines.append(f"    dcat:mediaType {_literal('application/zip')} ;")
        if licence is not None:
            lines.append(f"    dct:license {_iri(licence.url)} ;")
        lines.append(f"    dct:rights {_literal(entry['licence'])} ;")
        lines.append(f"    dct:modified {_timestamp(version.modified)} ;")
        lines.append(f"    dcat:downloadURL {archive} ;")
        lines.append(f"    dcat:accessURL {page} .\n")
    return web.Response(text="\n".join(lines), content_type="text/turtle", charset="utf-8")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/dcat", dcat)
    app.router.add_get("/inventory/dataset", inventory)
