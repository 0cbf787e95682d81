"""Every sample archive the node can read, whole: publish on gxib, served publicly, harvested
by vnmn over HTTP, exported as Parquet, and compared cell by cell with what
python-dwca-reader reads from the source (the reference)."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
from dwca.read import DwCAReader

from node.core.config import CONFIG_FILE
from node.core.terms import short_name
from node.export.extensions import table_name
from tests.e2e.conftest import Federation, cli
from tests.nodes import running

DWCA = Path(__file__).resolve().parents[1] / "data" / "dwca"
TAXON = "http://rs.tdwg.org/dwc/terms/Taxon"
NO_ID = "OCCURRENCE_ID_MISSING"  # GBIF identifies an occurrence by it or by the triplet
# Samples `publish` refuses, each by the problem it names; the round trip checks they still
# are, so a sample the node learns to publish joins the comparison.
REFUSED = {
    "dwca-inside-parent-invalid.zip": "malformed XML",
    "dwca-noidelementincoremapping.zip": "a required element",
    "dwca-missing-extension-details": "its path is not specified",
    "dwca-invalid-simple-toomuch.zip": "several data files",
    "dwca-invalid-simple-two.zip": "several data files",
    "dwca-malformed-descriptor": "column index 234",
    "dwca-orphaned-rows.zip": "COLUMN_MISMATCH",  # a vernacular name line of 5 columns, not 4
    # Its EML licenses it CC BY-NC 3.0, a licence the node cannot compare: it may be
    # republished under no other (node/publish/licences.py).
    "dwca-inside-parent.zip": "which does not permit publishing it under",
    # An extension row whose coreid matches no core row follows no record's enforcement.
    **dict.fromkeys(
        ("dwca-differentcoreidtermindex.zip", "dwca-extensionnotinstalled.zip",
         "dwca-nocoreidtermmapping.zip"),
        "RECORD_REFERENTIAL_INTEGRITY_VIOLATION",
    ),
}  # fmt: skip
# Samples with no occurrenceID and no triplet: refused as they are (GBIF's crawler refuses
# them too). A publisher moving one writes a mapping that names the column identifying its
# rows as the occurrenceID (README "Publish options"): the core id, or for GBIF's download
# CSVs (no meta.xml, so no core id) GBIF's own key.
ID_COLUMN = {
    **dict.fromkeys(
        ("dwca-csv-quote-dir", "dwca-metadata-windows1252-encoding", "dwca-nometadata.zip",
         "dwca-simple-dir", "dwca-simple-subdir.zip", "dwca-simple-test-archive.tgz"),
        "id",
    ),
    **dict.fromkeys(
        ("dwca-simple-csv-dos.zip", "dwca-simple-csv-eml.zip",
         "dwca-simple-csv-notenclosed.zip", "dwca-simple-csv.zip"),
        "gbifid",
    ),
}  # fmt: skip
# Samples whose core id is empty on every row: nothing identifies their records, so a mapping
# naming the core id leaves them refused for the same reason.
NO_ID_AT_ALL = (
    "dwca-default-metadata-filename.zip", "dwca-invalid-lacks-metadata",
    "dwca-meta-default-values", "dwca-noheaders-1.zip", "dwca-noheaders-2.zip",
    "dwca-partial-default.zip", "dwca-simple-test-archive-enclosed.zip",
    "dwca-simple-test-archive.zip", "dwca-test-default.zip",
)  # fmt: skip
SAMPLES = sorted(
    path
    for folder in ("python-dwca-reader", "ipt")
    for path in (DWCA / folder).iterdir()
    if path.suffix in {".zip", ".tgz"} or path.is_dir()
)


def _dataset_id(path: Path) -> str:
    return "rt-" + "".join(c if c.isalnum() else "-" for c in path.name.lower())


def _reference(path: Path) -> DwCAReader:
    return DwCAReader(str(path))


def _reference_rows(
    path: Path, id_term: str | None = None
) -> tuple[list[dict[str, str]], dict[str, list[dict[str, str]]]]:
    """The core rows python-dwca-reader reads (with the core id as `id_term` when given),
    and each row type's extension rows with the id of their core row as `coreid`."""
    by_type: dict[str, list[dict[str, str]]] = defaultdict(list)
    core = []
    with _reference(path) as reference:
        for row in reference:
            core.append(dict(row.data))
            if id_term and row.id is not None:
                core[-1][id_term] = row.id
            for extension in row.extensions:
                values = {short_name(k): v for k, v in extension.data.items()}
                by_type[extension.rowtype].append({"coreid": row.id, **values})
    return core, by_type


def _same(expected: str, actual: object) -> bool:
    """A source cell and its exported value: equal as text, number or date."""
    if actual is None:
        return False
    if isinstance(actual, str):
        # Tabs and line breaks inside values become spaces in the archive, as the IPT does.
        return actual.split() == expected.split()
    if isinstance(actual, bool):
        return expected.strip().lower() in {str(actual).lower(), "1" if actual else "0"}
    if isinstance(actual, int | float):
        try:
            return math.isclose(float(expected), float(actual), rel_tol=1e-9)
        except ValueError:
            return False
    if isinstance(actual, dt.datetime | dt.date):
        return expected.strip().startswith(actual.isoformat()[:10])
    return str(actual) == expected.strip()


def _missing(
    expected: dict[str, str], actual: dict[str, object], where: str, dropped: set[str]
) -> list[str]:
    """Each non-empty source value not found in its exported row: in its column, or as
    text in `fed_verbatim` (a failed cast) or `fed_extra` (a column outside the schema).
    Terms found nowhere go to `dropped`. A header without meta.xml names a term in any
    capitalisation (`basisofrecord`), as GBIF's reader accepts: a column not kept under its
    own spelling is looked for under the term's."""
    lost = []
    verbatim = dict(actual.get("fed_verbatim") or [])  # type: ignore[call-overload]
    extra = dict(actual.get("fed_extra") or [])  # type: ignore[call-overload]
    spelled = {name.lower(): name for name in [*extra, *verbatim, *actual]}
    for term, value in expected.items():
        if not value.strip():
            continue
        name = short_name(term)
        if name not in actual and name not in extra:
            name = spelled.get(name.lower(), name)
        found = actual.get(name)
        if found is None:
            found = verbatim.get(name, extra.get(name))
        if name not in actual and name not in extra:
            dropped.add(name)
        elif not _same(value, found):
            lost.append(f"{where} {name}: {value!r} exported as {found!r}")
    return lost


def _ordered(rows: list[dict[str, Any]], names: list[str]) -> list[dict[str, Any]]:
    """Extension rows in one order on both sides: the export keeps no source line order."""
    return sorted(rows, key=lambda row: [str(row.get(name) or "") for name in names])


def _exported(root: Path, table: str, dataset: str) -> list[dict[str, object]]:
    folder = root / table / "source=gxib" / f"dataset={dataset}"
    if not folder.exists():
        return []
    return ds.dataset(folder, format="parquet").to_table().to_pylist()


def _declared(path: Path, kind: str) -> dict[str, object]:
    return {
        "id": _dataset_id(path),
        "title": f"Sample archive {path.name}",
        "source": str(path),
        "type": kind,
        "licence": "CC-BY-4.0",
        "abstract": f"The sample archive {path.name}, republished whole.",
        "public": True,
    }


async def test_every_publishable_sample_archive_round_trips_whole(
    federation: Federation, tmp_path: Path
) -> None:
    gxib, vnmn = federation.gxib, federation.vnmn
    datasets = []
    for path in SAMPLES:
        try:
            with _reference(path) as reference:
                core = reference.descriptor.core.type if reference.descriptor else None
        except Exception:  # the reference refuses it; publish must too (REFUSED)
            core = None
        datasets.append(_declared(path, "checklist" if core == TAXON else "occurrence"))
    config = gxib.home / CONFIG_FILE
    undeclared = config.read_text(encoding="utf-8")
    gxib.edit_config(datasets=datasets)
    refusals = {}
    for path, entry in zip(SAMPLES, datasets, strict=True):
        result = cli("publish", str(entry["id"]), "--home", str(gxib.home))
        if result.exit_code != 0:
            refusals[path.name] = result.output
    unmapped = {**REFUSED, **dict.fromkeys([*ID_COLUMN, *NO_ID_AT_ALL], NO_ID)}
    assert sorted(refusals) == sorted(unmapped), sorted(set(refusals) ^ set(unmapped))
    for name, problem in unmapped.items():
        assert problem in refusals[name], refusals[name]
    for path, entry in zip(SAMPLES, datasets, strict=True):
        column = ID_COLUMN.get(path.name, "id" if path.name in NO_ID_AT_ALL else None)
        if column:
            mapping = tmp_path / f"{entry['id']}.mapping.toml"
            mapping.write_text(f'[id]\ncolumn = "{column}"\n', encoding="utf-8")
            entry["mapping"] = str(mapping)
    config.write_text(undeclared, encoding="utf-8")  # the same datasets, now with mappings
    gxib.edit_config(datasets=datasets)
    for path, entry in zip(SAMPLES, datasets, strict=True):
        if "mapping" in entry:
            result = cli("publish", str(entry["id"]), "--home", str(gxib.home))
            assert (result.exit_code == 0) == (path.name in ID_COLUMN), result.output
            assert path.name in ID_COLUMN or NO_ID in result.output, result.output
    refused = {**REFUSED, **dict.fromkeys(NO_ID_AT_ALL, NO_ID)}
    async with running(gxib):
        harvested = await asyncio.to_thread(cli, "harvest", "gxib", "--home", str(vnmn.home))
    assert harvested.exit_code == 0, harvested.output
    out = tmp_path / "export"
    exported = cli("export", "--home", str(vnmn.home), "--output", str(out))
    assert exported.exit_code == 0, exported.output
    version = next(p for p in out.iterdir() if p.is_dir())
    lost: list[str] = []
    dropped: set[str] = set()
    compared = published = 0
    for path in (p for p in SAMPLES if p.name not in refused):
        published += 1
        dataset = _dataset_id(path)
        records = _exported(version, "records", dataset)
        mapped_id = "occurrenceID" if ID_COLUMN.get(path.name) == "id" else None
        core_rows, by_type = _reference_rows(path, mapped_id)
        if len(records) != len(core_rows):
            lost.append(f"{path.name}: {len(core_rows)} core rows, {len(records)} exported")
            continue
        if path.name in ID_COLUMN:  # the mapping publishes that column as the occurrenceID too
            for row in core_rows:
                for term, value in list(row.items()):
                    if short_name(term) == ID_COLUMN[path.name]:
                        row["occurrenceID"] = value
        for index, (row, record) in enumerate(zip(core_rows, records, strict=True)):
            lost += _missing(row, record, f"{path.name} core row {index}", dropped)
            compared += 1
        for row_type, rows in by_type.items():
            table = _exported(version, table_name(row_type), dataset)
            if len(table) != len(rows):
                lost.append(f"{path.name} {row_type}: {len(rows)} rows, {len(table)} exported")
                continue
            names = sorted(rows[0])
            pairs = zip(_ordered(rows, names), _ordered(table, names), strict=True)
            for index, (row, got) in enumerate(pairs):
                where = f"{path.name} {short_name(row_type)} row {index}"
                lost += _missing(row, got, where, dropped)
                compared += 1
    assert not lost, "\n".join(lost)
    assert not dropped, sorted(dropped)
    assert compared > 500  # the three GBIF download samples alone hold 474 core rows
    assert published == len(SAMPLES) - len(refused) > len(ID_COLUMN)
