"""`fednode reconcile` as a curator uses it: files in, review out, decisions kept and applied."""

from __future__ import annotations

import csv
from pathlib import Path

from click.testing import CliRunner

from node.cli import main
from node.store.home import init_home

DATA = Path(__file__).resolve().parents[1] / "data" / "checklists"


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_reconcile_cli__recorded_curator_decision_wins_on_the_next_run(tmp_path: Path) -> None:
    init_home(tmp_path / "home", "gxib", "Guangxi Institute of Botany")
    left = _write(
        tmp_path / "left.csv",
        [
            {"taxonID": "1", "scientificName": "Chirita eburnea Hance", "vernacularName": "牛耳朵"},
            {"taxonID": "2", "scientificName": "Begonia longifolia Blume", "vernacularName": ""},
        ],
    )
    right = _write(
        tmp_path / "right.csv",
        [
            {
                "taxonID": "a",
                "scientificName": "Primulina eburnea (Hance) Yin Z. Wang",
                "vernacularName": "牛耳朵",
            },
            {"taxonID": "b", "scientificName": "Begonia longifolia Blume", "vernacularName": ""},
        ],
    )
    home = str(tmp_path / "home")
    first = CliRunner().invoke(
        main, ["reconcile", "--home", home, str(left), str(right), "-o", str(tmp_path / "out")]
    )
    assert first.exit_code == 0, first.output
    assert "--record review.csv" in first.output
    review = tmp_path / "out" / "review.csv"
    rows = _read(review)
    eburnea = next(r for r in rows if r["left_name"].startswith("Chirita eburnea"))
    assert eburnea["right_name"].startswith("Primulina eburnea")
    assert eburnea["match_kind"] != "none"
    for row in rows:
        row["decision"] = "reject" if row is eburnea else row["decision"]
    _write(review, rows)

    second = CliRunner().invoke(
        main,
        [
            "reconcile",
            "--home",
            home,
            str(left),
            str(right),
            "-o",
            str(tmp_path / "out2"),
            "--record",
            str(review),
        ],
    )
    assert second.exit_code == 0, second.output
    assert (tmp_path / "home" / "mappings" / "decisions.csv").exists()
    after = _read(tmp_path / "out2" / "crosswalk.csv")
    pair = [
        r
        for r in after
        if r["left_name"].startswith("Chirita eburnea")
        and r["right_name"].startswith("Primulina eburnea")
    ]
    assert pair == []  # the rejected pairing is never proposed again


def test_reconcile_cli__unknown_checklist_is_a_clear_error(tmp_path: Path) -> None:
    init_home(tmp_path / "home", "gxib", "Guangxi Institute of Botany")
    result = CliRunner().invoke(
        main,
        [
            "reconcile",
            "--home",
            str(tmp_path / "home"),
            "no-such-dataset",
            str(DATA / "guangxi_cnplants.csv"),
        ],
    )
    assert result.exit_code == 1
    assert "neither a dataset of this node" in result.output
