"""`GET /`: a small HTML status page for the institute's staff; no JavaScript needed.

In the reader's language (node.server.status_language: Accept-Language or the page's switch),
with the Chinese and Vietnamese names the data carries shown beside the scientific names.
Everything is escaped: dataset titles and names come from data files.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
from html import escape
from typing import Any

from aiohttp import web

from harvesters.schedule import next_runs
from node.core.errors import AgreementDenied
from node.server.keys import CONFIG
from node.server.services import scheduler_of
from node.server.status import collect_status
from node.server.status_figures import status_figures
from node.server.status_language import NATIVE_NAMES, negotiate, translator

STYLE = """
body{font-family:system-ui,-apple-system,"Noto Sans","Noto Sans CJK SC",sans-serif;
margin:2rem;max-width:80rem;color:#1b1b1b}h1{margin-bottom:.2rem}
h2{margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{text-align:left;padding:.3rem .5rem;
border-bottom:1px solid #eee;vertical-align:top}th{background:#f5f5f5}.muted{color:#666}
.ok,.active{color:#11702b}.failed,.expired,.invalid,.tampered{color:#a11}.unchanged{color:#555}
.awaiting{color:#a60}code{font-size:.9em}.when,.id{white-space:nowrap}
.meaning{display:inline-block;min-width:11rem}
ul.names{list-style:none;margin:0;padding:0;min-width:15rem}ul.names li{margin-bottom:.3rem}
figure{margin:1rem 0}figure svg,svg.sent-chart{max-width:100%;height:auto}table.sent{width:auto}
nav.languages{float:right}
"""


# Colour of each agreement state (agreements.model.Status values, plus "invalid").
STATE_CLASS = {
    "active": "active",
    "awaiting signature": "awaiting",
    "not yet valid": "awaiting",
    "expired": "expired",
    "tampered": "tampered",
    "names list mismatch": "invalid",
}
NBSP = "\u00a0"  # joins a count to its label so a narrow column never splits them


def _cell(value: Any) -> str:
    return escape("" if value is None else str(value))


def _when(value: Any) -> str:
    """A timestamp to the second in UTC, the full value kept in `<time datetime>`."""
    if not value:
        return ""
    try:
        moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    except ValueError:
        return _cell(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    text = moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    return f'<time class="when" datetime="{_cell(value)}">{text}</time>'


def _counts(counts: Any) -> str:
    """`{"sent": 600, "total": 600}` as "sent 600, total 600", never broken inside a pair."""
    if not isinstance(counts, dict):
        return _cell(counts)
    return escape(", ".join(f"{k.replace('_', NBSP)}{NBSP}{v:,}" for k, v in counts.items()))


def _id(value: Any) -> str:
    """An identifier such as gxib-vnmn@1, kept on one line."""
    return f'<span class="id">{_cell(value)}</span>' if value else ""


def _table(headers: list[str], rows: list[list[str]], empty: str = "None yet.") -> str:
    if not rows:
        return f'<p class="muted">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _switch(language: str) -> str:
    """Links to the page in each language, each named in its own language."""
    links = [
        f'<b lang="{code}">{name}</b>'
        if code == language
        else f'<a href="?lang={code}" lang="{code}" hreflang="{code}">{name}</a>'
        for code, name in NATIVE_NAMES.items()
    ]
    return f'<nav class="languages">{" · ".join(links)}</nav>'


def render(status: dict[str, Any], language: str = "en", figures: str = "") -> str:
    _ = translator(language)
    node = status["node"]
    parts = [
        _switch(language),
        f"<h1>{_cell(node['name'])}</h1>",
        f'<p class="muted">fednode <code>{_cell(node["id"])}</code> · {_cell(node["country"])} · '
        f"{_cell(_('key fingerprint'))} <code>{_cell(node['fingerprint'])}</code> · "
        f"{_cell(_('generated'))} {_when(status['generated'])}</p>",
        f"<h2>{_cell(_('Datasets'))}</h2>",
    ]
    rows = []
    for d in status["datasets"]:
        names = "".join(
            f"<li><i>{_cell(e.get('scientificName'))}</i><br>"
            + " · ".join(
                f'<span lang="{lang}">{_cell(e.get("fed_vernacular_" + lang))}</span>'
                for lang in ("zh", "vi", "en")
                if e.get("fed_vernacular_" + lang)
            )
            + "</li>"
            for e in d["examples"]
        )
        titles = d.get("titles") or {}
        title_language = language if titles.get(language) else next(iter(titles), "")
        title = titles.get(title_language) or d["title"]
        rows.append(
            [
                f'<b lang="{_cell(title_language)}">{_cell(title)}</b><br>'
                f"<code>{_cell(d['id'])}</code>",
                _cell(_(d["type"])),
                _cell(d["version"] or _("not published")),
                f"{d['records']:,}",
                _cell(d["licence"]) + (_cell(" " + _("(public)")) if d["public"] else ""),
                _when(d["modified"]),
                f'<ul class="names">{names}</ul>' if names else "",
            ]
        )
    headers = ["Dataset", "Type", "Version", "Records", "Licence", "Published"]
    headers = [*map(_, headers), _("Names (zh · vi · en)")]
    parts.append(_table(headers, rows, _("None yet.")))
    parts.append(f"<h2>{_cell(_('Harvested sources'))}</h2>")
    rows = []
    for s in status["sources"]:
        run = s.get("last_run") or {}
        outcome = str(run.get("outcome", "never run"))
        rows.append(
            [
                f"<code>{_cell(s['source'])}</code><br>{_cell(s.get('url', ''))}",
                _cell(s["schedule"]),
                f'<span class="{_cell(outcome)}">{_cell(_(outcome))}</span><br>'
                f'<span class="muted meaning">{_cell(s.get("meaning", ""))}</span>',
                f"{int(run.get('records') or 0):,}",
                _when(run.get("finished")),
                _when(s.get("next_run")) or _cell(_("not scheduled")),
                _cell(run.get("error")),
            ]
        )
    headers = ["Source", "Schedule", "Last run", "Records", "Finished", "Next run", "Last error"]
    parts.append(_table([_(h) for h in headers], rows, _("None yet.")))
    parts.append(f"<h2>{_cell(_('Agreements'))}</h2>")
    rows = []
    for a in status["agreements"]:
        css = STATE_CLASS.get(a["status"], "invalid")
        rows.append(
            [
                f"<b>{_cell(a['ref'] or a['file'])}</b><br>{_cell(a['title'])}",
                f'<span class="{_cell(css)}">{_cell(_(a["status"]))}</span>',
                _cell(a["reason"]),
                "<br>".join(_cell(f) for f in a["flows"]),
            ]
        )
    headers = ["Agreement", "State", "Why", "Flows"]
    parts.append(_table([_(h) for h in headers], rows, _("None yet.")))
    parts.append(figures)  # node.server.status_figures: maps per flow, exports per month
    parts.append(f"<h2>{_cell(_('Recent audit entries'))}</h2>")
    rows = [
        [
            _cell(e["seq"]),
            _when(e["time"]),
            _cell(e["event"]),
            _cell(e["peer"]),
            _id(e["agreement"]),
            _id(e["dataset"]),
            _counts(e.get("counts")),
            _cell(e.get("detail")),
        ]
        for e in status["audit"]
    ]
    parts.append(
        _table(
            [_(h) for h in ("#", "Time", "Event", "Party", "Agreement", "Dataset", "Counts")]
            + [_("Detail")],
            rows,
            _("None yet."),
        )
    )
    body = "\n".join(parts)
    return (
        f'<!doctype html><html lang="{_cell(language)}"><head><meta charset="utf-8">'
        f"<title>{_cell(node['name'])} · fednode</title>"
        f'<meta name="viewport" content="width=device-width"><style>{STYLE}</style></head>'
        f"<body>{body}</body></html>"
    )


_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


def _local_only(request: web.Request) -> None:
    """The page lists partners and audit entries: staff reach it on the node's machine
    (or through an SSH tunnel, or an authenticated admin proxy that connects from loopback
    and addresses the node as localhost).

    A loopback peer address alone is not enough: the reverse proxy README asks for in front
    of a node connects from loopback and passes the public Host unchanged, so every client
    on the internet would count as local. A request must also name a loopback host and
    carry no forwarding header; a public Host also refuses DNS-rebinding pages.
    """
    remote = ipaddress.ip_address((request.remote or "0.0.0.0").split("%")[0])
    host = (request.host or "").strip().lower()
    if host.startswith("["):  # [::1]:8701
        host = host[1:].split("]")[0]
    elif host.count(":") == 1:  # 127.0.0.1:8701
        host = host.split(":")[0]
    forwarded = any(name in request.headers for name in _PROXY_HEADERS)
    if not remote.is_loopback or host not in _LOCAL_HOSTS or forwarded:
        raise AgreementDenied("the status page is served only to the node's own machine")


async def page(request: web.Request) -> web.Response:
    _local_only(request)

    config = request.app[CONFIG]
    runs = next_runs(scheduler_of(request.app))
    status = await asyncio.to_thread(collect_status, config, runs)
    figures = await asyncio.to_thread(status_figures, config)
    language = negotiate(request.headers.get("Accept-Language"), request.query.get("lang"))
    return web.Response(
        text=render(status, language, figures),
        content_type="text/html",
        charset="utf-8",
        headers={"Content-Language": language, "Vary": "Accept-Language"},
    )


async def status_json(request: web.Request) -> web.Response:
    _local_only(request)

    runs = next_runs(scheduler_of(request.app))
    status = await asyncio.to_thread(collect_status, request.app[CONFIG], runs)
    return web.json_response(status, dumps=lambda o: json.dumps(o, default=str))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", page)
    app.router.add_get("/status.json", status_json)
