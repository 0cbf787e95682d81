"""The bundled sample data: reproducible from its script, readable, honest about what is real."""

from __future__ import annotations

import csv
import subprocess
import sys
import tomllib
from pathlib import Path

import pyarrow as pa
import pytest

from mappings.sources import open_source
from node.publish.validate import validate_source

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "node" / "samples"
DATA_FILES = ("gxib/checklist.csv", "gxib/occurrences.csv", "vnmn/checklist.csv",
              "vnmn/occurrences.csv")  # fmt: skip
# file -> (dataset type, detected encoding, records)
EXPECTED = {
    "gxib/checklist.csv": ("checklist", "utf-8", 258),
    "gxib/occurrences.csv": ("occurrence", "gb18030", 600),
    "vnmn/checklist.csv": ("checklist", "utf-8", 880),
    "vnmn/occurrences.csv": ("occurrence", "cp1258", 400),
}


def mapped(name: str) -> pa.Table:
    kind = EXPECTED[name][0]
    source = open_source(SAMPLES / name, SAMPLES / name.replace(".csv", ".mapping.toml"),
                         dataset_type=kind)  # fmt: skip
    return pa.concat_tables(list(source.batches()))


def test_make_samples__committed_files_equal_a_fresh_build(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_samples.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for name in DATA_FILES:
        fresh = (tmp_path / name).read_bytes()
        assert fresh == (SAMPLES / name).read_bytes(), f"{name}: rerun scripts/make_samples.py"


def test_samples__stay_small() -> None:
    total = sum(p.stat().st_size for p in SAMPLES.rglob("*") if p.is_file())
    assert total < 400 * 1024


@pytest.mark.parametrize("name", DATA_FILES)
def test_open_source__detects_each_sample_encoding(name: str) -> None:
    source = open_source(SAMPLES / name)
    assert source.encoding == EXPECTED[name][1]
    assert source.encoding_detected
    assert source.delimiter == ","


@pytest.mark.parametrize("name", DATA_FILES)
def test_validate_source__every_sample_is_publishable_through_its_mapping(name: str) -> None:
    kind, _, records = EXPECTED[name]
    report = validate_source(SAMPLES / name, SAMPLES / name.replace(".csv", ".mapping.toml"), kind)
    assert report.publishable, report.format_text()
    assert report.records == {Path(name).name: records}
    # the only warnings allowed: columns of the real export that no term takes
    assert set(report.counts) <= {"UNMAPPED_COLUMN"}, report.format_text()


def test_gxib_checklist__rows_are_verbatim_rows_of_the_real_checklist() -> None:
    with open(ROOT / "tests" / "data" / "checklists" / "guangxi_cnplants.csv",
              encoding="utf-8", newline="") as handle:  # fmt: skip
        real = {tuple(row) for row in csv.reader(handle)}
    with open(SAMPLES / "gxib" / "checklist.csv", encoding="utf-8", newline="") as handle:
        sample = list(csv.reader(handle))
    assert all(tuple(row) in real for row in sample)
    families = {row[5] for row in sample[1:]}
    assert families == {"Gesneriaceae", "Begoniaceae", "Orchidaceae"}


def test_gxib_checklist__red_list_categories_translate_to_iucn_codes() -> None:
    table = mapped("gxib/checklist.csv")
    codes = set(table.column("iucnRedListCategory").to_pylist())
    assert codes <= {"EX", "EW", "CR", "EN", "VU", "NT", "LC", "DD", ""}
    assert {"CR", "EN"} <= codes
    assert all(table.column("fed_vernacular_zh").to_pylist())


def _vietnamese_names(path: Path) -> dict[str, set[str]]:
    """Scientific name -> every Vietnamese name the real list gives it."""
    names: dict[str, set[str]] = {}
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            found = names.setdefault(" ".join(row["scientificName"].split()), set())
            found.add(row["vernacularName"])
            found.update(n.strip() for n in row.get("otherVernacularNames", "").split(","))
    return names


def test_vnmn_checklist__real_names_and_only_the_lists_vietnamese_names() -> None:
    with open(ROOT / "tests" / "data" / "checklists" / "flora_of_china_names.csv",
              encoding="utf-8", newline="") as handle:  # fmt: skip
        flora_of_china = {row["SCIENTIFIC_NAME"] for row in csv.DictReader(handle)}
    vietnamese = _vietnamese_names(ROOT / "agreements" / "lists" / "vn-protected-plants.csv")
    for name, found in _vietnamese_names(
        ROOT / "tests" / "data" / "checklists" / "vn_medicinal_plants_dotatloi.csv"
    ).items():
        vietnamese.setdefault(name, set()).update(found)
    table = mapped("vnmn/checklist.csv")
    rows = table.select(["scientificName", "fed_vernacular_vi", "nameAccordingTo"]).to_pylist()
    with_vi = 0
    for row in rows:
        name, vi = row["scientificName"], row["fed_vernacular_vi"]
        assert name in flora_of_china or name in vietnamese, name
        if row["nameAccordingTo"] == "FOC":
            assert vi == "", name  # Flora of China names: no Vietnamese name invented
        else:
            assert set(vi.split(" | ")) <= vietnamese[name], name
            with_vi += bool(vi)
    assert with_vi > 650
    assert any(r["scientificName"].startswith("Primulina ") for r in rows)
    hangianum = [r for r in rows if r["scientificName"] == "Paphiopedilum hangianum"]
    assert hangianum and hangianum[0]["fed_vernacular_vi"] == "Lan hài hằng"


@pytest.mark.parametrize("name", ["gxib/occurrences.csv", "vnmn/occurrences.csv"])
def test_occurrences__every_synthetic_record_says_so(name: str) -> None:
    table = mapped(name)
    remarks = set(table.column("occurrenceRemarks").to_pylist())
    assert len(remarks) == 1 and remarks.pop().startswith("SYNTHETIC")
    assert all("SYNTHETIC" in v for v in table.column("locality").to_pylist())
    assert set(table.column("basisOfRecord").to_pylist()) == {
        "PreservedSpecimen",
        "HumanObservation",
    }


def test_occurrences__coordinates_fall_in_their_country() -> None:
    gx = mapped("gxib/occurrences.csv")
    vn = mapped("vnmn/occurrences.csv")
    lat = [float(v) for v in gx.column("decimalLatitude").to_pylist()]
    lon = [float(v) for v in gx.column("decimalLongitude").to_pylist()]
    assert 21.9 < min(lat) <= max(lat) < 25.0
    assert 105.6 < min(lon) <= max(lon) < 108.5
    assert set(vn.column("countryCode").to_pylist()) == {"VN"}
    assert "Cao Bằng" in set(vn.column("stateProvince").to_pylist())


@pytest.mark.parametrize("node", ["gxib", "vnmn"])
def test_datasets_toml__entries_point_at_samples_and_flag_synthetic_data(node: str) -> None:
    entries = tomllib.loads((SAMPLES / node / "datasets.toml").read_text("utf-8"))["datasets"]
    for entry in entries:
        assert (SAMPLES / node / entry["source"]).is_file()
        assert (SAMPLES / node / entry["mapping"]).is_file()
        assert entry["type"] in ("checklist", "occurrence")
        if entry["type"] == "occurrence":
            assert "SYNTHETIC" in entry["title"] and "SYNTHETIC" in entry["abstract"]
        elif node == "vnmn":  # real lists, plus a synthetic selection of names, said so
            assert "SYNTHETIC" in entry["abstract"] and "never invented" in entry["abstract"]
