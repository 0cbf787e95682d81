"""The Guangxi checklist against the real Vietnamese lists: zh and vi on one row.

`tests/data/checklists/crosswalk_sample_guangxi_vn.csv` holds 100 rows drawn at random
(seed 15) from the crosswalk rows with both a Chinese and a Vietnamese name, each checked
by hand against the names' literature (same taxon: `verdict`), and the wrong links found
while checking earlier runs (`different taxon`): the same epithet and basionym author in
one family, e.g. *Waltheria indica* / *Abutilon indicum*.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pytest

from mappings.checklists import load_checklist
from mappings.reconcile import reconcile
from mappings.review import Crosswalk

ROOT = Path(__file__).resolve().parents[2]
CHECKLISTS = ROOT / "tests" / "data" / "checklists"
PROTECTED = ROOT / "agreements" / "lists" / "vn-protected-plants.csv"
MEDICINAL = CHECKLISTS / "vn_medicinal_plants_dotatloi.csv"
ROWS_WITH_ZH_AND_VI = 247  # README, "Names in three languages"


@pytest.fixture(scope="module")
def crosswalk() -> Crosswalk:
    vietnamese = pa.concat_tables([load_checklist(MEDICINAL), load_checklist(PROTECTED)])
    guangxi = load_checklist(CHECKLISTS / "guangxi_cnplants.csv")
    return reconcile(guangxi, vietnamese, labels=("guangxi_cnplants", "vn lists"))


def _sample() -> list[dict[str, str]]:
    with open(CHECKLISTS / "crosswalk_sample_guangxi_vn.csv", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_vietnamese_lists__read_as_vietnamese_names_without_placeholders() -> None:
    medicinal = load_checklist(MEDICINAL)
    names = medicinal.column("name").to_pylist()
    assert not any(" sp." in n for n in names)  # drugs of unidentified plants
    vi = " | ".join(medicinal.column("vernacular_vi").to_pylist())
    assert "(Không có)" not in vi and "Ích Mẫu" in vi
    assert set(medicinal.column("vernacular_en").to_pylist()) == {""}
    protected = load_checklist(PROTECTED)
    row = protected.filter(pa.compute.equal(protected.column("name"), "Paphiopedilum hangianum"))
    assert row.column("vernacular_vi").to_pylist() == ["Lan hài hằng"]


def test_crosswalk__zh_and_vi_on_the_rows_the_lists_allow(crosswalk: Crosswalk) -> None:
    rows = crosswalk.table.to_pylist()
    both = [r for r in rows if r["zh"] and r["vi"]]
    assert len(both) == ROWS_WITH_ZH_AND_VI
    assert {r["zh_source"] for r in both} <= {"guangxi_cnplants"} | {
        f"guangxi_cnplants ({r['left_name']})" for r in rows
    }
    assert all(r["vi_source"].startswith("vn lists") for r in both)


def test_crosswalk__hand_checked_sample_has_no_wrong_link(crosswalk: Crosswalk) -> None:
    pairs: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for r in crosswalk.table.to_pylist():
        if r["left_name"] and r["right_name"] and r["match_kind"] != "ambiguous":
            pairs.setdefault((r["left_name"], r["right_name"]), []).append((r["zh"], r["vi"]))
    sample = _sample()
    assert sum(r["verdict"] == "same taxon" for r in sample) == 100
    for checked in sample:
        key = (checked["left_name"], checked["right_name"])
        if checked["verdict"] == "same taxon":
            assert key in pairs, key
            # A name the Guangxi list repeats (Ilex rotunda: 铁冬青, 小果铁冬青) pairs twice.
            assert (checked["zh"], checked["vi"]) in pairs[key], key
        else:
            assert key not in pairs, key


def test_crosswalk__a_link_on_the_review_list_carries_no_name(crosswalk: Crosswalk) -> None:
    # Spilanthes acmella and Blainvillea acmella share a basionym, but Vietnamese 'Cúc áo'
    # and Chinese 百能葳 name different plants: until a curator accepts it, no vi travels.
    (row,) = [
        r for r in crosswalk.table.to_pylist() if r["left_name"].startswith("Blainvillea acmella")
    ]
    assert row["right_vi"] and row["confidence"] < 0.8
    assert row["zh"] == "百能葳" and row["vi"] == ""
