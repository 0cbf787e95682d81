"""`fednode names`: the partnership's trilingual checklist, one row per accepted taxon."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import click
import pyarrow as pa

from agreements.threat import THREAT_TERMS, UNREADABLE, parse_category
from agreements.validate import BUNDLED_LISTS
from mappings.checklists import from_table, load_checklist
from mappings.names import parse_name
from mappings.review import write_csv_atomic
from mappings.trilingual import TAXON_COLUMNS, decree_groups, taxon_rows
from node.cli.group import home_option, main
from node.core.config import load_config
from node.core.errors import NotFound
from node.core.spreadsheet import safe_cell
from node.export.crosswalks import crosswalk_folder, resolve_checklist
from node.store.store import PART_NAME, read_parquet

DECREE_LIST = BUNDLED_LISTS / "vn-protected-plants.csv"


@main.command()
@home_option
@click.argument("left")
@click.argument("right")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the CSV here instead of to standard output.",
)
def names(home: Path, left: str, right: str, output: Path | None) -> None:
    """Trilingual checklist from the crosswalk LEFT x RIGHT (run `fednode reconcile` first).

    One row per accepted taxon: family, Chinese, Vietnamese and English names, the names
    each list uses, the China Red List category the lists give and the Vietnamese decree
    group (IA, IIA, priority) of the list fednode bundles.
    """
    config = load_config(home)
    folder = crosswalk_folder(config, left, right) / "crosswalk"
    if not (folder / PART_NAME).exists():
        raise NotFound(f"no crosswalk {left} x {right} yet; run `fednode reconcile {left} {right}`")
    crosswalk = read_parquet(folder)
    families: dict[str, str] = {}
    red_list: dict[str, str] = {}
    for spec in (left, right):
        found = resolve_checklist(config, spec)
        table = load_checklist(found) if isinstance(found, Path) else found
        _families(from_table(table), families)
        _red_list(_threat_rows(found), red_list)
    rows = taxon_rows(crosswalk, families, red_list, decree_groups(DECREE_LIST))
    if output is not None:
        write_csv_atomic(output, TAXON_COLUMNS, rows)
        click.echo(f"{len(rows):,} taxa -> {output}")
        return
    out = csv.DictWriter(sys.stdout, fieldnames=list(TAXON_COLUMNS), lineterminator="\n")
    out.writeheader()
    for row in rows:
        out.writerow({k: safe_cell(v) for k, v in row.items()})


def _families(checklist: pa.Table, into: dict[str, str]) -> None:
    for name, family in zip(
        checklist.column("canonical").to_pylist(),
        checklist.column("family").to_pylist(),
        strict=True,
    ):
        if name and family:
            into.setdefault(name, family)


def _threat_rows(found: pa.Table | Path) -> list[tuple[str, str]]:
    """(name, category text) from a stored checklist or a checklist file; the cnplants
    export writes its China Red List category in `IUCN_CHINA`."""
    if isinstance(found, pa.Table):
        terms = [t for t in THREAT_TERMS if t in found.column_names]
        if "scientificName" not in found.column_names or not terms:
            return []
        rows = found.select(["scientificName", *terms]).to_pylist()
        return [(r["scientificName"] or "", r[t] or "") for r in rows for t in terms]
    if found.suffix.lower() != ".csv":
        return []
    with open(found, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    out = []
    for row in rows:
        name = row.get("SPECIES_FULL") or row.get("scientificName") or ""
        for term in ("IUCN_CHINA", *THREAT_TERMS):
            if row.get(term):
                out.append((name, row[term]))
    return out


def _red_list(rows: list[tuple[str, str]], into: dict[str, str]) -> None:
    """Categories by canonical name; text no reading understands is shown as written."""
    for name, text in rows:
        code = parse_category(text)
        if code and name:
            into.setdefault(
                parse_name(name).canonical, text.strip() if code == UNREADABLE else code
            )
