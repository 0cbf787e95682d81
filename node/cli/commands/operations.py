"""`fednode harvest`, `fednode status`, `fednode audit`: what the daemon does, on demand."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from harvesters.audit_heads import fetch_heads_from
from harvesters.base import HarvestResult
from harvesters.http import client_session
from harvesters.runs import RunLog
from harvesters.schedule import Runtime, configured_sources, run_source
from node.cli.group import home_option, main
from node.core.config import load_config
from node.core.errors import HarvestError, InvalidInput
from node.core.identity import load_identity
from node.server.status import collect_status
from node.store.audit import AuditLog
from node.store.audit_anchor import Checkpoints, verify_anchored
from node.store.state import connect

if TYPE_CHECKING:
    from node.core.config import NodeConfig
    from node.store.audit import AuditLog


async def _harvest(
    home: Path,
    sources: list[str],
    on_done: Callable[[str], None] | None = None,
    *,
    now: bool = False,
) -> list[HarvestResult]:

    config = load_config(home)
    runs = RunLog(home)
    results: list[HarvestResult] = []
    try:
        async with client_session() as session:
            runtime = Runtime(config, load_identity(home), session, runs)
            for source in sources:
                results.append(await run_source(runtime, source, now=now))
                if on_done is not None:
                    on_done(source)
    finally:
        runs.close()
    return results


@main.command()
@home_option
@click.argument("peer", required=False)
@click.option("--gbif", "gbif_query", default="", help="Run this GBIF query from node.toml.")
@click.option("--all", "run_all", is_flag=True, help="Every peer, GBIF query and IPT in node.toml.")
@click.option("--now", "now", is_flag=True, help="Run even while a source's circuit rests.")
def harvest(home: Path, peer: str | None, gbif_query: str, run_all: bool, now: bool) -> None:
    """Run harvests now: the same jobs the daemon's schedule runs (PEER: a peer or IPT id)."""

    config = load_config(home)
    if run_all:
        sources = list(configured_sources(config))
    elif gbif_query:
        config.gbif_query(gbif_query)
        sources = [f"gbif:{gbif_query}"]
    elif peer and any(i.id == peer for i in config.ipt):
        sources = [f"ipt:{peer}"]
    elif peer:
        config.peer(peer)
        sources = [f"peer:{peer}"]
    else:
        raise click.UsageError("name a PEER, --gbif QUERY or --all")
    if not sources:
        click.echo("nothing to harvest: node.toml declares no peers, GBIF queries or IPTs")
        return
    if sys.stderr.isatty():
        with click.progressbar(
            length=len(sources),
            label="harvesting",
            file=sys.stderr,
            item_show_func=lambda s: s or "",
        ) as bar:
            progress = lambda source: bar.update(1, source)  # noqa: E731
            results = asyncio.run(_harvest(home, sources, progress, now=now))
    else:
        results = asyncio.run(_harvest(home, sources, now=now))
    failed = 0
    for result in results:
        line = (
            f"{result.source}: {result.outcome}, {result.records:,} records "
            f"in {result.duration_s:.1f} s"
        )
        if result.error:
            line += f" ({result.error})"
        click.echo(line)
        failed += result.outcome == "failed"
    if failed:
        raise HarvestError(
            f"{failed} of {len(results)} harvests failed; the last good data is kept"
        )


@main.command()
@home_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(home: Path, as_json: bool) -> None:
    """Datasets, peers, agreements and last harvests, with reasons in words."""

    report = collect_status(load_config(home))
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False, default=str))
        return
    node = report["node"]
    click.echo(f"{node['name']} ({node['id']}, {node['country']})  key {node['fingerprint']}")
    click.echo("\nDatasets")
    for d in report["datasets"] or [{"id": "(none declared in node.toml)"}]:
        if "type" not in d:
            click.echo(f"  {d['id']}")
            continue
        version = d["version"] or "not published"
        click.echo(
            f"  {d['id']:<28} {d['type']:<10} v{version:<6} {d['records']:>10,} records  "
            f"{d['licence']}{'  public' if d['public'] else ''}"
        )
    click.echo("\nSources")
    if not report["sources"]:
        click.echo("  (none: declare [[peers]] or [[gbif]] in node.toml)")
    for s in report["sources"]:
        run = s.get("last_run")
        if run is None:
            click.echo(f"  {s['source']:<28} never run ({s.get('schedule', '')})")
            continue
        click.echo(
            f"  {s['source']:<28} {run['outcome']:<9} {int(run['records']):>10,} records  "
            f"{run['finished']}"
        )
        started = dt.datetime.fromisoformat(str(run["started"]))
        finished = dt.datetime.fromisoformat(str(run["finished"]))
        click.echo(
            f"      took {(finished - started).total_seconds():.1f} s; next run "
            f"{s.get('next_run') or 'when the daemon schedules it'}"
        )
        if run.get("error"):
            click.echo(f"      last error: {run['error']}")
        if s.get("circuit_open"):
            click.echo("      circuit open: failing repeatedly, resting before the next try")
    click.echo("\nAgreements")
    if not report["agreements"]:
        click.echo("  (none: see `fednode agreement new`)")
    for a in report["agreements"]:
        click.echo(
            f"  {a['ref'] or a.get('file')}: {a['status']}"
            + (f" - {a['reason']}" if a["reason"] else "")
        )


@main.command()
@home_option
@click.argument("action", required=False, type=click.Choice(["verify"]))
@click.option("--peer", default=None, help="Only entries about this party.")
@click.option("--since", default=None, help="Only entries on or after this date (YYYY-MM-DD).")
@click.option("--event", default=None, help="export, denied, agreement, ...")
@click.option("--limit", default=None, type=int, help="Only the newest N entries.")
@click.option(
    "--against",
    default=None,
    metavar="PEER",
    help="With verify: also check the signed heads this peer received with our archives.",
)
@click.option("--json", "as_json", is_flag=True)
def audit(
    home: Path,
    action: str | None,
    against: str | None,
    peer: str | None,
    since: str | None,
    event: str | None,
    limit: int | None,
    as_json: bool,
) -> None:
    """What left the node, to whom, under which agreement.

    `verify` checks the hash chain and the node's signed checkpoints (a cut-off or
    rewritten log shows); `verify --against PEER` also checks the heads PEER kept.
    """

    config = load_config(home)
    if against is not None and action != "verify":
        raise InvalidInput("--against is used with `fednode audit verify`")
    conn = connect(home)
    try:
        log = AuditLog(conn)
        if action == "verify":
            if not _verify_audit(config, log, against):
                sys.exit(1)
            return
        try:
            since_date = dt.date.fromisoformat(since) if since else None
        except ValueError as exc:
            raise InvalidInput(f"--since {since!r}: use YYYY-MM-DD") from exc
        entries = log.entries(peer=peer, since=since_date, event=event, limit=limit)
    finally:
        conn.close()
    if as_json:
        click.echo(json.dumps([e.to_dict() for e in entries], indent=2, ensure_ascii=False))
        return
    if not entries:
        click.echo("no audit entries match")
    for e in entries:
        counts = ", ".join(f"{k} {v:,}" for k, v in e.counts.items())
        what = e.dataset or ""
        if e.dataset and e.dataset_version:
            what += f"@{e.dataset_version}"
        click.echo(
            f"#{e.seq} {e.time} {e.event:<9} {e.peer or '-':<12} {e.agreement or '-':<18} "
            f"{what} {counts}{(' - ' + e.detail) if e.detail else ''}"
        )


def _verify_audit(config: NodeConfig, log: AuditLog, against: str | None) -> bool:
    """Print what each check found; True when every one passed."""

    identity = load_identity(config.home)
    local = Checkpoints(log.conn, identity, config.id).tokens()
    results = [verify_anchored(log, local, identity, config.id, "in this node's checkpoints")]
    if against is not None:
        peer = config.peer(against)
        held = asyncio.run(fetch_heads_from(peer.url, peer.id, identity))
        results.append(verify_anchored(log, held, identity, config.id, f"held by {peer.id}"))
    for result in results:
        click.echo(("" if result.ok else "PROBLEM: ") + result.message)
    return all(result.ok for result in results)
