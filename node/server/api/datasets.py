"""Dataset endpoints: the list (JSON and IPT-shaped RSS), archives, EML.

The archive a requester receives is the one enforcement built for the flow that names
them; its `ETag` is the archive's SHA-256, so an unchanged archive costs a 304.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
import zipfile
from collections.abc import Iterable
from xml.etree import ElementTree as ET

from aiohttp import web

from agreements.model import Agreement, Flow
from node.core.constants import AUDIT_HEAD_HEADER, SIGNATURE_HEADER
from node.publish.versions import latest_version
from node.server.keys import CONFIG, METRICS
from node.server.sharing import SHARING, Requester, ServedArchive
from node.store.refusals import Withheld
from node.wire.proxies import public_base
from node.wire.statement import STATEMENT_HEADER, Statement, now_iso, sign_statement

CHUNK_BYTES = 256 * 1024
VERSION_PATTERN = re.compile(r"[0-9]{1,6}\.[0-9]{1,6}")  # major.minor, as publish names them


def _http_date(iso: str) -> str:
    moment = dt.datetime.fromisoformat(iso)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return email.utils.format_datetime(moment.astimezone(dt.UTC), usegmt=True)


async def listed_entries(request: web.Request, requester: Requester) -> list[dict[str, object]]:
    """What the requester may download, counted as it would receive it."""
    listing = []
    for dataset_id, agreement, flow in request.app[SHARING].visible_datasets(requester):
        entry = await dataset_entry(request, dataset_id, agreement, flow)
        if entry is not None:
            listing.append(entry)
    return listing


async def dataset_entry(
    request: web.Request, dataset_id: str, agreement: Agreement | None, flow: Flow | None
) -> dict[str, object] | None:
    """One dataset as a requester granted it sees it; None before its first publish.

    A partner under a flow sees the enforced archive's record count and no change summary:
    the whole dataset's counts tell how much is withheld from it, and where.
    """
    config = request.app[CONFIG]
    base = public_base(config)
    dataset = config.dataset(dataset_id)
    version = latest_version(config, dataset_id)
    if version is None:
        return None
    records, changes = version.records, version.changes.text()
    changes_shown: str | None = changes
    if agreement is not None and flow is not None:
        served = await request.app[SHARING].flow_archive(dataset_id, version, agreement, flow)
        records, changes_shown = served.records, None
    return {
        "id": dataset_id,
        "title": dataset.title,
        "type": dataset.type,
        "version": version.version,
        "modified": version.modified.isoformat(),
        "records": records,
        "licence": flow.licence if flow else dataset.licence,
        "agreement": agreement.ref if agreement else None,
        "page": f"{base}/datasets/{dataset_id}",
        "archive": f"{base}/datasets/{dataset_id}/archive",
        "eml": f"{base}/datasets/{dataset_id}/eml",
        "change_summary": changes_shown,
    }


async def datasets(request: web.Request) -> web.Response:
    requester = await request.app[SHARING].identify(request)
    return web.json_response(
        {"node": request.app[CONFIG].id, "datasets": await listed_entries(request, requester)}
    )


def feed_language(languages: Iterable[str]) -> str:
    """The datasets' language when they share one; English (the feed's own words) else."""
    found = set(languages)
    return found.pop() if len(found) == 1 else "en"


async def rss(request: web.Request) -> web.Response:
    """The dataset list as RSS 2.0 in the IPT's shape, which GBIF-style harvesters read."""
    requester = await request.app[SHARING].identify(request)
    config = request.app[CONFIG]
    ET.register_namespace("ipt", "http://ipt.gbif.org/")
    ET.register_namespace("atom", "http://www.w3.org/2005/Atom")
    rss_el = ET.Element("rss", {"version": "2.0"})
    channel = ET.SubElement(rss_el, "channel")
    base = public_base(config)
    entries = await listed_entries(request, requester)
    for tag, text in (
        ("title", config.name),
        ("link", base),
        ("description", f"Datasets published by {config.name}"),
        ("language", feed_language(config.dataset(str(e["id"])).language for e in entries)),
        ("pubDate", email.utils.format_datetime(dt.datetime.now(dt.UTC), usegmt=True)),
        ("generator", "fednode"),
        ("ttl", "60"),
    ):
        ET.SubElement(channel, tag).text = text
    ET.SubElement(
        channel,
        "{http://www.w3.org/2005/Atom}link",
        {"href": f"{base}/rss", "rel": "self", "type": "application/rss+xml"},
    )
    ET.SubElement(channel, "{http://ipt.gbif.org/}identifier").text = config.id
    for entry in entries:
        item = ET.SubElement(channel, "item")
        ET.SubElement(item, "title").text = f"{entry['title']} - Version {entry['version']}"
        ET.SubElement(item, "link").text = str(entry["page"])
        ET.SubElement(item, "description").text = str(entry["change_summary"] or entry["title"])
        ET.SubElement(item, "{http://ipt.gbif.org/}eml").text = str(entry["eml"])
        ET.SubElement(item, "{http://ipt.gbif.org/}dwca").text = str(entry["archive"])
        ET.SubElement(item, "pubDate").text = _http_date(str(entry["modified"]))
        guid = ET.SubElement(item, "guid", {"isPermaLink": "false"})
        guid.text = f"{config.id}:{entry['id']}/v{entry['version']}"
    body = ET.tostring(rss_el, encoding="utf-8", xml_declaration=True)
    return web.Response(body=body, content_type="application/rss+xml", charset="utf-8")


def _statement(request: web.Request, requester: Requester, served: ServedArchive) -> str:
    """Signed per response: the recipient and time differ between requests for one build."""
    statement = Statement(
        node=request.app[CONFIG].id,
        dataset=served.dataset,
        version=served.dataset_version,
        recipient_party=requester.party,
        recipient_key=requester.key,
        agreement=served.agreement,
        agreement_sha256=served.agreement_sha256,
        licence=served.licence,
        sha256=served.sha256,
        created=now_iso(),
    )
    return sign_statement(request.app[SHARING].identity, statement)


async def archive(request: web.Request) -> web.StreamResponse:
    sharing = request.app[SHARING]
    requester = await sharing.identify(request)
    dataset_id = request.match_info["dataset"]
    served = await sharing.archive(requester, dataset_id, requested_version(request))
    headers = {
        "ETag": served.etag,
        "Last-Modified": _http_date(served.modified),
        SIGNATURE_HEADER: served.signature,
        STATEMENT_HEADER: _statement(request, requester, served),
        "Fednode-Licence": served.licence,
        "Fednode-Dataset-Version": served.dataset_version,
        "Cache-Control": "private, no-cache",
    }
    if requester.key is not None:
        # The node's signed audit head, for partners only (it tells how busy the log is):
        # they keep it, so entries before it cannot be cut off or rewritten unnoticed.
        headers[AUDIT_HEAD_HEADER] = sharing.audit_head()
    if served.agreement:
        headers["Fednode-Agreement"] = served.agreement
    if served.etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        return web.Response(status=304, headers=headers)
    size = served.path.stat().st_size
    response = web.StreamResponse(
        headers={
            **headers,
            "Content-Type": "application/zip",
            "Content-Disposition": (
                f'attachment; filename="{dataset_id}-{served.dataset_version}.zip"'
            ),
        }
    )
    response.content_length = size
    await response.prepare(request)
    if request.method == "HEAD":
        # aiohttp leaves HEAD to the handler: send the headers only, and since no archive
        # left the node, record no export.
        await response.write_eof()
        return response
    with open(served.path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            await response.write(chunk)
    await response.write_eof()
    sharing.record_export(requester, served)
    request.app[METRICS].archives.labels(dataset_id, requester.label).inc()
    return response


async def eml(request: web.Request) -> web.Response:
    """The EML of the latest or a kept version, as the requester would receive it."""
    sharing = request.app[SHARING]
    requester = await sharing.identify(request)
    dataset_id = request.match_info["dataset"]
    version_name = requested_version(request)
    grant = sharing.grant(requester, dataset_id)
    if grant is not None:
        # The EML a peer sees carries its flow's licence: serve the enforced archive's.
        served = await sharing.archive(requester, dataset_id, version_name)
        with zipfile.ZipFile(served.path) as archive_zip:
            body = archive_zip.read("eml.xml")
    else:
        body = sharing.version(dataset_id, version_name).eml_path.read_bytes()
    return web.Response(body=body, content_type="application/xml", charset="utf-8")


def requested_version(request: web.Request) -> str | None:
    """`?version=1.2`, or None for the latest; an empty value is refused as unknown."""
    if "version" not in request.query:
        return None
    value = request.query["version"]
    if not VERSION_PATTERN.fullmatch(value):
        raise Withheld(request.match_info["dataset"])  # the answer an unknown version gets
    return value


def add_routes(app: web.Application) -> None:
    app.router.add_get("/datasets", datasets)
    app.router.add_get("/rss", rss)
    app.router.add_get("/datasets/{dataset}/archive", archive)
    app.router.add_get("/datasets/{dataset}/eml", eml)
