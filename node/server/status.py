"""What the node holds, publishes, harvests and has agreed: one dict for the CLI, the API
and the status page, so the three never disagree."""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any

import pyarrow.compute as pc

from harvesters.runs import RunLog
from harvesters.schedule import JOB_PREFIX, configured_sources
from node.core.config import NodeConfig
from node.core.identity import fingerprint, load_identity
from node.publish.versions import list_versions
from node.store.agreement_book import AgreementBook
from node.store.audit import AuditLog
from node.store.state import connect
from node.store.store import PART_NAME, Store, read_parquet

OUTCOME_MEANING = {
    "ok": "new data harvested and swapped in",
    "unchanged": "the source had nothing new (HTTP 304 or same content)",
    "failed": "the run failed; the last good data is still in place",
    "skipped": "not run: another run of this source was active, or its circuit is resting",
}


def _examples(config: NodeConfig, dataset_id: str, limit: int = 5) -> list[dict[str, str]]:
    """A few names with their Chinese / Vietnamese vernaculars, where the data has them."""
    path = Store(config.home).local(dataset_id)
    if not (path / PART_NAME).exists():
        return []
    columns = ["scientificName", "fed_vernacular_zh", "fed_vernacular_vi", "fed_vernacular_en"]
    try:
        table = read_parquet(path)
    except Exception:
        return []
    present = [c for c in columns if c in table.column_names]
    if "scientificName" not in present or len(present) == 1:
        return []
    table = table.select(present)
    has_name = pc.fill_null(pc.greater(pc.utf8_length(table.column(present[1])), 0), False)
    rows = table.filter(has_name).slice(0, 200).to_pylist()
    seen: dict[str, dict[str, str]] = {}
    for row in rows:
        seen.setdefault(row["scientificName"], {k: v or "" for k, v in row.items()})
        if len(seen) >= limit:
            break
    return list(seen.values())


def persisted_next_runs(config: NodeConfig) -> dict[str, dt.datetime | None]:
    """Next run times the daemon's scheduler stored (for `fednode status` run beside it)."""

    conn = connect(config.home)
    try:
        rows = conn.execute("SELECT id, next_run_time FROM scheduler_jobs").fetchall()
    except sqlite3.OperationalError:  # the daemon never ran: no job table yet
        return {}
    finally:
        conn.close()
    return {
        str(r["id"]).removeprefix(JOB_PREFIX): (
            dt.datetime.fromtimestamp(r["next_run_time"], dt.UTC) if r["next_run_time"] else None
        )
        for r in rows
    }


def collect_status(
    config: NodeConfig,
    next_runs: dict[str, dt.datetime | None] | None = None,
    audit_limit: int = 10,
) -> dict[str, Any]:

    identity = load_identity(config.home)
    datasets = []
    for d in config.datasets:
        versions = list_versions(config, d.id)
        latest = versions[-1] if versions else None
        datasets.append(
            {
                "id": d.id,
                "title": d.title,
                "titles": d.titles,
                "abstract": d.abstract,
                "abstracts": d.abstracts,
                "type": d.type,
                "licence": d.licence,
                "public": d.public,
                "versions": [v.version for v in versions],
                "version": latest.version if latest else None,
                "records": latest.records if latest else 0,
                "modified": latest.modified.isoformat() if latest else None,
                "change_summary": latest.changes.text() if latest else "",
                "examples": _examples(config, d.id),
            }
        )
    if next_runs is None:
        next_runs = persisted_next_runs(config)
    runs = RunLog(config.home)
    try:
        latest_runs = runs.latest_per_source()
        sources = []
        for source, schedule in configured_sources(config).items():
            run = latest_runs.get(source)
            entry: dict[str, Any] = {
                "source": source,
                "schedule": schedule,
                "last_run": run,
                "circuit_open": runs.circuit_open(source),
            }
            if source.startswith("peer:"):
                peer = config.peer(source.removeprefix("peer:"))
                entry.update(url=peer.url, fingerprint=fingerprint(peer.key))
            if next_runs is not None:
                when = next_runs.get(source)
                entry["next_run"] = when.isoformat() if when else None
            if run:
                entry["meaning"] = OUTCOME_MEANING.get(str(run["outcome"]), "")
            sources.append(entry)
    finally:
        runs.close()
    book = AgreementBook(config)
    agreements = []
    for held in book.entries():
        a = held.agreement
        agreements.append(
            {
                "file": held.path.name,
                "ref": a.ref if a else None,
                "title": a.title if a else "",
                "status": held.state.status.value if held.state and not held.error else "invalid",
                "reason": held.state.reason if held.state and not held.error else held.error,
                "awaiting": list(held.state.awaiting) if held.state else [],
                "flows": [f.label for f in a.flows] if a else [],
            }
        )
    conn = connect(config.home)
    try:
        audit = [e.to_dict() for e in AuditLog(conn).entries(limit=audit_limit)[::-1]]
    finally:
        conn.close()
    return {
        "node": {
            "id": config.id,
            "name": config.name,
            "country": config.country,
            "url": config.url,
            "fingerprint": identity.fingerprint,
            "public_key": identity.public_key_text,
        },
        "datasets": datasets,
        "sources": sources,
        "agreements": agreements,
        "audit": audit,
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
