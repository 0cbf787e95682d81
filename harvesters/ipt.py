"""Harvest a GBIF IPT's public resources into `store/ipt/<ipt>/<resource>/`.

The IPT's RSS feed lists its resources; each archive is fetched as a partner's is (one
conditional GET, so an unchanged resource costs one 304 and nothing is rewritten; the body
streamed under the same size cap and deadlines; zip and archive checks; the Parquet
snapshot swapped in atomically only when everything succeeded), through the same code.

An IPT signs nothing and has no agreement with this node, so nothing is signed on the way
out and nothing is taken on trust on the way in: records are stored as public data from
that source (`fed_source` = the IPT's id, no agreement), apart from partners' data, as
GBIF harvests are. A feed that cannot be read fails the run and leaves every resource as
it was; one broken resource fails the run after the others are stored.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import shutil
import tempfile
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
from harvesters.base import HarvestResult
from harvesters.http import Sleep, read_capped, request_with_retries
from harvesters.ipt_feed import IptResource, feed_url, parse_feed
from harvesters.runs import RunLog
from node.core import constants
from node.core.config import IptConfig, NodeConfig
from node.core.errors import HarvestError, InvalidArchive, UnsafeArchive
from node.core.terms import TAXON_ROW_TYPE
from node.dwca.eml import parse_eml
from node.dwca.reader import open_archive
from node.store.store import Store, write_parquet_atomic

log = logging.getLogger("fednode.harvest")


@dataclass(frozen=True)
class _Fetched:
    sha256: str
    etag: str
    last_modified: str


class IptHarvester:
    """Harvests every public resource (or those node.toml names) an IPT's feed lists."""

    def __init__(
        self,
        config: NodeConfig,
        ipt: IptConfig,
        session: aiohttp.ClientSession,
        runs: RunLog,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.config = config
        self.ipt = ipt
        self.session = session
        self.runs = runs
        self.sleep = sleep
        self.store = Store(config.home)
        self.source = f"ipt:{ipt.id}"

    async def resources(self) -> tuple[list[IptResource], list[str]]:
        """The feed's resources narrowed to node.toml's list, and the items it refused."""
        found, refused = await fetch_feed(self.session, self.ipt.url, self.sleep)
        wanted = {name.lower() for name in self.ipt.resources}
        return [r for r in found if not wanted or r.name in wanted], refused

    async def harvest(self, run_id: str) -> HarvestResult:
        result = HarvestResult(self.source, run_id, "ok")
        try:
            for stale in self.store.tmp().glob(f"{self._tmp_prefix}*"):
                shutil.rmtree(stale, ignore_errors=True)
            resources, failures = await self.resources()
        except Exception as exc:  # every failure is recorded in words, none escapes
            return _failed(result, explain_failure(exc))
        unchanged = 0
        for resource in resources:
            try:
                records = await self._harvest_resource(resource, run_id)
            except Exception as exc:  # recorded per resource below
                failures.append(f"{resource.name}: {explain_failure(exc)}")
                continue
            result.datasets.append(resource.name)
            if records is None:
                unchanged += 1
            else:
                result.records += records
        result.detail["unchanged_datasets"] = unchanged
        # Only a feed read whole and clean says what the IPT no longer publishes: an item
        # refused (say a link gone off-origin) keeps what was stored for it.
        pruned = [] if failures else self._prune({r.name for r in resources})
        if pruned:
            result.detail["pruned_datasets"] = pruned
        if failures:
            result.detail["failed_datasets"] = len(failures)
            return _failed(result, "; ".join(failures))
        if resources and unchanged == len(resources) and not pruned:
            result.outcome = "unchanged"
        result.finished = dt.datetime.now(dt.UTC)
        return result

    def _prune(self, listed: set[str]) -> list[str]:
        """Remove resources the feed (narrowed by node.toml) no longer lists."""
        pruned = self.store.prune_ipt(self.ipt.id, listed)
        for name in pruned:
            self.runs.forget(self.source, name)
            log.info("IPT %s no longer lists %s: removed from the store", self.ipt.id, name)
        return pruned

    async def _harvest_resource(self, resource: IptResource, run_id: str) -> int | None:
        """Records stored, or None when the stored copy is still the IPT's current one."""
        path = self.store.ipt_resource(self.ipt.id, resource.name)
        etag, last_modified = self.runs.validators(self.source, resource.name)
        held = self.runs.held(self.source, resource.name)
        conditional: dict[str, str] = {}
        if held is not None and path.exists():
            if etag:
                conditional["If-None-Match"] = etag
            if last_modified:
                conditional["If-Modified-Since"] = last_modified
        tmp = Path(tempfile.mkdtemp(prefix=self._tmp_prefix, dir=self.store.tmp()))
        try:
            target = tmp / "dwca.zip"

            async def handle(response: aiohttp.ClientResponse) -> _Fetched | None:
                digest = await receive_archive(
                    response,
                    target,
                    name=resource.name,
                    sender="IPT",
                    prefix="",
                    conditional=bool(conditional),
                )
                if digest is None:
                    return None
                return _Fetched(
                    digest,
                    response.headers.get("ETag", ""),
                    response.headers.get("Last-Modified", ""),
                )

            fetched = await request_with_retries(
                self.session,
                "GET",
                resource.dwca_url,
                lambda: conditional,
                handle,
                sleep=self.sleep,
                timeout_s=constants.DOWNLOAD_TIMEOUT_S,
                deadline_s=constants.DOWNLOAD_DEADLINE_S,
            )
            if fetched is None:
                return None
            assert isinstance(fetched, _Fetched)
            if held is not None and held[1] == fetched.sha256 and path.exists():
                # New validators on the same bytes: nothing to parse, only them to keep.
                self._remember(resource, fetched)
                return None
            require_zip(resource.name, target)
            kind, licence = await asyncio.to_thread(_describe, target, tmp)
            provenance = {
                "fed_source": self.ipt.id,
                "fed_dataset": resource.name,
                "fed_agreement": None,  # public data from an unsigned source
                "fed_harvest_run": run_id,
                "fed_licence": licence,
            }
            rows = await asyncio.to_thread(
                write_parquet_atomic,
                path,
                normalised_batches(target, kind, provenance, tmp),
                beside=lambda snapshot: store_extensions(target, snapshot, tmp),
            )
            self._remember(resource, fetched)
            return rows
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _remember(self, resource: IptResource, fetched: _Fetched) -> None:
        self.runs.save_validators(self.source, resource.name, fetched.etag, fetched.last_modified)
        about = {"guid": resource.guid, "title": resource.title, "published": resource.published}
        self.runs.save_held(
            self.source,
            resource.name,
            resource.guid,
            fetched.sha256,
            json.dumps(about, sort_keys=True),
        )

    @property
    def _tmp_prefix(self) -> str:
        # A dot cannot occur in an id, so one IPT's prefix never matches another's.
        return f"fednode-harvest-ipt-{self.ipt.id}."


async def fetch_feed(
    session: aiohttp.ClientSession, base: str, sleep: Sleep = asyncio.sleep
) -> tuple[list[IptResource], list[str]]:
    """The IPT's feed, read under the listing cap and deadline, parsed off the event loop."""
    url = feed_url(base)

    async def handle(response: aiohttp.ClientResponse) -> bytes:
        if response.status != 200:
            raise HarvestError(f"{url}: HTTP {response.status}: {await error_detail(response)}")
        return await read_capped(response, constants.MAX_LISTING_BYTES, url)

    body = await request_with_retries(
        session,
        "GET",
        url,
        lambda: {"Accept": "application/rss+xml, application/xml;q=0.9"},
        handle,
        sleep=sleep,
        timeout_s=constants.METADATA_TIMEOUT_S,
        deadline_s=constants.METADATA_DEADLINE_S,
    )
    assert isinstance(body, bytes)
    return await asyncio.to_thread(parse_feed, body, base)


def _describe(archive: Path, workdir: Path) -> tuple[str, str | None]:
    """The dataset type its core's row type says (an IPT's feed does not), and the licence
    its EML states, as an id when recognised; None without readable EML (each record's
    own `license` then stands, as for GBIF's records). EML with a DTD is still refused."""
    with open_archive(archive, workdir) as opened:
        kind = "checklist" if opened.core.row_type == TAXON_ROW_TYPE else "occurrence"
        eml = opened.metadata_path
        licence = None
        if eml is not None and eml.exists():
            try:
                licence = parse_eml(eml)["licence"]
            except UnsafeArchive:
                raise
            except InvalidArchive:
                pass  # metadata that is not EML states no licence: the records' own stand
    return kind, licence


def _failed(result: HarvestResult, error: str) -> HarvestResult:
    result.outcome, result.error = "failed", error
    result.finished = dt.datetime.now(dt.UTC)
    return result
