"""Reconciliation speed and quality: the Guangxi checklist against Flora of China names.

Loads both real lists (6,343 Guangxi taxa; 74,068 Flora of China rows, 41,295 names),
reconciles them, writes the crosswalk, and reports seconds and names per second for each
step, the left names per match kind, precision and recall on the hand-labelled pairs
(`tests/data/labelled_pairs.csv`), and how many genus transfers that share a Chinese name
were found. Target: the whole run under 10 s on two cores. Run alone with
`python -m bench.bench_reconcile`.
"""

from __future__ import annotations

import csv
import tempfile
import time
from pathlib import Path

from bench.measure import peak_rss_mb, print_table
from mappings.checklists import load_checklist
from mappings.reconcile import Crosswalk, reconcile
from mappings.review import score_labelled
from mappings.vernacular import zh_key

DATA = Path(__file__).parents[1] / "tests" / "data"
GUANGXI = DATA / "checklists" / "guangxi_cnplants.csv"
FLORA_OF_CHINA = DATA / "checklists" / "flora_of_china_names.csv"


def _timed(step: str, names: int, started: tuple[float, float]) -> dict[str, object]:
    """Wall seconds, CPU seconds of this process (steadier on a shared machine), rate."""
    seconds = time.perf_counter() - started[0]
    cpu = time.process_time() - started[1]
    rate = round(names / seconds) if seconds else ""
    return {"measure": step, "value": round(seconds, 2), "unit": "s", "cpu_s": round(cpu, 2),
            "names_per_s": rate}  # fmt: skip


def _now() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _transfers_found(crosswalk: Crosswalk, left, right) -> tuple[int, int]:
    """Guangxi names absent from Flora of China whose Chinese name Flora of China gives to
    exactly one name of another genus: how many the crosswalk pairs with that name."""
    by_zh: dict[str, set[str]] = {}
    for row in right.select(["name", "canonical", "vernacular_zh"]).to_pylist():
        if " " in row["canonical"]:
            for key in filter(None, map(zh_key, row["vernacular_zh"].split(" | "))):
                by_zh.setdefault(key, set()).add(row["name"])
    canonicals = set(right.column("canonical").to_pylist())
    expected = {}
    for row in left.select(["name", "canonical", "genus", "vernacular_zh"]).to_pylist():
        targets = by_zh.get(zh_key(row["vernacular_zh"]) or "-", set())
        if row["canonical"] not in canonicals and len(targets) == 1:
            target = next(iter(targets))
            if target.split()[0] != row["genus"]:
                expected[row["name"]] = target
    pairs = set(zip(crosswalk.table.column("left_name").to_pylist(),
                    crosswalk.table.column("right_name").to_pylist(), strict=True))  # fmt: skip
    return sum((left_name, right_name) in pairs for left_name, right_name in expected.items()), len(
        expected
    )


def run() -> list[dict[str, object]]:
    """One full run; rows of (measure, value, unit, names_per_s)."""
    total = _now()
    started = _now()
    left = load_checklist(GUANGXI)
    rows = [_timed(f"load Guangxi CSV ({left.num_rows:,} names)", left.num_rows, started)]
    started = _now()
    right = load_checklist(FLORA_OF_CHINA)
    rows.append(
        _timed(f"load Flora of China CSV ({right.num_rows:,} names)", right.num_rows, started)
    )
    started = _now()
    crosswalk = reconcile(left, right)
    names = left.num_rows + right.num_rows
    rows.append(_timed(f"reconcile ({crosswalk.table.num_rows:,} crosswalk rows)", names, started))
    started = _now()
    with tempfile.TemporaryDirectory() as directory:
        crosswalk.write(Path(directory))
    rows.append(_timed("write Parquet + CSV + review.csv", crosswalk.table.num_rows, started))
    rows.append(_timed("whole run", names, total))
    for kind, count in crosswalk.left_counts.items():
        rows.append({"measure": f"Guangxi names: {kind}", "value": count, "unit": "names"})
    right_only = crosswalk.counts["none"] - crosswalk.left_counts["none"]
    rows.append({"measure": "Flora of China names with no counterpart", "value": right_only,
                 "unit": "names"})  # fmt: skip
    with open(DATA / "labelled_pairs.csv", encoding="utf-8") as handle:
        score = score_labelled(crosswalk.table, csv.DictReader(handle))
    fuzzy_errors = sum(fp["match_kind"] == "fuzzy" for fp in score["false_positives"])
    labelled = f"labelled pairs ({score['pairs']})"
    rows += [
        {"measure": f"{labelled}: precision", "value": round(score["precision"], 3)},
        {"measure": f"{labelled}: recall", "value": round(score["recall"], 3)},
        {"measure": f"{labelled}: kind as labelled", "value": round(score["kind_agreement"], 3)},
        {"measure": f"{labelled}: fuzzy false positives", "value": fuzzy_errors},
    ]
    found, expected = _transfers_found(crosswalk, left, right)
    rows.append({"measure": "genus transfers sharing a Chinese name found", "value": found,
                 "unit": f"of {expected}"})  # fmt: skip
    rows.append({"measure": "peak memory", "value": peak_rss_mb(), "unit": "MiB"})
    return rows


if __name__ == "__main__":
    print_table("Reconciling Guangxi (6,343) against Flora of China (74,068)", run())
