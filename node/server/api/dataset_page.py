"""`GET /datasets/{id}`: the dataset's landing page, the URL its RSS item, EML
`alternateIdentifier` and distribution point at; `/datasets/{id}/v{version}` (the EML
`packageId`) is the same page while that version is kept.

JSON for API clients, HTML for browsers (by `Accept`), in the reader's language as the
status page chooses it. It is granted exactly like the archive: a dataset that is not for
this requester, or does not exist, is the same 404, so neither its title nor its versions
can be learnt without an agreement covering it. A partner sees no per-version record
counts, only the enforced count of the latest: whole counts tell what is withheld from it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from node.publish.versions import list_versions
from node.server.api.datasets import dataset_entry
from node.server.keys import CONFIG
from node.server.sharing import SHARING
from node.server.status_language import negotiate, translator
from node.server.status_page import template, text_in
from node.store.refusals import Withheld
from node.wire.proxies import public_base

JSON_TYPE = "application/json"
HTML_TYPE = "text/html"


def wants_html(accept: str | None) -> bool:
    """True when `Accept` ranks HTML above JSON; JSON otherwise (API clients send no Accept
    or `*/*`), and on a tie the type listed first wins, as browsers list HTML first."""
    best: dict[str, tuple[float, int]] = {}
    for position, part in enumerate((accept or "").split(",")):
        media, _, params = part.strip().partition(";")
        media = media.strip().lower()
        if media not in (JSON_TYPE, HTML_TYPE):
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        best.setdefault(media, (q, -position))
    html = best.get(HTML_TYPE, (0.0, 0))
    json_rank = best.get(JSON_TYPE, (0.0, 0))
    return html[0] > 0 and html > json_rank


async def dataset_page(request: web.Request) -> web.Response:
    sharing = request.app[SHARING]
    requester = await sharing.identify(request)
    dataset_id = request.match_info["dataset"]
    grant = sharing.grant(requester, dataset_id)
    if "version" in request.match_info:  # the EML packageId's form: 404 unless kept
        sharing.version(dataset_id, request.match_info["version"])
    agreement, flow = grant if grant is not None else (None, None)
    entry = await dataset_entry(request, dataset_id, agreement, flow)
    if entry is None:  # declared, not yet published: nothing to land on
        raise Withheld(dataset_id)
    config = request.app[CONFIG]
    dataset = config.dataset(dataset_id)
    base = public_base(config)
    versions: list[dict[str, Any]] = []
    for kept in reversed(list_versions(config, dataset_id)):
        latest = kept.version == entry["version"]
        query = "" if latest else f"?version={kept.version}"
        versions.append(
            {
                "version": kept.version,
                "published": kept.modified.isoformat(),
                "records": entry["records"] if latest else (None if flow else kept.records),
                "archive": f"{base}/datasets/{dataset_id}/archive{query}",
                "eml": f"{base}/datasets/{dataset_id}/eml{query}",
            }
        )
    body = {
        **entry,
        "abstract": dataset.abstract,
        "language": dataset.language,
        "versions": versions,
    }
    headers = {"Vary": "Accept, Accept-Language"}
    if not wants_html(request.headers.get("Accept")):
        return web.json_response(body, headers=headers)
    language = negotiate(request.headers.get("Accept-Language"), request.query.get("lang"))
    title_language, title = text_in(dataset.titles, str(dataset.title), language)
    abstract_language, abstract = text_in(dataset.abstracts, str(dataset.abstract), language)
    text = template("dataset_page.html").render(
        _=translator(language),
        language=language,
        node_name=config.name,
        entry=body,
        title=title,
        title_language=title_language,
        abstract=abstract,
        abstract_language=abstract_language,
    )
    return web.Response(
        text=text,
        content_type=HTML_TYPE,
        charset="utf-8",
        headers={**headers, "Content-Language": language},
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/datasets/{dataset}", dataset_page)
    app.router.add_get(r"/datasets/{dataset}/v{version:[0-9]{1,6}\.[0-9]{1,6}}", dataset_page)
