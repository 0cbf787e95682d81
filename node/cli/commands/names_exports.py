"""`fednode reconcile` and `fednode export`."""

from __future__ import annotations

from pathlib import Path

import click

from harvesters.gbif_names import gbif_matcher
from mappings.checklists import load_checklist
from mappings.reconcile import reconcile as build
from mappings.review import load_decisions, record_decisions
from node.cli.group import home_option, main
from node.core.config import load_config
from node.export.build import export as run_export
from node.export.crosswalks import crosswalk_folder, name_links, resolve_checklist
from node.store.store import Store


@main.command()
@home_option
@click.argument("left")
@click.argument("right")
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for crosswalk.csv, review.csv and Parquet (default: the node's store).",
)
@click.option(
    "--record",
    "reviewed",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A review.csv with decisions filled in: keep them in mappings/decisions.csv first.",
)
@click.option(
    "--gbif-match",
    is_flag=True,
    help="Ask GBIF's species matching (node.toml [gbif_api]) for names neither list resolves.",
)
def reconcile(
    home: Path, left: str, right: str, output: Path | None, reviewed: Path | None, gbif_match: bool
) -> None:
    """Taxon crosswalk between two checklists.

    LEFT and RIGHT are each an own dataset id, <peer>/<dataset>, gbif/<query>, or a file.
    """

    config = load_config(home)
    tables = []
    for spec in (left, right):
        found = resolve_checklist(config, spec)
        tables.append(found if not isinstance(found, Path) else load_checklist(str(found)))
    decisions_path = home / "mappings" / "decisions.csv"
    if reviewed is not None:
        kept = record_decisions(reviewed, decisions_path)
        click.echo(f"kept {len(kept.rows()):,} curator decision(s) in {decisions_path}")
    decisions = load_decisions(decisions_path) if decisions_path.exists() else None
    matcher = None
    if gbif_match:
        matcher = gbif_matcher(config)
    crosswalk = build(tables[0], tables[1], decisions, gbif_matcher=matcher, labels=(left, right))
    folder = crosswalk_folder(config, left, right)
    paths = crosswalk.write(folder)
    if output:
        crosswalk.write(output)
        paths = {k: output / v.name for k, v in paths.items()}
    counts = ", ".join(f"{k} {v:,}" for k, v in crosswalk.left_counts.items() if v)
    click.echo(f"{left} x {right}: {counts}")
    for kind, path in paths.items():
        click.echo(f"  {kind:<8} {path}")
    if decisions is None:
        click.echo(
            "Fill in the decision column of review.csv (accept, reject, choose:<name>) and run "
            "again with --record review.csv: decisions win on every later run."
        )


@main.command()
@home_option
@click.option(
    "-o",
    "--output",
    default=None,
    help="Folder or pyarrow.fs URI (s3://bucket/prefix); default store/exports.",
)
def export(home: Path, output: str | None) -> None:
    """Parquet for downstream tools: own, harvested and GBIF records in one dataset."""

    config = load_config(home)
    result = run_export(config, output or Store(home).exports(), crosswalk=name_links(config))
    click.echo(f"exported {result.rows:,} records; readers open {result.records_path}")
    click.echo(
        f"  {len(result.rewritten)} partition(s) rewritten, {len(result.reused)} unchanged and "
        "reused; manifest.json beside the data"
    )
    for partition in result.rewritten:
        click.echo(f"  rewritten {partition}")
