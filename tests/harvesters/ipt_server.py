"""An IPT-shaped server on 127.0.0.1: the real RSS feed of an IPT (its links rewritten to
this server) and real IPT test archives, served as IPT serves them (`rss.do`,
`archive.do?r=<shortname>`) with ETag and Last-Modified, answering conditional GETs with 304.

Tests change what it serves (a new archive, a broken feed, a transfer cut short) and read
back what it was asked and what it answered.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer

# The real feed and archives from GBIF IPT's test resources (tests/data/README.md).
DATA = Path(__file__).resolve().parent.parent / "data" / "dwca" / "ipt"
REAL_HOST = "http://ipt.ala.org.au"
# The sample feed's two resources, each served with one of the real IPT test archives.
ARCHIVES = {
    "nepal-griis-gbif": DATA / "dwca-inside-parent.zip",
    "global": DATA / "dwca-differentcoreidtermindex.zip",
}


@dataclass
class Served:
    """One archive as the IPT holds it: bytes, validators, and a fault to play."""

    body: bytes
    modified: float = field(default_factory=time.time)
    cut_after: int | None = None  # close the connection after this many bytes
    send_etag: bool = True  # False: only Last-Modified, as some servers in front of an IPT

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'

    @property
    def last_modified(self) -> str:
        return email.utils.formatdate(self.modified, usegmt=True)


@dataclass
class IptServer:
    url: str = ""  # the IPT's base URL, e.g. http://127.0.0.1:PORT/ipt
    archives: dict[str, Served] = field(default_factory=dict)
    feed_override: bytes | None = None  # served instead of the feed, e.g. an HTML page
    answers: list[tuple[str, int]] = field(default_factory=list)  # (resource, status)
    asked: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # request headers

    def __post_init__(self) -> None:
        for name, path in ARCHIVES.items():
            self.archives[name] = Served(path.read_bytes(), modified=time.time() - 3600)

    def feed(self) -> bytes:
        text = (DATA / "rss.xml").read_text(encoding="utf-8")
        return text.replace(REAL_HOST, self.url).encode("utf-8")

    def statuses(self, resource: str) -> list[int]:
        return [status for name, status in self.answers if name == resource]

    async def _rss(self, request: web.Request) -> web.Response:
        body = self.feed_override if self.feed_override is not None else self.feed()
        return web.Response(body=body, content_type="application/rss+xml")

    async def _archive(self, request: web.Request) -> web.StreamResponse:
        name = request.query.get("r", "")
        served = self.archives.get(name)
        if served is None:
            self.answers.append((name, 404))
            return web.Response(status=404, text="no such resource")
        headers = {"Last-Modified": served.last_modified}
        if served.send_etag:
            headers["ETag"] = served.etag
        since = email.utils.parsedate_to_datetime(
            request.headers.get("If-Modified-Since", "Thu, 01 Jan 1970 00:00:00 GMT")
        ).timestamp()
        self.asked.append((name, dict(request.headers)))
        if request.headers.get("If-None-Match") == served.etag or (
            "If-None-Match" not in request.headers and since >= int(served.modified)
        ):
            self.answers.append((name, 304))
            return web.Response(status=304, headers=headers)
        self.answers.append((name, 200))
        response = web.StreamResponse(headers={**headers, "Content-Type": "application/zip"})
        response.content_length = len(served.body)
        await response.prepare(request)
        if served.cut_after is not None:
            # The IPT dies mid-transfer: fewer bytes than announced, then the socket closes.
            await response.write(served.body[: served.cut_after])
            assert request.transport is not None
            request.transport.close()
            return response
        await response.write(served.body)
        await response.write_eof()
        return response


@contextlib.asynccontextmanager
async def serve() -> AsyncIterator[IptServer]:
    ipt = IptServer()
    app = web.Application()
    app.router.add_get("/ipt/rss.do", ipt._rss)
    app.router.add_get("/ipt/archive.do", ipt._archive)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    ipt.url = str(server.make_url("/ipt"))
    try:
        yield ipt
    finally:
        await server.close()
