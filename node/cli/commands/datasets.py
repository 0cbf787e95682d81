"""`fednode validate` and `fednode publish`: from an institution's files to versioned DwC-As."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import click
import pyarrow as pa

from mappings.sources import ArchiveSource, Source
from node.cli.group import home_option, main
from node.core.config import load_config
from node.core.errors import InvalidSource
from node.core.identity import load_identity
from node.core.licences import find_licence
from node.core.prefetch import prefetched
from node.dwca.reader import SKIPPED_ROW
from node.publish.drops import Drops
from node.publish.preflight import is_unmapped_archive, preflight, source_report
from node.publish.report import ValidationReport
from node.publish.source_check import SourceCheck
from node.publish.source_metadata import find_source_metadata
from node.publish.validate import validate_archive, validate_source
from node.publish.versions import VersionInfo, publish_dataset
from node.store.records import to_stored_layout
from node.store.regroup import regrouped
from node.store.store import Store


def _is_archive(path: Path) -> bool:
    import tarfile
    import zipfile

    named = path.name.lower().endswith((".zip", ".tgz", ".tar.gz"))
    return path.is_dir() or named or zipfile.is_zipfile(path) or tarfile.is_tarfile(path)


@main.command()
@click.argument("file", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--mapping",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Column mapping for a CSV/XLSX source file.",
)
@click.option(
    "--type",
    "dataset_type",
    type=click.Choice(["occurrence", "checklist"]),
    default=None,
    help="Dataset type of a source file (default: from its column names).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
def validate(file: Path, mapping: Path | None, dataset_type: str | None, as_json: bool) -> None:
    """Check a DwC-A or source file; exit 0 when GBIF's rules would accept it, else 1."""

    if _is_archive(file) and mapping is None:
        report = validate_archive(file)
    else:
        report = validate_source(file, mapping, dataset_type)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        click.echo(report.format_text())
    sys.exit(0 if report.publishable else 1)


def _refuse(dataset_id: str, check: SourceCheck) -> NoReturn:
    click.echo(check.report().format_text(), err=True)
    raise InvalidSource(
        f"{dataset_id}: not published; fix the problems above, or publish the valid rows "
        "with --skip-invalid (rejects are written beside the archive with their reasons)"
    )


def _verdict(
    tables: Iterator[pa.Table], dataset_id: str, check: SourceCheck, skip_invalid: bool
) -> Iterator[pa.Table]:
    """The tables, then the validation verdict: a source that is not publishable raises
    after its last batch, so the publish stops before it commits anything."""
    yield from tables
    if not check.report().publishable and not skip_invalid:
        _refuse(dataset_id, check)


def _screened(
    source: Source,
    batches: Iterator[tuple[pa.Array, pa.Table]],
    skip_invalid: bool,
    rejects: list[dict[str, object]],
) -> Iterator[pa.Table]:
    """Mapped batches; with --skip-invalid, rows GBIF would refuse (no id, a repeated id)
    are held back and listed in `rejects` with their line and reason, and so are rows the
    reader left out for their column count (known once the batches run out)."""

    yield from _screened_ids(source, batches, skip_invalid, rejects)
    if skip_invalid:
        skipped: list[dict[str, object]] = [
            {"line": p.line, "id": "", "reason": p.detail}
            for p in source.problems
            if p.kind == SKIPPED_ROW
        ]
        rejects[:] = sorted([*rejects, *skipped], key=_line_of)


def _line_of(reject: dict[str, object]) -> int:
    line = reject.get("line")
    return line if isinstance(line, int) else 0


def _screened_ids(
    source: Source,
    batches: Iterator[tuple[pa.Array, pa.Table]],
    skip_invalid: bool,
    rejects: list[dict[str, object]],
) -> Iterator[pa.Table]:
    """Mapped batches; with --skip-invalid, rows without an id or repeating one held back."""

    seen: set[str] = set()
    # Mapped by the source itself: an archive has no raw batches, and folds in its
    # vernacular extension while mapping.
    for lines, table in batches:
        if not skip_invalid or source.id_term not in table.column_names:
            yield table
            continue
        ids = table.column(source.id_term).to_pylist()
        keep = []
        for line, value in zip(lines.to_pylist(), ids, strict=True):
            value = (value or "").strip()
            if not value:
                rejects.append({"line": line, "id": "", "reason": f"{source.id_term} is empty"})
                keep.append(False)
            elif value in seen:
                rejects.append(
                    {
                        "line": line,
                        "id": value,
                        "reason": f"{source.id_term} repeats an earlier row",
                    }
                )
                keep.append(False)
            else:
                seen.add(value)
                keep.append(True)
        yield table.filter(pa.array(keep)) if not all(keep) else table


def publish_one(
    home: Path,
    dataset_id: str,
    skip_invalid: bool,
    major: bool,
    report: ValidationReport | None = None,
    drop: tuple[str, ...] = (),
) -> str:
    """Validate, store and version one dataset; return a line for the person.

    `report` is the dataset's validation when the caller has it already (preflight);
    `drop` names columns or extensions to leave out, besides node.toml's `drop`.
    """

    config = load_config(home)
    dataset = config.dataset(dataset_id)
    source_path = config.path(dataset.source)
    mapping = config.path(dataset.mapping) if dataset.mapping else None
    if report is None and is_unmapped_archive(config, dataset):
        report = source_report(config, dataset)  # validate's verdict on the archive itself
    if report is not None and not report.publishable and not skip_invalid:
        click.echo(report.format_text(), err=True)
        raise InvalidSource(
            f"{dataset_id}: not published; fix the problems above, or publish the valid rows "
            "with --skip-invalid (rejects are written beside the archive with their reasons)"
        )
    # One read: the batches are validated on their way into the archive and the store, and
    # the verdict is checked once the last has passed, before anything is committed.
    check = SourceCheck(
        source_path, mapping, dataset.type, encoding=dataset.encoding, dataset_id=dataset.id
    )
    if check.source is None:
        _refuse(dataset_id, check)
    source = check.source
    provenance = {
        "fed_source": config.id,
        "fed_dataset": dataset.id,
        "fed_licence": dataset.licence,
    }
    rejects: list[dict[str, object]] = []
    drops = Drops(tuple(dict.fromkeys((*dataset.drop, *drop))), source.id_term)
    screened = _screened(source, check.checked(), skip_invalid, rejects)
    verdict = _verdict(screened, dataset_id, check, skip_invalid)
    # Read and checked in one thread, laid out in another, while the archive is made of
    # the batch before: three shorter chains keep both cores busy where one long chain
    # held the rest back.
    checked = prefetched(verdict, "publish-source")
    records = prefetched(
        (to_stored_layout(t, provenance) for t in regrouped(drops.from_tables(checked))),
        "publish-layout",
    )
    # An archive's extensions are published whole, each as its own table.
    work = Path(tempfile.mkdtemp(prefix="extensions-", dir=Store(home).tmp()))
    try:
        archive = source if isinstance(source, ArchiveSource) else None
        found = find_source_metadata(config, dataset, work)
        result = publish_dataset(
            config,
            dataset_id,
            load_identity(home),
            records,
            rejects if skip_invalid else None,
            change_major=major,
            row_type=archive.row_type if archive else None,
            extensions=drops.from_extensions(archive.extract_extensions(work) if archive else []),
            source_metadata=found.metadata,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    info = result.version
    notes = [found.note] if found.note else []
    notes += found.metadata.notes if found.metadata else []
    notes += [drops.summary()] if drops.summary() else []
    for note in notes:
        click.echo(f"note: {dataset_id}: {note}", err=True)

    licence = find_licence(dataset.licence)
    if licence is not None and not licence.gbif_indexes:
        click.echo(
            f"note: {dataset_id} is licensed {licence.id}: partners may receive it, but GBIF "
            "indexes only CC0-1.0, CC-BY-4.0 and CC-BY-NC-4.0",
            err=True,
        )
    if result.status == "unchanged":
        return f"{dataset_id}: unchanged since version {info.version} ({info.records:,} records)"
    return (
        f"{dataset_id}: published version {info.version}, {info.records:,} records, "
        f"{info.vernacular_records:,} vernacular names{_extension_counts(info)}. "
        f"{result.changes.text()}"
        + (
            f" {len(rejects):,} rows rejected: see rejects.csv beside the archive."
            if rejects
            else ""
        )
    )


def _extension_counts(info: VersionInfo) -> str:
    """`, 12 Multimedia rows, ...` for the extensions besides vernacular names."""
    parts = [
        f"{rows:,} {row_type.rstrip('/').rsplit('/', 1)[-1]} rows"
        for row_type, rows in info.extension_records.items()
        if not row_type.endswith("/VernacularName")
    ]
    return "".join(f", {part}" for part in parts)


@main.command()
@home_option
@click.argument("dataset", required=False)
@click.option(
    "--skip-invalid", is_flag=True, help="Publish valid rows; write rejects with reasons."
)
@click.option(
    "--major", is_flag=True, help="A scientifically significant change: next major version."
)
@click.option(
    "--drop",
    "drop",
    multiple=True,
    metavar="NAME",
    help="Leave out a column or an extension (row type or its short name, e.g. Multimedia); "
    "repeatable. A name that matches nothing is an error.",
)
def publish(
    home: Path, dataset: str | None, skip_invalid: bool, major: bool, drop: tuple[str, ...]
) -> None:
    """Build and version the DwC-A(s) from the sources declared in node.toml.

    Every dataset named is checked first; if any would fail, none is published.
    """

    config = load_config(home)
    targets = [dataset] if dataset else [d.id for d in config.datasets]
    if not targets:
        raise InvalidSource("node.toml declares no [[datasets]] to publish")
    if drop and len(targets) > 1:  # a name one dataset lacks would stop the rest half-way
        raise InvalidSource("--drop applies to one dataset: name it (fednode publish DATASET)")
    checked = preflight(config, targets, skip_invalid)
    if checked.broken:
        row_problems = False  # only then can --skip-invalid help (not for a licence, say)
        for dataset_id in checked.broken:
            report = checked.reports.get(dataset_id)
            if report is not None and not report.publishable:
                click.echo(report.format_text(), err=True)
                row_problems = True
        lines = "".join(f"\n  {d}: not published; {why}" for d, why in checked.broken.items())
        hint = (
            ", or publish the valid rows with --skip-invalid (rejects are written beside the "
            "archive with their reasons)"
            if row_problems
            else ""
        )
        raise InvalidSource(
            f"nothing published: {len(checked.broken)} of {len(targets)} dataset(s) would fail "
            f"and publishing is all or nothing:{lines}\nfix the problems above{hint}"
        )
    for dataset_id in targets:
        report = checked.reports.get(dataset_id)
        click.echo(publish_one(home, dataset_id, skip_invalid, major, report, drop))
