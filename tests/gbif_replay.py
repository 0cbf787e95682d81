"""A local stand-in for api.gbif.org that replays GBIF's real, recorded answers.

The recordings are pygbif's vcrpy cassettes (`tests/data/gbif/pygbif/vcr_cassettes`, MIT),
recorded against api.gbif.org in October 2024. Requests match on method, path and the
parameters that select data; `limit`/`offset` slice the recorded page instead, so the
recorded first page stands for the whole result (its `count` is the number of records
recorded, unless a test sets one with `pretend_count`). `checklistKey` is ignored because
pygbif 0.7 adds it and the cassettes predate it; every request is kept in `seen`.

No cassette records a download's status or file (pygbif's tests do not hit them). The
server answers the status call in the shape of GBIF's API (`key`, `status`, `downloadLink`,
`size`, `totalRecords`) and serves, for the link, an archive built from the real GBIF
download `gbif-results.zip` (python-dwca-reader's sample, BSD-3-Clause): its rows rearranged
into today's layouts (DWCA: header row, `gbifID` and `datasetKey` columns; SIMPLE_PARQUET:
lower-case columns typed as GBIF's `download/describe` cassette declares).

Faults, for the paths a test names: an HTTP status (429 with Retry-After, 500, ...), a slow
answer, a body cut short. Start with `async with serve(...) as gbif:`; `gbif.api_url` is the
base URL to put in `NodeConfig.gbif_api_url`.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import functools
import io
import json
import time
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from xml.etree import ElementTree

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer

DATA = Path(__file__).parent / "data"
CASSETTES = DATA / "gbif" / "pygbif" / "vcr_cassettes"
SAMPLE_DOWNLOAD = DATA / "dwca" / "python-dwca-reader" / "gbif-results.zip"
IGNORED_PARAMS = frozenset({"checklistKey"})
PAGING_PARAMS = frozenset({"limit", "offset"})
# The first sentence of the body GBIF sends with a 429 (kartoza/bims#4756, 2025; GBIF's
# body goes on to point at the download API). GBIF sends no Retry-After with it.
SLOW_DOWN = (
    "This is not an efficient way to retrieve this data, please slow down or stop your script."
)
Params = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Recording:
    method: str
    path: str
    params: Params
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Seen:
    """One request the server received, for assertions."""

    method: str
    path: str
    params: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    at: float
    status: int = 0

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.params if k == name), None)


@dataclass
class Fault:
    kind: str  # "status", "slow" or "truncate"
    path: str  # applies to request paths starting with this
    times: int | None  # None: every matching request
    after: int = 0  # let this many matching requests through first
    status: int = 500
    retry_after: str | None = None
    delay_s: float = 0.0


def _matching(params: list[tuple[str, str]]) -> Params:
    return tuple(sorted((k, v) for k, v in params if k not in IGNORED_PARAMS | PAGING_PARAMS))


@functools.cache
def load_cassette(name: str) -> tuple[Recording, ...]:
    """A vcrpy cassette (version 1, YAML) as recordings; parsed once per test session."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(CASSETTES / f"{name}.yaml", encoding="utf-8") as handle:
        cassette = yaml.load(handle, Loader=loader)
    recordings = []
    for interaction in cassette["interactions"]:
        request, response = interaction["request"], interaction["response"]
        url = urlsplit(request["uri"])
        body = response["body"]["string"]
        recordings.append(
            Recording(
                method=request["method"],
                path=url.path,
                params=_matching(parse_qsl(url.query, keep_blank_values=True)),
                status=response["status"]["code"],
                reason=response["status"]["message"],
                headers={k: v[0] for k, v in response["headers"].items()},
                body=body if isinstance(body, bytes) else body.encode("utf-8"),
            )
        )
    return tuple(recordings)


class GbifReplay:
    """The aiohttp app and its state: recordings, faults, requests seen, downloads."""

    def __init__(self, *cassettes: str) -> None:
        self.recordings = [r for name in cassettes for r in load_cassette(name)]
        self.faults: list[Fault] = []
        self.seen: list[Seen] = []
        self.counts: dict[Params, int] = {}
        self.polls_before_ready = 1
        self.download_status = "SUCCEEDED"
        self.downloads: dict[str, dict[str, Any]] = {}
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._handle)
        self.server: TestServer | None = None
        self._closing = asyncio.Event()

    # -- for tests ---------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        assert self.server is not None, "start the server first"
        return str(self.server.make_url("/v1/"))

    def fail(
        self,
        status: int,
        *,
        path: str = "/",
        times: int | None = None,
        after: int = 0,
        retry_after: str | None = None,
    ) -> None:
        """Answer `status` (429 with GBIF's text) instead of the recording."""
        fault = Fault("status", path, times, after, status=status, retry_after=retry_after)
        self.faults.append(fault)

    def slow(
        self, delay_s: float, *, path: str = "/", times: int | None = None, after: int = 0
    ) -> None:
        """Wait `delay_s` before answering."""
        self.faults.append(Fault("slow", path, times, after, delay_s=delay_s))

    def truncate(self, *, path: str = "/", times: int | None = None, after: int = 0) -> None:
        """Announce the whole body's length, send half, close the connection."""
        self.faults.append(Fault("truncate", path, times, after))

    def pretend_count(self, count: int, **params: str) -> None:
        """Make a recorded query report `count` matching records (e.g. millions)."""
        self.counts[_matching(list(params.items()))] = count

    def requests_to(self, path: str, method: str | None = None) -> list[Seen]:
        return [s for s in self.seen if s.path.startswith(path) and method in (None, s.method)]

    # -- serving -----------------------------------------------------------------------
    def _fault(self, path: str) -> Fault | None:
        for fault in self.faults:
            if not path.startswith(fault.path):
                continue
            if fault.after > 0:
                fault.after -= 1
                continue
            if fault.times is None or fault.times > 0:
                if fault.times is not None:
                    fault.times -= 1
                return fault
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        seen = Seen(
            request.method,
            request.path,
            list(request.query.items()),
            dict(request.headers),
            await request.read(),
            time.monotonic(),
        )
        self.seen.append(seen)
        fault = self._fault(request.path)
        if fault and fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            text = SLOW_DOWN if fault.status == 429 else "Internal Server Error"
            seen.status = fault.status
            return web.Response(status=fault.status, text=text, headers=headers)
        if fault and fault.kind == "slow":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), fault.delay_s)
        status, headers, body = self._answer(request, seen)
        seen.status = status
        if fault and fault.kind == "truncate":
            response = web.StreamResponse(status=status, headers=headers)
            response.content_length = len(body)
            await response.prepare(request)
            await response.write(body[: len(body) // 2])
            assert request.transport is not None
            request.transport.close()
            return response
        return web.Response(status=status, body=body, headers=headers)

    def _answer(self, request: web.Request, seen: Seen) -> tuple[int, dict[str, str], bytes]:
        path = request.path
        if path.startswith("/v1/occurrence/download/request/") and request.method == "GET":
            key = path.rsplit("/", 1)[-1].removesuffix(".zip")
            if key in self.downloads:
                archive = self.downloads[key]["archive"]
                return 200, {"Content-Type": "application/octet-stream"}, archive
        if path == "/v1/occurrence/download/request" and request.method == "POST":
            if not request.headers.get("Authorization", "").startswith("Basic "):
                return 401, {"Content-Type": "text/plain"}, b"Unauthorized"
            answer = self._recorded(request.method, path, ())
            if answer is not None:
                self._prepare_download(answer.body.decode(), json.loads(seen.body))
                return answer.status, {"Content-Type": "application/json"}, answer.body
        key = path.removeprefix("/v1/occurrence/download/")
        if request.method == "GET" and key in self.downloads:
            return 200, {"Content-Type": "application/json"}, self._status(key)
        params = _matching(seen.params)
        recording = self._recorded(request.method, path, params)
        if recording is None:
            problem = {"error": "not recorded", "path": path, "params": params}
            return 404, {"Content-Type": "application/json"}, json.dumps(problem).encode()
        body = recording.body
        headers = {"Content-Type": recording.headers.get("Content-Type", "application/json")}
        if "limit" in dict(seen.params) and body.startswith(b"{"):
            body = self._page(json.loads(body), seen, params)
        return recording.status, headers, body

    def _recorded(self, method: str, path: str, params: Params) -> Recording | None:
        return next(
            (r for r in self.recordings if (r.method, r.path, r.params) == (method, path, params)),
            None,
        )

    def _page(self, recorded: dict[str, Any], seen: Seen, params: Params) -> bytes:
        results = recorded.get("results", [])
        offset, limit = int(seen.param("offset") or 0), int(seen.param("limit") or 20)
        count = self.counts.get(params, len(results))
        page = dict(recorded, offset=offset, limit=limit, count=count)
        page["results"] = results[offset : offset + limit]
        page["endOfRecords"] = offset + limit >= count
        return json.dumps(page).encode()

    def _prepare_download(self, key: str, request: dict[str, Any]) -> None:
        fmt = request.get("format", "")
        archive = dwca_download() if fmt == "DWCA" else simple_parquet_download()
        self.downloads[key] = {"archive": archive, "request": request, "polls": 0}

    def _status(self, key: str) -> bytes:
        download = self.downloads[key]
        download["polls"] += 1
        ready = download["polls"] > self.polls_before_ready
        status = self.download_status if ready else "RUNNING"
        assert self.server is not None
        link = str(self.server.make_url(f"/v1/occurrence/download/request/{key}.zip"))
        meta = {
            "key": key,
            "status": status,
            "request": download["request"],
            "downloadLink": link,
            "size": len(download["archive"]) if ready else 0,
            "totalRecords": SAMPLE_ROWS if ready else 0,
        }
        return json.dumps(meta).encode()


@contextlib.asynccontextmanager
async def serve(*cassettes: str) -> AsyncIterator[GbifReplay]:
    """Run a replay server on 127.0.0.1 (a free port) for the duration of the block."""
    replay = GbifReplay(*cassettes)
    replay.server = TestServer(replay.app, host="127.0.0.1")
    await replay.server.start_server()
    try:
        yield replay
    finally:
        replay._closing.set()
        await replay.server.close()


# -- download archives built from the real sample ---------------------------------------
SAMPLE_ROWS = 158  # occurrence.txt of gbif-results.zip


@functools.cache
def _sample() -> tuple[list[str], list[list[str]], dict[str, bytes]]:
    """(column terms, rows, metadata files) of the 2013 GBIF download sample."""
    with zipfile.ZipFile(SAMPLE_DOWNLOAD) as archive:
        meta = ElementTree.fromstring(archive.read("meta.xml"))
        ns = {"d": "http://rs.tdwg.org/dwc/text/"}
        fields = sorted(meta.findall("d:core/d:field", ns), key=lambda f: int(f.get("index", 0)))
        terms = [f.get("term", "") for f in fields]
        text = archive.read("occurrence.txt").decode("utf-8")
        rows = [
            row
            for row in csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
            if row
        ]
        extra = {
            n: archive.read(n)
            for n in archive.namelist()
            if not n.startswith("__MACOSX")
            and not n.endswith("/")
            and n not in ("meta.xml", "occurrence.txt")
        }
    # The 2013 layout wrote GBIF's key in column 0 and the dataset key in column 1.
    terms[0], terms[1] = (
        "http://rs.gbif.org/terms/1.0/gbifID",
        "http://rs.gbif.org/terms/1.0/datasetKey",
    )
    return terms, rows, extra


@functools.cache
def dwca_download() -> bytes:
    terms, rows, extra = _sample()
    names = [t.rsplit("/", 1)[-1] for t in terms]
    fields = "\n".join(f'    <field index="{i}" term="{t}"/>' for i, t in enumerate(terms))
    meta = (
        '<archive xmlns="http://rs.tdwg.org/dwc/text/" metadata="metadata.xml">\n'
        '  <core encoding="UTF-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n" '
        'fieldsEnclosedBy="" ignoreHeaderLines="1" '
        'rowType="http://rs.tdwg.org/dwc/terms/Occurrence">\n'
        f'    <files><location>occurrence.txt</location></files>\n    <id index="0"/>\n{fields}\n'
        "  </core>\n</archive>\n"
    )
    data = "\n".join("\t".join(r) for r in [names, *rows]) + "\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("meta.xml", meta)
        archive.writestr("occurrence.txt", data)
        for name, content in extra.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def describe_fields() -> dict[str, str]:
    """Field name -> type, from GBIF's recorded `download/describe/simpleCsv` answer."""
    body = json.loads(load_cassette("test_download_describe")[0].body)
    return {f["name"]: f["type"] for f in body["fields"]}


def _typed(values: list[str], kind: str) -> pa.Array:
    """A sample column as GBIF types it; text that does not parse stays text."""
    present = [v if v != "" else None for v in values]
    try:
        if kind == "DOUBLE":
            return pa.array([float(v) if v else None for v in present], pa.float64())
        if kind == "INT":
            return pa.array([int(v) if v else None for v in present], pa.int32())
    except ValueError:
        return pa.array(present, pa.string())
    if kind == "ARRAY<STRING>":
        return pa.array([[v] if v else [] for v in present], pa.list_(pa.string()))
    if kind.startswith("STRUCT"):
        struct = pa.struct([("concept", pa.string()), ("lineage", pa.list_(pa.string()))])
        return pa.array([{"concept": v, "lineage": [v]} if v else None for v in present], struct)
    return pa.array(present, pa.string())


@functools.cache
def simple_parquet_download() -> bytes:
    terms, rows, _ = _sample()
    types = describe_fields()
    columns: dict[str, pa.Array] = {}
    for i, term in enumerate(terms):
        name = term.rsplit("/", 1)[-1]
        if name.lower() not in columns:
            columns[name.lower()] = _typed([r[i] for r in rows], types.get(name, "STRING"))
    columns["issue"] = pa.array([[] for _ in rows], pa.list_(pa.string()))
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("occurrence.parquet/000000", buffer.getvalue())
    return out.getvalue()
