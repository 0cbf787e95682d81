"""Harvest a partner node: signed, conditional, verified, validated, swapped in atomically.

Like GBIF's crawler: one conditional GET per dataset (an unchanged archive costs one 304
and no processing), the body streamed to a temporary file under a size cap, the
`Fednode-Signature` checked against the key pinned for the peer before anything is
parsed, and the Parquet snapshot replaced only when every step succeeded. Every request
declares the peer's configured purpose (`Fednode-Purpose`, covered by the signature).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pyarrow as pa
from multidict import CIMultiDict

from harvesters.audit_heads import keep_audit_head
from harvesters.base import HarvestResult
from harvesters.http import request_with_retries
from harvesters.runs import RunLog
from node import constants
from node.auth import sign_headers
from node.config import NodeConfig, PeerConfig
from node.errors import ArchiveTooLarge, HarvestError, InvalidArchive, NodeError
from node.identity import Identity, parse_public_key, verify
from node.records import normalise
from node.store import Store, write_parquet_atomic

log = logging.getLogger("fednode.harvest")

AGREEMENT_HEADER = "Fednode-Agreement"
LICENCE_HEADER = "Fednode-Licence"


class PeerHarvester:
    """Harvests every dataset a peer shares with this node."""

    def __init__(
        self,
        config: NodeConfig,
        peer: PeerConfig,
        identity: Identity,
        session: aiohttp.ClientSession,
        runs: RunLog,
    ) -> None:
        self.config = config
        self.peer = peer
        self.identity = identity
        self.session = session
        self.runs = runs
        self.store = Store(config.home)
        self.source = f"peer:{peer.id}"

    def _signed(self, method: str, url: str, extra: dict[str, str] | None = None):
        """Fresh signed headers for each attempt, declaring node.toml's purpose for the peer."""

        def headers() -> dict[str, str]:
            signed = sign_headers(method, url, self.identity, purpose=self.peer.purpose)
            return {**(extra or {}), **signed}

        return headers

    async def _get_json(self, url: str) -> object:
        async def handle(response: aiohttp.ClientResponse) -> object:
            if response.status != 200:
                raise HarvestError(f"{url}: HTTP {response.status}: {await _detail(response)}")
            return await response.json()

        return await request_with_retries(
            self.session, "GET", url, self._signed("GET", url), handle
        )

    async def datasets(self) -> list[dict[str, object]]:
        """Datasets the peer lists for this node, narrowed to those node.toml asks for."""
        listing = await self._get_json(self.peer.url.rstrip("/") + "/datasets")
        if not isinstance(listing, dict) or not isinstance(listing.get("datasets"), list):
            raise HarvestError(f"{self.peer.id}: /datasets did not return a dataset list")
        wanted = set(self.peer.datasets)
        return [d for d in listing["datasets"] if not wanted or d.get("id") in wanted]

    async def harvest(self, run_id: str) -> HarvestResult:
        result = HarvestResult(self.source, run_id, "ok")
        try:
            # Downloads left by a killed run; runs of one source never overlap (source lock).
            for stale in self.store.tmp().glob(f"{self._tmp_prefix}*"):
                shutil.rmtree(stale, ignore_errors=True)
            datasets = await self.datasets()
        except Exception as exc:  # every failure is recorded in words, none escapes
            return self._failed(result, _explain(exc))
        unchanged = 0
        failures = []
        # One broken dataset must not hold back the peer's others: each is tried, and the
        # run fails (naming the broken ones) after the good ones are swapped in.
        for entry in datasets:
            dataset_id = str(entry["id"])
            try:
                records = await self._harvest_dataset(
                    dataset_id, str(entry.get("type", "")), run_id
                )
            except Exception as exc:  # recorded per dataset below
                failures.append(f"{dataset_id}: {_explain(exc)}")
                continue
            result.datasets.append(dataset_id)
            if records is None:
                unchanged += 1
            else:
                result.records += records
        result.detail["unchanged_datasets"] = unchanged
        if failures:
            result.detail["failed_datasets"] = len(failures)
            return self._failed(result, "; ".join(failures))
        if datasets and unchanged == len(datasets):
            result.outcome = "unchanged"
        result.finished = dt.datetime.now(dt.UTC)
        return result

    @staticmethod
    def _failed(result: HarvestResult, error: str) -> HarvestResult:
        result.outcome, result.error = "failed", error
        result.finished = dt.datetime.now(dt.UTC)
        return result

    async def _harvest_dataset(self, dataset_id: str, kind: str, run_id: str) -> int | None:
        """Records stored, or None when the peer answered 304 Not Modified."""
        url = f"{self.peer.url.rstrip('/')}/datasets/{dataset_id}/archive"
        etag, last_modified = self.runs.validators(self.source, dataset_id)
        conditional = {}
        if etag and self.store.harvested(self.peer.id, dataset_id).exists():
            conditional["If-None-Match"] = etag
            if last_modified:
                conditional["If-Modified-Since"] = last_modified
        tmp = Path(tempfile.mkdtemp(prefix=self._tmp_prefix, dir=self.store.tmp()))
        try:
            target = tmp / "dwca.zip"

            async def handle(response: aiohttp.ClientResponse) -> CIMultiDict[str] | None:
                if response.status == 304:
                    return None
                if response.status != 200:
                    raise HarvestError(
                        f"{dataset_id}: HTTP {response.status}: {await _detail(response)}"
                    )
                digest = await _stream_to_file(response, target)
                headers = CIMultiDict(response.headers)
                headers["sha256"] = digest
                return headers

            headers = await request_with_retries(
                self.session, "GET", url, self._signed("GET", url, conditional), handle
            )
            if headers is None:
                return None
            assert isinstance(headers, CIMultiDict)
            self._verify_signature(dataset_id, headers)
            keep_audit_head(self.config, self.peer, dataset_id, headers)
            _require_zip(dataset_id, target)
            agreement = headers.get(AGREEMENT_HEADER, "")
            provenance = {
                "fed_source": self.peer.id,
                "fed_dataset": dataset_id,
                "fed_agreement": agreement or None,
                "fed_harvest_run": run_id,
                "fed_licence": headers.get(LICENCE_HEADER) or None,
            }
            # Parsing and writing are CPU-bound: a worker thread keeps the node answering.
            rows = await asyncio.to_thread(
                write_parquet_atomic,
                self.store.harvested(self.peer.id, dataset_id),
                _normalised_batches(target, kind, provenance),
            )
            self.runs.save_validators(
                self.source, dataset_id, headers.get("ETag", ""), headers.get("Last-Modified", "")
            )
            return rows
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @property
    def _tmp_prefix(self) -> str:
        # A dot cannot occur in a peer id, so one peer's prefix never matches another's.
        return f"fednode-harvest-{self.peer.id}."

    def _verify_signature(self, dataset_id: str, headers: CIMultiDict[str]) -> None:
        signature = headers.get(constants.SIGNATURE_HEADER, "")
        key = parse_public_key(self.peer.key)
        if not signature or not verify(key, signature, headers["sha256"].encode("ascii")):
            raise HarvestError(
                f"{dataset_id}: the archive's {constants.SIGNATURE_HEADER} does not verify "
                f"against the key pinned for {self.peer.id}; refusing it and keeping the "
                "last good copy"
            )


def _explain(exc: BaseException) -> str:
    """A failure in words for the run log; unexpected errors keep their type's name."""
    if isinstance(exc, NodeError):
        return exc.detail
    if isinstance(exc, (ValueError, pa.ArrowException)):
        return f"the archive could not be read: {type(exc).__name__}: {exc}"
    if isinstance(exc, (aiohttp.ClientError, OSError, TimeoutError)):
        return f"{type(exc).__name__}: {exc}"
    log.exception("unexpected error while harvesting")
    return f"unexpected {type(exc).__name__}: {exc} (see the node's log)"


def _normalised_batches(
    archive: Path, kind: str, provenance: dict[str, object]
) -> Iterator[pa.Table]:
    from mappings.sources import open_source

    source = open_source(archive, dataset_type=kind or "occurrence")
    empty = True
    for batch in source.batches():
        empty = False
        yield normalise(batch, provenance)
    if empty:
        # The peer shares no records (say its agreement now filters them all): store none.
        yield normalise(pa.table({source.id_term: pa.array([], pa.string())}), provenance)


def _require_zip(dataset_id: str, archive: Path) -> None:
    """A peer's archive is a zip DwC-A; anything else (an HTML error page) is refused."""
    if zipfile.is_zipfile(archive):
        return
    with open(archive, "rb") as handle:
        head = handle.read(32)
    raise InvalidArchive(
        f"{dataset_id}: the peer sent {archive.stat().st_size:,} bytes that are not a zip "
        f"archive (they start with {head!r}); keeping the last good copy"
    )


async def _stream_to_file(response: aiohttp.ClientResponse, target: Path) -> str:
    """Stream the body to disk under the size cap; return its SHA-256 hex digest."""
    declared = response.content_length
    if declared is not None and declared > constants.MAX_ARCHIVE_BYTES:
        raise ArchiveTooLarge(
            f"peer announces {declared:,} bytes; the limit is {constants.MAX_ARCHIVE_BYTES:,}"
        )
    digest = hashlib.sha256()
    size = 0
    with open(target, "wb") as out:
        async for chunk in response.content.iter_chunked(constants.UNPACK_CHUNK_BYTES):
            size += len(chunk)
            if size > constants.MAX_ARCHIVE_BYTES:
                raise ArchiveTooLarge(
                    f"archive exceeds {constants.MAX_ARCHIVE_BYTES:,} bytes; download stopped"
                )
            digest.update(chunk)
            out.write(chunk)
    if declared is not None and size != declared:
        raise aiohttp.ClientPayloadError(
            f"body ended after {size:,} of {declared:,} bytes (peer died mid-transfer?)"
        )
    return digest.hexdigest()


async def _detail(response: aiohttp.ClientResponse) -> str:
    try:
        body = await response.json(content_type=None)
        return str(body.get("detail") or body.get("error") or body)
    except (ValueError, aiohttp.ContentTypeError, AttributeError):
        return (await response.text(errors="replace"))[:200]
