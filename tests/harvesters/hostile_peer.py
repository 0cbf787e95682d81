"""A partner node that misbehaves on demand, for harvest tests: real HTTP on 127.0.0.1.

It answers `GET /datasets` and `GET /datasets/{id}/archive` in the wire protocol's shape
(JSON listing; archive with `ETag`, 304 on a matching `If-None-Match`, `Fednode-Signature`
= Ed25519 over the archive's SHA-256 hex, the signed `Fednode-Statement` naming the
requester's key, `Fednode-Agreement`, `Fednode-Licence`), signed with a key the test pins
in node.toml. It does not check request signatures: it stands in for the peer, not for the
peer's access control; the recipient key it states is the one the request's signature
names.

What it serves per dataset is an `Offer`: any body (a real archive, garbage, a zip bomb),
a signature by another key or over other bytes, a connection dropped after N bytes of a
longer announced Content-Length, or a body trickled slowly. Failures by status (429 with
Retry-After, 5xx) are queued per path. Every request is kept in `seen`.

Archive builders at the bottom write real zip files: a small Darwin Core archive, a zip
bomb, a zip-slip archive.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import io
import random
import re
import time
import zipfile
import zlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.core.constants import AUDIT_HEAD_HEADER, SIGNATURE_HEADER
from node.core.identity import Identity
from node.store.audit import GENESIS_HASH, AuditHead
from node.store.audit_anchor import sign_head
from node.wire.statement import STATEMENT_HEADER, Statement, now_iso, sign_statement

ARCHIVE_PATH = "/datasets/{dataset}/archive"
AGREEMENT = "gxib-vnmn@1"
LICENCE = "CC-BY-4.0"


@dataclass
class Offer:
    """What the peer sends for one dataset's archive."""

    body: bytes
    kind: str = "occurrence"
    signer: Ed25519PrivateKey | None = None  # None: the peer's own (pinned) key
    signed_body: bytes | None = None  # sign these bytes' digest instead of the body's
    cut_after: int | None = None  # announce the whole length, send this many bytes, drop
    chunk_bytes: int = 64 * 1024
    chunk_delay_s: float = 0.0  # pause between chunks: a slow link
    audit_head: str | None = None  # None: a genuine signed head; "" sends none
    # The signed statement's claims; None fields take the honest value.
    version: str = "1.0"
    stated_dataset: str | None = None
    stated_sha256: str | None = None
    stated_recipient: str | None = None  # a key text; None: the requester's
    agreement: str | None = None  # id@version; None: a public dataset
    agreement_sha256: str | None = None
    recipient_party: str | None = None
    licence: str = LICENCE
    statement: bool = True  # False: send no Fednode-Statement at all
    headers: dict[str, str] = field(default_factory=dict)  # extra headers, e.g. encodings
    etag_text: str | None = None  # another ETag for the same bytes
    always_304: bool = False  # answer 304 Not Modified whatever the request
    redirect_to: str | None = None  # answer 302 to this URL instead of the archive

    @property
    def etag(self) -> str:
        return self.etag_text or f'"{hashlib.sha256(self.body).hexdigest()}"'


@dataclass
class Failure:
    """Answer requests to paths starting with `path` with `status`, `times` times."""

    path: str
    status: int
    times: int | None  # None: every request
    retry_after: str | None = None


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    at: float  # time.monotonic() when the request arrived
    status: int = 0
    bytes_sent: int = 0


@dataclass
class HostilePeer:
    """The peer's state; change `offers` and `failures` between harvests."""

    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    offers: dict[str, Offer] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    url: str = ""
    node_id: str = "gxib"
    server: TestServer | None = None
    # The listing as raw bytes and headers instead of one built from `offers` (say a gzip
    # body); `listing_delay_s` holds its answer back; `listing_redirect` answers a 302.
    listing_body: bytes | None = None
    listing_headers: dict[str, str] = field(default_factory=dict)
    listing_delay_s: float = 0.0
    listing_redirect: str | None = None
    _progress: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def public_key_text(self) -> str:
        return Identity(self.key).public_key_text

    def peer_config(self, **extra: object) -> dict[str, object]:
        """The `[[peers]]` entry a harvesting node writes for this peer."""
        return {
            "id": self.node_id,
            "url": self.url,
            "key": self.public_key_text,
            "datasets": [],
            "schedule": "every 6h",
            **extra,
        }

    def offer(self, dataset_id: str, body: bytes, **options: object) -> Offer:
        offer = Offer(body, **options)  # type: ignore[arg-type]
        self.offers[dataset_id] = offer
        return offer

    def fail(
        self, path: str, status: int, times: int | None = None, retry_after: str | None = None
    ) -> None:
        self.failures.append(Failure(path, status, times, retry_after))

    async def stop(self) -> None:
        """Stop listening: from now on connections to `url` are refused."""
        if self.server is not None:
            await self.server.close()

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path.startswith(path)]

    async def wait_for_bytes(self, dataset_id: str, nbytes: int, timeout_s: float = 20) -> None:
        """Return once the peer has sent at least `nbytes` of the dataset's archive."""
        path = ARCHIVE_PATH.format(dataset=dataset_id)
        deadline = time.monotonic() + timeout_s
        while not any(s.path == path and s.bytes_sent >= nbytes for s in self.seen):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the peer did not send {nbytes:,} bytes of {dataset_id}")
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), 0.5)

    # -- serving ---------------------------------------------------------------------
    def _failure(self, path: str) -> Failure | None:
        for failure in self.failures:
            if path.startswith(failure.path) and (failure.times is None or failure.times > 0):
                if failure.times is not None:
                    failure.times -= 1
                return failure
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        seen = Seen(request.method, request.path, dict(request.headers), time.monotonic())
        self.seen.append(seen)
        failure = self._failure(request.path)
        if failure is not None:
            seen.status = failure.status
            headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
            return web.json_response(
                {"error": "unavailable", "detail": f"peer answers {failure.status} on purpose"},
                status=failure.status,
                headers=headers,
            )
        if request.path == "/datasets":
            return await self._listing_response(seen)
        dataset_id = request.match_info.get("dataset", "")
        offer = self.offers.get(dataset_id)
        if offer is None or request.path != ARCHIVE_PATH.format(dataset=dataset_id):
            seen.status = 404
            return web.json_response({"error": "not_found", "detail": request.path}, status=404)
        return await self._archive(request, offer, seen)

    async def _listing_response(self, seen: Seen) -> web.StreamResponse:
        if self.listing_delay_s:
            await asyncio.sleep(self.listing_delay_s)
        if self.listing_redirect is not None:
            seen.status = 302
            return web.Response(status=302, headers={"Location": self.listing_redirect})
        seen.status = 200
        if self.listing_body is None:
            return web.json_response({"node": self.node_id, "datasets": self._listing()})
        headers = {"Content-Type": "application/json", **self.listing_headers}
        # Raw bytes as given: aiohttp must not compress or re-encode them.
        return web.Response(body=self.listing_body, headers=headers)

    def _listing(self) -> list[dict[str, object]]:
        return [
            {
                "id": dataset_id,
                "title": dataset_id,
                "type": offer.kind,
                "version": "1.0",
                "licence": LICENCE,
                "agreement": AGREEMENT,
            }
            for dataset_id, offer in self.offers.items()
        ]

    async def _archive(self, request: web.Request, offer: Offer, seen: Seen) -> web.StreamResponse:
        signed = offer.body if offer.signed_body is None else offer.signed_body
        digest = hashlib.sha256(signed).hexdigest()
        signer = Identity(offer.signer or self.key)
        headers = {
            "ETag": offer.etag,
            SIGNATURE_HEADER: signer.sign(digest.encode("ascii")),
            "Fednode-Agreement": offer.agreement or AGREEMENT,
            "Fednode-Licence": offer.licence,
            **offer.headers,
        }
        head = offer.audit_head
        if head is None:  # a fresh node's head (no entries yet), signed as the node does
            now = dt.datetime.now(dt.UTC)
            head = sign_head(
                Identity(self.key), self.node_id, AuditHead(0, GENESIS_HASH), now
            ).token
        if head:
            headers[AUDIT_HEAD_HEADER] = head
        if offer.statement:
            dataset_id = request.match_info["dataset"]
            statement = Statement(
                node=self.node_id,
                dataset=offer.stated_dataset or dataset_id,
                version=offer.version,
                recipient_party=offer.recipient_party,
                recipient_key=offer.stated_recipient or _requester_key(request),
                agreement=offer.agreement,
                agreement_sha256=offer.agreement_sha256,
                licence=offer.licence,
                sha256=offer.stated_sha256 or digest,
                created=now_iso(),
            )
            headers[STATEMENT_HEADER] = sign_statement(signer, statement)
        if offer.redirect_to is not None:
            seen.status = 302
            return web.Response(status=302, headers={"Location": offer.redirect_to})
        matches = offer.etag in [
            t.strip() for t in request.headers.get("If-None-Match", "").split(",")
        ]
        if matches or offer.always_304:
            seen.status = 304
            return web.Response(status=304, headers=headers)
        seen.status = 200
        response = web.StreamResponse(headers={**headers, "Content-Type": "application/zip"})
        response.content_length = len(offer.body)
        await response.prepare(request)
        end = len(offer.body) if offer.cut_after is None else offer.cut_after
        for start in range(0, end, offer.chunk_bytes):
            if offer.chunk_delay_s and start:
                await asyncio.sleep(offer.chunk_delay_s)
            chunk = offer.body[start : min(start + offer.chunk_bytes, end)]
            await response.write(chunk)
            seen.bytes_sent += len(chunk)
            self._progress.set()
        if offer.cut_after is not None:
            # The peer dies mid-transfer: fewer bytes than announced, then the socket closes.
            assert request.transport is not None
            request.transport.close()
            return response
        await response.write_eof()
        return response


def _requester_key(request: web.Request) -> str | None:
    """The key id the request's RFC 9421 signature names (the peer does not verify it)."""
    found = re.search(r'keyid="([^"]+)"', request.headers.get("Signature-Input", ""))
    return found.group(1) if found else None


@contextlib.asynccontextmanager
async def serve(
    peer: HostilePeer | None = None, port: int | None = None
) -> AsyncIterator[HostilePeer]:
    """Run the peer on 127.0.0.1 (a free port unless given) until the block ends."""
    peer = peer or HostilePeer()
    app = web.Application()
    app.router.add_get("/datasets", peer._handle)
    app.router.add_get(ARCHIVE_PATH, peer._handle)
    peer.server = TestServer(app, host="127.0.0.1", port=port)
    await peer.server.start_server()
    peer.url = str(peer.server.make_url("")).rstrip("/")
    try:
        yield peer
    finally:
        await peer.stop()


# -- archives ----------------------------------------------------------------------------
OCCURRENCE_TERMS = (
    "occurrenceID",
    "basisOfRecord",
    "scientificName",
    "family",
    "countryCode",
    "decimalLatitude",
    "decimalLongitude",
    "eventDate",
)
_META = """<?xml version="1.0" encoding="UTF-8"?>
<archive xmlns="http://rs.tdwg.org/dwc/text/" metadata="eml.xml">
  <core encoding="UTF-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n" fieldsEnclosedBy=""
        ignoreHeaderLines="1" rowType="http://rs.tdwg.org/dwc/terms/Occurrence">
    <files><location>occurrence.txt</location></files>
    <id index="0"/>
{fields}
  </core>
</archive>
"""
_EML = """<?xml version="1.0" encoding="UTF-8"?>
<eml:eml xmlns:eml="https://eml.ecoinformatics.org/eml-2.2.0" packageId="{package}"
         system="fednode" scope="system" xml:lang="en">
  <dataset><title>{title}</title></dataset>
</eml:eml>
"""


def occurrence_rows(count: int, prefix: str = "GXIB", start: int = 0) -> list[dict[str, str]]:
    """Plausible Guangxi karst occurrences; ids `urn:catalog:<prefix>:<n>`."""
    names = (
        ("Primulina eburnea", "Gesneriaceae"),
        ("Begonia fimbristipula", "Begoniaceae"),
        ("Paphiopedilum hirsutissimum", "Orchidaceae"),
    )
    rows = []
    for n in range(start, start + count):
        name, family = names[n % len(names)]
        rows.append(
            {
                "occurrenceID": f"urn:catalog:{prefix}:{n:06d}",
                "basisOfRecord": "PreservedSpecimen",
                "scientificName": name,
                "family": family,
                "countryCode": "CN",
                "decimalLatitude": f"{22.0 + (n % 300) / 100:.4f}",
                "decimalLongitude": f"{106.5 + (n % 200) / 100:.4f}",
                "eventDate": f"{1990 + n % 30}-{1 + n % 12:02d}-{1 + n % 28:02d}",
            }
        )
    return rows


def _meta(terms: Sequence[str]) -> str:
    fields = "\n".join(
        f'    <field index="{i}" term="http://rs.tdwg.org/dwc/terms/{t}"/>'
        for i, t in enumerate(terms)
    )
    return _META.format(fields=fields)


def occurrence_archive(
    rows: Sequence[dict[str, str]],
    title: str = "Karst occurrences",
    compression: int = zipfile.ZIP_DEFLATED,
) -> bytes:
    """A real zip DwC-A: meta.xml, eml.xml and a tab-separated occurrence.txt."""
    terms = list(rows[0]) if rows else list(OCCURRENCE_TERMS)
    lines = ["\t".join(terms)] + ["\t".join(row[t] for t in terms) for row in rows]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        archive.writestr("meta.xml", _meta(terms))
        archive.writestr(
            "eml.xml", _EML.format(package=title.lower().replace(" ", "-"), title=title)
        )
        archive.writestr("occurrence.txt", "\n".join(lines) + "\n")
    return buffer.getvalue()


def zip_bomb(unpacked_bytes: int) -> bytes:
    """A DwC-A whose occurrence.txt is one valid row repeated to `unpacked_bytes`: it
    deflates about 1000:1, far beyond the unpack ratio cap."""
    header = "\t".join(OCCURRENCE_TERMS) + "\n"
    row = "\t".join(occurrence_rows(1)[0].values()) + "\n"
    body = (header + row * (unpacked_bytes // len(row))).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("meta.xml", _meta(OCCURRENCE_TERMS))
        archive.writestr("occurrence.txt", body)
    return buffer.getvalue()


def zip_slip(member: str = "../x") -> bytes:
    """A valid-looking DwC-A with one more member whose path leaves the archive."""
    buffer = io.BytesIO(occurrence_archive(occurrence_rows(3)))
    with zipfile.ZipFile(buffer, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, "written outside the unpack folder\n")
    return buffer.getvalue()


def wide_archive(columns: int) -> bytes:
    """A DwC-A whose occurrence.txt has `columns` columns in each of its two lines: small
    once deflated, gigabytes in a reader that allocates per column."""
    # Random one-letter names keep the deflate ratio low (under the zip-bomb cap), so the
    # column cap is what has to stop it.
    letters = random.Random(columns).choices("abcdefghijklmnopqrstuvwxyz", k=columns)
    header = "\t".join(letters)
    row = "\t" * (columns - 1)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("meta.xml", _meta(OCCURRENCE_TERMS))
        archive.writestr("occurrence.txt", f"{header}\n{row}\n")
    return buffer.getvalue()


def large_xml_member_archive(xml_bytes: int) -> bytes:
    """A valid DwC-A plus an unreferenced `extra.xml` of `xml_bytes` blanks, streamed into
    the zip so that building it costs no memory."""
    buffer = io.BytesIO(occurrence_archive(occurrence_rows(3)))
    with zipfile.ZipFile(buffer, "a", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        info = zipfile.ZipInfo("extra.xml")
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as member:
            member.write(b"<?xml version='1.0'?><x>")
            block = b" " * 1024**2
            for _ in range(xml_bytes // len(block)):
                member.write(block)
            member.write(b"</x>")
    return buffer.getvalue()


def gzip_bomb(expanded_bytes: int) -> bytes:
    """Gzip of a JSON listing padded with blanks to `expanded_bytes` (about 1000:1)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip container
    parts = [compressor.compress(b'{"node": "gxib", "datasets": [')]
    block = b" " * 1024**2
    parts += [compressor.compress(block) for _ in range(expanded_bytes // len(block))]
    parts += [compressor.compress(b"]}"), compressor.flush()]
    return b"".join(parts)
