"""Who may receive what: authentication, the agreement that grants it, the enforced archive.

Deny by default: a dataset leaves the node only through an active flow of a signed
agreement (enforced per request, cached per dataset version, agreement version, flow and
day, since embargoes move daily), or, with no agreement at all, when node.toml marks the
dataset `public = true`. A flow that lists `purposes` grants only requests declaring one
of them (`Fednode-Purpose`, covered by the peer's signature). Every
archive sent, with the purpose declared, goes into the audit log, followed by a signed
checkpoint of its head (node.store.audit_anchor); every refusal goes there too, through the
errors middleware and node.store.refusals, which keeps floods to one entry a minute.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from aiohttp import web

from agreements.enforce import enforce
from agreements.model import Agreement, AgreementState, Flow, Status
from agreements.pseudonyms import pseudonym_key
from node.core.config import DatasetConfig, NodeConfig
from node.core.constants import PURPOSE_HEADER
from node.core.errors import AgreementDenied, ConfigError, NotFound, Unauthenticated
from node.core.identity import Identity
from node.core.terms import OCCURRENCE_ROW_TYPE, TAXON_ROW_TYPE
from node.dwca.coverage import Coverage
from node.dwca.eml import build_eml
from node.dwca.extension_tables import load_extensions
from node.dwca.writer import write_archive
from node.export.crosswalks import (
    accepted_name_lookup,
    crosswalks_fingerprint,
    family_index,
    with_accepted_names,
    with_inferred_family,
)
from node.publish.own_checklists import own_names, with_trusted_accepted_names
from node.publish.versions import VersionInfo, latest_version, list_versions
from node.server.kept_records import kept_records
from node.server.ratelimit import RateLimiter
from node.server.shared_extensions import ExtensionEnforcer
from node.store.agreement_book import AgreementBook
from node.store.audit import AuditLog
from node.store.audit_anchor import Checkpoints, ReceivedHeads
from node.store.refusals import SOURCE_KEY, RefusalLog, Withheld
from node.store.state import connect
from node.store.state_migrations import migrate
from node.store.store import PART_NAME, Store, parquet_batches
from node.wire.auth import declared_purpose, verify_request
from node.wire.nonces import NonceCache

log = logging.getLogger("fednode.sharing")

ANONYMOUS = "anonymous"
ENFORCE_BATCH_ROWS = 100_000  # records enforced and written at a time when building an archive


@dataclass(frozen=True)
class Requester:
    party: str | None  # the agreement party id; None for an anonymous request
    key: str | None = None
    purpose: str | None = None  # from Fednode-Purpose; covered by the signature when signed

    @property
    def label(self) -> str:
        return self.party or ANONYMOUS


@dataclass(frozen=True)
class ServedArchive:
    """An archive ready to stream to one requester."""

    path: Path
    sha256: str
    signature: str
    dataset: str
    dataset_version: str
    agreement: str | None  # id@version, None for a public dataset
    agreement_sha256: str | None
    licence: str
    records: int
    modified: str  # ISO time the archive was built
    counts: dict[str, int]

    @property
    def etag(self) -> str:
        return f'"{self.sha256}"'


class Sharing:
    def __init__(self, config: NodeConfig, identity: Identity) -> None:
        self.config = config
        self.identity = identity
        self.store = Store(config.home)
        self.conn = connect(config.home)
        migrate(self.conn)  # at start: the daemon's state is at this code's schema version
        self.nonces = NonceCache(self.conn)
        self.audit = AuditLog(self.conn)
        self.checkpoints = Checkpoints(self.conn, identity, config.id)
        self.received_heads = ReceivedHeads(self.conn)
        self.refusals = RefusalLog(self.audit)
        self.limiter = RateLimiter()
        self.strangers = RateLimiter(config.anonymous_per_minute, subject="address")
        self.book = AgreementBook(config, identity.public_key_text)
        self._builds: dict[str, asyncio.Lock] = {}

    def close(self) -> None:
        self.conn.close()

    # -- who is asking ---------------------------------------------------------------
    async def identify(self, request: web.Request) -> Requester:
        self.book.refresh()
        origins = [self.config.url] if self.config.url else None
        try:
            peer = await verify_request(
                request,
                self.book.pinned_key,
                self.nonces,
                own_origins=origins,
                why_unpinned=self.book.refusal,
            )
        except (Unauthenticated, AgreementDenied):
            # Unverified: held to the address's allowance, so a flood costs it a 429 early.
            self.strangers.check(request.remote or "unknown address")
            raise
        if peer is None:
            self.strangers.check(request.remote or "unknown address")
            return Requester(None, purpose=declared_purpose(request))
        parties = sorted(self.book.parties_for_key(peer.key))
        party = parties[0] if parties else None
        # From here on a refusal is the verified party's, not the address's (node.store.refusals).
        request[SOURCE_KEY] = party or f"key {peer.fingerprint}"
        self.limiter.check(peer.key)  # before reading the purpose: a bad one still counts
        return Requester(party, peer.key, declared_purpose(request))

    # -- what they may have -----------------------------------------------------------
    def grant(self, requester: Requester, dataset_id: str) -> tuple[Agreement, Flow] | None:
        """The flow that grants the dataset, None for a public dataset, or AgreementDenied."""
        dataset = self._declared(dataset_id)
        governing = self.book.governing_flow(requester.key, dataset_id)
        if governing is not None:
            agreement, flow = governing
            self._check_purpose(requester, dataset_id, agreement, flow)
            return agreement, flow
        if dataset is not None and dataset.public:
            return None
        # "No such dataset" and "not for you" are one answer: a stranger cannot list ids.
        raise Withheld(dataset_id)

    def _check_purpose(
        self, requester: Requester, dataset_id: str, agreement: Agreement, flow: Flow
    ) -> None:
        """AgreementDenied unless the governing flow allows the declared purpose.

        Only the governing flow counts, as for every other term: a peer refused under its
        own flow does not fall back to a public flow of the same dataset.
        """
        if flow.allows_purpose(requester.purpose):
            return
        declared = repr(requester.purpose) if requester.purpose else "none"
        detail = (
            f"{flow.label} allows purposes {', '.join(flow.purposes)}; this request declares "
            f"{declared} (declare one of them in the {PURPOSE_HEADER} header)"
        )
        raise AgreementDenied(
            detail,
            reason="purpose",
            agreement=agreement.ref,
            agreement_sha256=agreement.sha256,
        )

    def visible_datasets(
        self, requester: Requester
    ) -> list[tuple[str, Agreement | None, Flow | None]]:
        """Datasets this requester may download, with the governing agreement and flow."""
        visible: list[tuple[str, Agreement | None, Flow | None]] = []
        for dataset in self.config.datasets:
            governing = self.book.governing_flow(requester.key, dataset.id)
            if governing is not None:
                visible.append((dataset.id, *governing))
            elif dataset.public:
                visible.append((dataset.id, None, None))
        return visible

    def _declared(self, dataset_id: str) -> DatasetConfig | None:
        for dataset in self.config.datasets:
            if dataset.id == dataset_id:
                return dataset
        return None

    def _dataset(self, dataset_id: str) -> DatasetConfig:
        try:
            return self.config.dataset(dataset_id)
        except ConfigError:  # a partner is not told which datasets node.toml declares
            raise NotFound(f"no dataset {dataset_id!r} on this node") from None

    # -- the archive ------------------------------------------------------------------
    async def archive(
        self, requester: Requester, dataset_id: str, version_name: str | None = None
    ) -> ServedArchive:
        """The archive of the latest version, or of `version_name` if it is still kept.

        The grant is checked before the version is looked up, and an unknown version gets
        the same answer as a dataset that is not for this requester: versions cannot be
        probed either.
        """
        grant = self.grant(requester, dataset_id)
        version = self.version(dataset_id, version_name)
        if grant is None:
            return ServedArchive(
                path=version.path,
                sha256=version.sha256,
                signature=version.signature,
                dataset=dataset_id,
                dataset_version=version.version,
                agreement=None,
                agreement_sha256=None,
                licence=self._dataset(dataset_id).licence,
                records=version.records,
                modified=version.modified.isoformat(),
                counts={},
            )
        agreement, flow = grant
        return await self.flow_archive(dataset_id, version, agreement, flow)

    def version(self, dataset_id: str, version_name: str | None) -> VersionInfo:
        """A kept version of a dataset the caller has already granted; None: the latest."""
        latest = latest_version(self.config, dataset_id)
        if latest is None:
            raise NotFound(
                f"dataset {dataset_id!r} has not been published yet; run `fednode publish`"
            )
        if version_name is None or version_name == latest.version:
            return latest
        for kept in list_versions(self.config, dataset_id):
            if kept.version == version_name:
                return kept
        raise Withheld(dataset_id)

    async def flow_archive(
        self, dataset_id: str, version: VersionInfo, agreement: Agreement, flow: Flow
    ) -> ServedArchive:
        """The enforced archive of one flow (built once, then cached); grant checked first.

        The latest version is enforced from the stored records; an older kept version from
        its own archive's records (node.server.kept_records), cached in a folder of its
        own so that serving it never evicts the latest's build.
        """

        now = dt.datetime.now(dt.UTC)
        # Everything the enforced output depends on: data, agreement, flow, the day (embargo
        # windows move) and the crosswalks (taxon scopes match reconciled names).
        key = hashlib.sha256(
            f"{dataset_id}|{version.version}|{version.sha256}|{agreement.sha256}|{flow.index}|"
            f"{now.date()}|{crosswalks_fingerprint(self.config)}".encode()
        ).hexdigest()[:24]
        # One folder per flow, pruned of its own stale builds only: the archives of other
        # flows of the dataset (other parties, the public) stay cached and streamable.
        folder = flow_cache(self.store, dataset_id, agreement.id, flow.index)
        latest = latest_version(self.config, dataset_id)
        older = latest is None or latest.version != version.version
        if older:
            folder = folder.with_name(f"{folder.name}@{version.version}")
        folder = folder / key
        lock = self._builds.setdefault(key, asyncio.Lock())
        async with lock:
            served = _load_info(folder)
            if served is None:
                served = await asyncio.to_thread(
                    self._build, folder, dataset_id, version, agreement, flow, now, older
                )
        return served

    def _build(
        self,
        folder: Path,
        dataset_id: str,
        version: VersionInfo,
        agreement: Agreement,
        flow: Flow,
        now: dt.datetime,
        older: bool = False,
    ) -> ServedArchive:

        dataset = self._dataset(dataset_id)
        counts: dict[str, int] = {}
        row_type = TAXON_ROW_TYPE if dataset.type == "checklist" else OCCURRENCE_ROW_TYPE
        row_type = version.row_type or row_type
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        records = self.store.local(dataset_id)
        if older:
            kept = list_versions(self.config, dataset_id)
            records = kept_records(self.store, version, dataset.type, self.config.id, kept)
        stored = load_extensions(records)
        enforcer = None
        if stored:
            key = pseudonym_key(self.identity.private_key.private_bytes_raw())
            enforcer = ExtensionEnforcer(stored, row_type, agreement, flow, key, tmp / "extensions")
        shared = self._enforced_batches(dataset_id, records, agreement, flow, now, counts, enforcer)
        extensions = []
        if enforcer is not None:
            # Extension rows follow the core's decisions, known once the core is through.
            shared = _spooled(shared, tmp / "core.parquet")
            extensions = enforcer.finish()
            counts.update(enforcer.counts)
        summary = f"Shared with {flow.to_party} under agreement {agreement.ref} ({flow.label})."

        # Times come from the dataset version, not the build: a rebuild with the same
        # records (a new day, a new crosswalk that changes nothing) gives the same bytes, so
        # the peer's conditional GET still gets a 304.
        stamp = version.modified

        def eml(coverage: Coverage) -> bytes:
            return build_eml(
                dataset,
                self.config,
                coverage,
                version.version,
                stamp.date(),
                licence=flow.licence,
                change_summary=summary,
                modified=stamp,
            )

        stats = write_archive(
            tmp / "dwca.zip", shared, row_type, eml, modified=stamp, extensions=extensions
        )
        shutil.rmtree(tmp / "extensions", ignore_errors=True)
        (tmp / "core.parquet").unlink(missing_ok=True)
        served = ServedArchive(
            path=folder / "dwca.zip",
            sha256=stats.sha256,
            signature=self.identity.sign(stats.sha256.encode("ascii")),
            dataset=dataset_id,
            dataset_version=version.version,
            agreement=agreement.ref,
            agreement_sha256=agreement.sha256,
            licence=flow.licence,
            records=stats.core_records,
            modified=now.isoformat(),
            counts=counts,
        )
        info = {**asdict(served), "path": "dwca.zip"}
        (tmp / "info.json").write_text(json.dumps(info, indent=1), encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
        for stale in folder.parent.iterdir():
            if stale != folder and not stale.name.endswith(".tmp"):
                shutil.rmtree(stale, ignore_errors=True)
        log.info("built %s for %s under %s: %s", dataset_id, flow.to_party, agreement.ref, counts)
        return served

    def _enforced_batches(
        self,
        dataset_id: str,
        records: Path,
        agreement: Agreement,
        flow: Flow,
        now: dt.datetime,
        counts: dict[str, int],
        enforcer: ExtensionEnforcer | None = None,
    ) -> Iterator[pa.Table]:
        """Enforce batch by batch, so memory stays flat whatever the dataset's size; every
        rule decides per record, so batches give the same result as the whole table."""

        state = self.book.state_of(agreement)
        if state is None:  # the agreement left the book since the request was granted
            state = AgreementState(Status.UNTRUSTED, "the agreement is no longer held")
        lookup = accepted_name_lookup(self.config)
        families = family_index(self.config)
        names = own_names(self.config)
        key = pseudonym_key(self.identity.private_key.private_bytes_raw())
        source = pq.ParquetFile(records / PART_NAME)

        def enforced(table: pa.Table) -> tuple[pa.Table, dict[str, int]]:
            table = with_accepted_names(table, lookup)
            table = with_inferred_family(table, families)
            table = with_trusted_accepted_names(table, names.synonyms)
            shared, report = enforce(
                table,
                agreement,
                flow,
                now,
                dataset_id,
                names.red_list,
                state=state,
                pseudonym_key=key,
            )
            return shared, report_counts(report)

        if enforcer is not None:
            enforcer.prepare(source.read(), enforced)
        for batch in parquet_batches(source, ENFORCE_BATCH_ROWS):
            table = pa.Table.from_batches([batch])
            if enforcer is not None:
                table = enforcer.before(table)
            shared, batch_counts = enforced(table)
            if enforcer is not None:
                enforcer.after(table, shared)
            for key_name, value in batch_counts.items():
                counts[key_name] = counts.get(key_name, 0) + value
            yield shared

    def record_export(self, requester: Requester, served: ServedArchive) -> None:
        self.audit.append(
            "export",
            peer=requester.label,
            agreement=served.agreement,
            agreement_sha256=served.agreement_sha256,
            dataset=served.dataset,
            dataset_version=served.dataset_version,
            counts=served.counts or {"sent": served.records},
            archive_sha256=served.sha256,
            detail=f"purpose: {requester.purpose}" if requester.purpose else None,
        )
        self.checkpoints.take(self.audit)

    def audit_head(self) -> str:
        """The signed head every archive carries (`Fednode-Audit-Head`), kept here too."""
        return self.checkpoints.take(self.audit).token


SHARING: web.AppKey[Sharing] = web.AppKey("sharing")


def report_counts(report: object) -> dict[str, int]:
    """Flatten an enforcement report into the audit log's counts (integers per action)."""
    data = report.to_dict()  # type: ignore[attr-defined]
    counts = {
        k: int(data[k])
        for k in (
            "total",
            "in_scope",
            "embargoed",
            "withheld_sensitive",
            "generalised",
            "unreadable_categories",
            "pseudonymised",
            "sent",
        )
    }
    for group in ("out_of_scope", "fields_withheld", "fields_cleared", "second_net"):
        for key, value in (data.get(group) or {}).items():
            if value:
                counts[f"{group}.{key}"] = int(value)
    return counts


def flow_cache(store: Store, dataset_id: str, agreement_id: str, flow_index: int) -> Path:
    """The folder holding the newest archive built for one flow of one dataset."""
    return store.cache() / "shared" / dataset_id / f"{agreement_id}.{flow_index}"


def last_served(
    store: Store, dataset_id: str, agreement_id: str, flow_index: int
) -> ServedArchive | None:
    """The archive this flow last served (builds are pruned to the newest), None if none."""
    folder = flow_cache(store, dataset_id, agreement_id, flow_index)
    built = [f for f in folder.iterdir() if not f.name.endswith(".tmp")] if folder.is_dir() else []
    served = [s for s in map(_load_info, built) if s is not None]
    return max(served, key=lambda s: s.modified, default=None)


def _spooled(tables: Iterator[pa.Table], path: Path) -> Iterator[pa.Table]:
    """Run `tables` to the end into a Parquet file now, and stream it back lazily."""
    writer: pq.ParquetWriter | None = None
    for table in tables:
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table.cast(writer.schema))
    if writer is None:
        return iter(())
    writer.close()
    source = pq.ParquetFile(path)
    return (pa.Table.from_batches([b]) for b in parquet_batches(source, ENFORCE_BATCH_ROWS))


def _load_info(folder: Path) -> ServedArchive | None:
    info_path = folder / "info.json"
    if not info_path.is_file() or not (folder / "dwca.zip").is_file():
        return None
    info = json.loads(info_path.read_text(encoding="utf-8"))
    info["path"] = folder / "dwca.zip"
    return ServedArchive(**info)
