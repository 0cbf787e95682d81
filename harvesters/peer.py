"""Harvest a partner node: signed, conditional, verified, validated, swapped in atomically.

Like GBIF's crawler: one conditional GET per dataset (an unchanged archive costs one 304
and no processing), the body streamed to a temporary file under the node's store/tmp under
a size cap, the signed statement (`Fednode-Statement`) checked against the key pinned for
the peer and against this node's own agreement before anything is parsed, and the Parquet
snapshot replaced only when every step succeeded. Every request declares the peer's
configured purpose (`Fednode-Purpose`, covered by the signature).

Everything a peer sends is untrusted: a dataset id from its listing must be an id of the
project's rule and its store path must stay in the peer's own folder before anything is
written or removed; listings are capped in bytes and entries and decoded off the event
loop; datasets the peer no longer lists are removed from its folder.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from harvesters.archive_fetch import (
    error_detail,
    explain_failure,
    normalised_batches,
    receive_archive,
    require_zip,
    store_extensions,
)
from harvesters.audit_heads import keep_audit_head
from harvesters.base import HarvestResult
from harvesters.http import Sleep, read_capped, request_with_retries
from harvesters.key_rotation import follow_key_change
from harvesters.peer_statement import Accepted, accept_statement
from harvesters.runs import RunLog
from node.core import constants
from node.core.config import DATASET_TYPES, NodeConfig, PeerConfig, is_valid_id
from node.core.constants import AUDIT_HEAD_HEADER
from node.core.errors import HarvestError
from node.core.identity import Identity
from node.store.agreement_book import AgreementBook
from node.store.store import Store, write_parquet_atomic
from node.wire.auth import sign_headers
from node.wire.statement import STATEMENT_HEADER

log = logging.getLogger("fednode.harvest")


class PeerHarvester:
    """Harvests every dataset a peer shares with this node."""

    def __init__(
        self,
        config: NodeConfig,
        peer: PeerConfig,
        identity: Identity,
        session: aiohttp.ClientSession,
        runs: RunLog,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.config = config
        self.sleep = sleep
        self.peer = peer
        self.identity = identity
        self.session = session
        self.runs = runs
        self.store = Store(config.home)
        self.book = AgreementBook(config, identity.public_key_text)
        self.source = f"peer:{peer.id}"

    def _signed(
        self, method: str, url: str, extra: dict[str, str] | None = None
    ) -> Callable[[], dict[str, str]]:
        """Fresh signed headers for each attempt, declaring node.toml's purpose for the peer."""

        def headers() -> dict[str, str]:
            signed = sign_headers(method, url, self.identity, purpose=self.peer.purpose)
            return {**(extra or {}), **signed}

        return headers

    async def _get_json(self, url: str) -> object:
        async def handle(response: aiohttp.ClientResponse) -> object:
            if response.status != 200:
                raise HarvestError(f"{url}: HTTP {response.status}: {await error_detail(response)}")
            body = await read_capped(response, constants.MAX_LISTING_BYTES, url)
            try:
                # Decoding a megabyte of JSON takes long enough to stall /health: a thread.
                return await asyncio.to_thread(json.loads, body)
            except (ValueError, RecursionError) as exc:
                raise HarvestError(f"{url}: the peer's answer is not JSON ({exc})") from None

        return await request_with_retries(
            self.session,
            "GET",
            url,
            self._signed("GET", url),
            handle,
            sleep=self.sleep,
            timeout_s=constants.METADATA_TIMEOUT_S,
            deadline_s=constants.METADATA_DEADLINE_S,
        )

    async def datasets(self) -> list[dict[str, object]]:
        """Datasets the peer lists for this node, narrowed to those node.toml asks for."""
        listing = await self._get_json(self.peer.url.rstrip("/") + "/datasets")
        if not isinstance(listing, dict) or not isinstance(listing.get("datasets"), list):
            raise HarvestError(f"{self.peer.id}: /datasets did not return a dataset list")
        entries = listing["datasets"]
        if len(entries) > constants.MAX_LISTED_DATASETS:
            raise HarvestError(
                f"{self.peer.id}: /datasets lists {len(entries):,} datasets; the limit is "
                f"{constants.MAX_LISTED_DATASETS:,}, so the listing is refused whole"
            )
        if not all(isinstance(d, dict) for d in entries):
            raise HarvestError(f"{self.peer.id}: /datasets holds entries that are not objects")
        wanted = set(self.peer.datasets)
        return [d for d in entries if not wanted or d.get("id") in wanted]

    async def harvest(self, run_id: str) -> HarvestResult:
        result = HarvestResult(self.source, run_id, "ok")
        try:
            # Downloads left by a killed run; runs of one source never overlap (source lock).
            for stale in self.store.tmp().glob(f"{self._tmp_prefix}*"):
                shutil.rmtree(stale, ignore_errors=True)
            # A rotated key is followed before anything is verified against the pin.
            self.peer = await follow_key_change(self.session, self.config, self.peer)
            datasets = await self.datasets()
        except Exception as exc:  # every failure is recorded in words, none escapes
            return self._failed(result, explain_failure(exc))
        unchanged = 0
        failures = []
        listed: set[str] = set()
        # One broken dataset must not hold back the peer's others: each is tried, and the
        # run fails (naming the broken ones) after the good ones are swapped in.
        for entry in datasets:
            raw_id = entry.get("id")
            dataset_id = raw_id if isinstance(raw_id, str) else repr(raw_id)
            try:
                path = self.store.peer_dataset(self.peer.id, dataset_id)
                listed.add(dataset_id)
                records = await self._harvest_dataset(
                    dataset_id, path, _dataset_type(entry), run_id
                )
            except Exception as exc:  # recorded per dataset below
                shown = dataset_id if is_valid_id(dataset_id) else repr(dataset_id)[:80]
                failures.append(f"{shown}: {explain_failure(exc)}")
                continue
            result.datasets.append(dataset_id)
            if records is None:
                unchanged += 1
            else:
                result.records += records
        result.detail["unchanged_datasets"] = unchanged
        pruned = self._prune(listed)
        if pruned:
            result.detail["pruned_datasets"] = pruned
        if failures:
            result.detail["failed_datasets"] = len(failures)
            return self._failed(result, "; ".join(failures))
        if datasets and unchanged == len(datasets) and not pruned:
            result.outcome = "unchanged"
        result.finished = dt.datetime.now(dt.UTC)
        return result

    def _prune(self, listed: set[str]) -> list[str]:
        """Remove datasets the peer no longer lists (its whole listing was read)."""
        pruned = self.store.prune_peer(self.peer.id, listed)
        for dataset_id in pruned:
            self.runs.forget(self.source, dataset_id)
            log.info("%s no longer lists %s: removed from the store", self.peer.id, dataset_id)
        return pruned

    @staticmethod
    def _failed(result: HarvestResult, error: str) -> HarvestResult:
        result.outcome, result.error = "failed", error
        result.finished = dt.datetime.now(dt.UTC)
        return result

    async def _harvest_dataset(
        self, dataset_id: str, path: Path, kind: str, run_id: str
    ) -> int | None:
        """Records stored, or None when the stored copy is still the peer's current one."""
        url = f"{self.peer.url.rstrip('/')}/datasets/{dataset_id}/archive"
        etag, last_modified = self.runs.validators(self.source, dataset_id)
        held = self.runs.held(self.source, dataset_id)
        conditional = {}
        if etag and path.exists() and held is not None:
            conditional["If-None-Match"] = etag
            if last_modified:
                conditional["If-Modified-Since"] = last_modified
        tmp = Path(tempfile.mkdtemp(prefix=self._tmp_prefix, dir=self.store.tmp()))
        try:
            target = tmp / "dwca.zip"

            async def handle(response: aiohttp.ClientResponse) -> Received | None:
                digest = await receive_archive(
                    response,
                    target,
                    name=dataset_id,
                    sender="peer",
                    prefix=f"{dataset_id}: ",
                    conditional=bool(conditional),
                )
                if digest is None:
                    return None
                return Received(
                    digest,
                    response.headers.get(STATEMENT_HEADER, ""),
                    response.headers.get("ETag", ""),
                    response.headers.get("Last-Modified", ""),
                    {AUDIT_HEAD_HEADER: response.headers.get(AUDIT_HEAD_HEADER, "")},
                )

            received = await request_with_retries(
                self.session,
                "GET",
                url,
                self._signed("GET", url, conditional),
                handle,
                sleep=self.sleep,
                timeout_s=constants.DOWNLOAD_TIMEOUT_S,
                deadline_s=constants.DOWNLOAD_DEADLINE_S,
            )
            if received is None:
                return None
            assert isinstance(received, Received)
            accepted = accept_statement(
                received.statement,
                peer_id=self.peer.id,
                peer_key=self.peer.key,
                dataset_id=dataset_id,
                identity=self.identity,
                digest=received.sha256,
                held_version=held[0] if held else None,
                book=self.book,
            )
            if held is not None and held[1] == received.sha256 and path.exists():
                # A new ETag on the same bytes: nothing to parse, only validators to keep.
                self._remember(dataset_id, received, accepted)
                return None
            keep_audit_head(self.config, self.peer, dataset_id, received.headers)
            require_zip(dataset_id, target)
            provenance = {
                "fed_source": self.peer.id,
                "fed_dataset": dataset_id,
                "fed_agreement": accepted.agreement,
                "fed_harvest_run": run_id,
                "fed_licence": accepted.licence or None,
            }
            # Parsing and writing are CPU-bound: a worker thread keeps the node answering.
            rows = await asyncio.to_thread(
                write_parquet_atomic,
                path,
                normalised_batches(target, kind, provenance, tmp),
                beside=lambda snapshot: store_extensions(target, snapshot, tmp),
            )
            self._remember(dataset_id, received, accepted)
            return rows
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _remember(self, dataset_id: str, received: Received, accepted: Accepted) -> None:
        self.runs.save_validators(self.source, dataset_id, received.etag, received.last_modified)
        self.runs.save_held(
            self.source,
            dataset_id,
            accepted.statement.version,
            received.sha256,
            json.dumps(accepted.statement.__dict__, sort_keys=True),
        )

    @property
    def _tmp_prefix(self) -> str:
        # A dot cannot occur in a peer id, so one peer's prefix never matches another's.
        return f"fednode-harvest-{self.peer.id}."


@dataclass(frozen=True)
class Received:
    """What one archive response brought: the body's digest and the headers kept."""

    sha256: str
    statement: str
    etag: str
    last_modified: str
    headers: dict[str, str]  # the signed ones checked after the download (audit head)


def _dataset_type(entry: dict[str, object]) -> str:
    kind = entry.get("type") or "occurrence"
    if kind not in DATASET_TYPES:
        raise HarvestError(f"dataset type {str(kind)[:40]!r} is not one of {DATASET_TYPES}")
    return str(kind)
