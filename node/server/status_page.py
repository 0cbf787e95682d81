"""`GET /`: a small HTML status page for the institute's staff; no JavaScript needed.

In the reader's language (node.server.status_language: Accept-Language or the page's switch),
with the Chinese and Vietnamese names the data carries shown beside the scientific names.
The page's markup is the Jinja2 template node/server/templates/status_page.html; this
module hands it the status and a few formatting filters. Everything is escaped on output
(autoescape, plus a finalize that escapes every value): dataset titles and names come from
data files.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
from html import escape
from typing import Any

from aiohttp import web
from jinja2 import Environment, PackageLoader, StrictUndefined, Template
from markupsafe import Markup

from harvesters.schedule import next_runs
from node.core.errors import AgreementDenied
from node.server.keys import CONFIG
from node.server.services import scheduler_of
from node.server.status import collect_status
from node.server.status_figures import status_figures
from node.server.status_language import NATIVE_NAMES, negotiate, translator

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


def _escaped(value: Any) -> Any:
    """Escape every value the page prints, in the entity forms of `html.escape`.

    Autoescaping would escape too, but with markupsafe's forms (`&#34;` for `"`); the page
    has always served `&quot;`, and text searched for in the served HTML must keep matching.
    Values already marked safe (macros' output, the figures) pass unchanged. None prints as
    nothing, never as "None".
    """
    if isinstance(value, Markup):
        return value
    return Markup(escape("" if value is None else str(value)))


def _utc(value: Any) -> str:
    """A timestamp to the second in UTC, or "" when it cannot be read as one."""
    try:
        moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    except ValueError:
        return ""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _counts(counts: Any) -> Any:
    """`{"sent": 600, "total": 600}` as "sent 600, total 600", never broken inside a pair."""
    if not isinstance(counts, dict):
        return counts
    return ", ".join(f"{k.replace('_', NBSP)}{NBSP}{v:,}" for k, v in counts.items())


def _grouped(number: int) -> str:
    return f"{number:,}"


def _title_in(dataset: dict[str, Any], language: str) -> tuple[str, str]:
    """The dataset's title in the reader's language if node.toml gives one, else in the
    first language it gives, else the plain title (language unknown: "")."""
    return text_in(dataset.get("titles") or {}, dataset["title"], language)


def _abstract_in(dataset: dict[str, Any], language: str) -> tuple[str, str]:
    """The abstract as `_title_in` chooses the title."""
    return text_in(dataset.get("abstracts") or {}, dataset.get("abstract", ""), language)


def text_in(texts: dict[str, str], plain: str, language: str) -> tuple[str, str]:
    chosen = language if texts.get(language) else next(iter(texts), "")
    return chosen, texts.get(chosen) or plain


def _environment() -> Environment:
    """One environment for the process: templates are compiled once, on first use.

    StrictUndefined: a key the status lacks is an error in the tests, not a blank cell.
    """
    environment = Environment(
        loader=PackageLoader("node.server", "templates"),
        autoescape=True,
        finalize=_escaped,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        utc=_utc, counts=_counts, grouped=_grouped, title_in=_title_in, abstract_in=_abstract_in
    )
    return environment


_ENVIRONMENT = _environment()


def template(name: str) -> Template:
    """A page of node/server/templates, with the status page's escaping and filters."""
    return _ENVIRONMENT.get_template(name)


def render(status: dict[str, Any], language: str = "en", figures: str = "") -> str:
    """The page for `status` (node.server.status.collect_status) in `language`; `figures`
    is the HTML of node.server.status_figures, inserted as it is."""
    return _ENVIRONMENT.get_template("status_page.html").render(
        _=translator(language),
        language=language,
        languages=NATIVE_NAMES,
        state_class=STATE_CLASS,
        node=status["node"],
        generated=status["generated"],
        datasets=status["datasets"],
        sources=status["sources"],
        agreements=status["agreements"],
        audit=status["audit"],
        figures=Markup(figures),  # built with every value escaped (status_figures)
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
