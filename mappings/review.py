"""The crosswalk's files and the curator's side of reconciliation: review and decisions.

`Crosswalk.write` puts `review.csv` beside the crosswalk: every left name, ambiguous rows
first, then the least confident, with empty `decision` and `note` columns. A curator fills
in `accept`, `reject` or `choose:<right name>`; `record_decisions` copies the filled rows
into the node's decisions file (`<home>/mappings/decisions.csv`), and every later run of
`reconcile` reads it with `load_decisions`: a decision wins over the algorithm, so a pair
once rejected is never proposed again and a chosen pair stays chosen whatever the lists
become. The files are plain CSV so that a spreadsheet is enough to review.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from mappings.checklists import ChecklistEntry
from mappings.names import parse_name
from mappings.trilingual import NAME_FIELDS
from node.core import constants
from node.core.errors import InvalidInput
from node.core.spreadsheet import safe_cell, safe_table, unescape_cell
from node.store.store import write_parquet_atomic

DECISION_COLUMNS = ["left_name", "right_name", "decision", "note"]
REVIEW_COLUMNS = [
    "left_name", "right_name", "match_kind", "confidence", "decision", "note", "evidence",
    "left_zh", "right_zh", "left_vi", "right_vi", "left_en", "right_en", "accepted_name",
    "edit_distance",
]  # fmt: skip
ACTIONS = ("accept", "reject", "choose")

MATCH_KINDS = (  # in the order reconciliation tries them
    "exact",
    "canonical",
    "variant",
    "fuzzy",
    "synonym",
    "vernacular",
    "higher_rank",
    "ambiguous",
    "none",
)

CROSSWALK_SCHEMA = pa.schema(
    [
        ("left_taxon_id", pa.string()), ("left_name", pa.string()),
        ("left_canonical", pa.string()), ("right_taxon_id", pa.string()),
        ("right_name", pa.string()), ("right_canonical", pa.string()),
        ("match_kind", pa.string()), ("confidence", pa.float64()),
        ("edit_distance", pa.int32()), ("evidence", pa.string()),
        ("left_zh", pa.string()), ("left_vi", pa.string()), ("left_en", pa.string()),
        ("right_zh", pa.string()), ("right_vi", pa.string()), ("right_en", pa.string()),
        ("accepted_name", pa.string()), ("accepted_canonical", pa.string()),
        ("decided_by", pa.string()), *NAME_FIELDS,
    ]
)  # fmt: skip


@dataclass
class Decisions:
    """Curator decisions by left name: pairs accepted or rejected, counterparts chosen."""

    accepted: dict[str, set[str]] = field(default_factory=dict)
    rejected: dict[str, set[str]] = field(default_factory=dict)
    chosen: dict[str, str] = field(default_factory=dict)
    notes: dict[tuple[str, str], str] = field(default_factory=dict)

    def add(self, left_name: str, right_name: str, decision: str, note: str = "") -> None:
        """Record one decision; a later one for the same name replaces an earlier one."""
        action, _, target = decision.strip().partition(":")
        action = action.strip().lower()
        if action not in ACTIONS or (action == "choose") != bool(target.strip()):
            raise ValueError(
                f"decision {decision!r} for {left_name!r}: use accept, reject or choose:<name>"
            )
        for store in (self.accepted, self.rejected):
            store.get(left_name, set()).discard(right_name)
        self.chosen.pop(left_name, None)
        if action == "choose":
            self.chosen[left_name] = target.strip()
        elif action == "accept":
            self.accepted.setdefault(left_name, set()).add(right_name)
        else:
            self.rejected.setdefault(left_name, set()).add(right_name)
        if note:
            # A choice's row is written under its chosen name (`rows`), whichever
            # candidate's row the curator wrote the note on.
            self.notes[(left_name, target.strip() if action == "choose" else right_name)] = note

    def rows(self) -> list[dict[str, str]]:
        out = []
        for left_name, names in self.accepted.items():
            out += [{"left_name": left_name, "right_name": n, "decision": "accept"} for n in names]
        for left_name, names in self.rejected.items():
            out += [{"left_name": left_name, "right_name": n, "decision": "reject"} for n in names]
        for left_name, name in self.chosen.items():
            out.append({"left_name": left_name, "right_name": name, "decision": f"choose:{name}"})
        for row in out:
            row["note"] = self.notes.get((row["left_name"], row["right_name"]), "")
        return sorted(out, key=lambda r: (r["left_name"], r["right_name"]))

    def __len__(self) -> int:
        return len(self.rows())


class Crosswalk:
    """The result of `reconcile`: one row per name pair or unmatched name."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table

    @property
    def counts(self) -> dict[str, int]:
        """Rows per match kind (right-only names included under `none`)."""
        kinds = self.table.column("match_kind").to_pylist()
        return {kind: kinds.count(kind) for kind in MATCH_KINDS}

    @property
    def left_counts(self) -> dict[str, int]:
        """Left names per match kind: each left name once, however many candidate rows."""
        seen: dict[str, str] = {}
        for name, kind in zip(
            self.table.column("left_name").to_pylist(),
            self.table.column("match_kind").to_pylist(),
            strict=True,
        ):
            if name:
                seen.setdefault(name, kind)
        kinds = list(seen.values())
        return {kind: kinds.count(kind) for kind in MATCH_KINDS}

    def accepted_names(self) -> dict[str, str]:
        """Verbatim name (either side) -> reconciled accepted name, for exports and scopes."""
        mapping: dict[str, str] = {}
        for row in self.table.select(["left_name", "right_name", "accepted_name"]).to_pylist():
            for name in (row["left_name"], row["right_name"]):
                if name and row["accepted_name"]:
                    mapping.setdefault(name, row["accepted_name"])
        return mapping

    def write(self, directory: Path) -> dict[str, Path]:
        """Parquet (`crosswalk/`), `crosswalk.csv` and `review.csv`, each swapped in whole."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        paths = {
            "parquet": directory / "crosswalk",
            "csv": directory / "crosswalk.csv",
            "review": directory / "review.csv",
        }
        write_parquet_atomic(paths["parquet"], [self.table], schema=CROSSWALK_SCHEMA)
        _write_arrow_csv_atomic(paths["csv"], self.table)
        write_review(self.table, paths["review"])
        return paths


def load_decisions(path: Path | str) -> Decisions:
    """Read a decisions file (or a reviewed review.csv); a missing file means none yet."""
    path = Path(path)
    decisions = Decisions()
    if not path.exists():
        return decisions
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"left_name", "decision"} - set(reader.fieldnames or [])
        if missing:
            raise InvalidInput(
                f"{path}: missing column(s) {', '.join(sorted(missing))}; a decisions file has "
                f"{', '.join(DECISION_COLUMNS)}"
            )
        for raw in reader:
            row = {k: unescape_cell(v) if isinstance(v, str) else v for k, v in raw.items()}
            decision = (row.get("decision") or "").strip()
            if not decision:
                continue
            try:
                decisions.add(
                    row["left_name"],
                    row.get("right_name") or "",
                    decision,
                    (row.get("note") or "").strip(),
                )
            except ValueError as exc:
                raise InvalidInput(f"{path} line {reader.line_num}: {exc}") from exc
    return decisions


def save_decisions(decisions: Decisions, path: Path | str) -> None:
    write_csv_atomic(Path(path), DECISION_COLUMNS, decisions.rows())


def record_decisions(review_path: Path | str, decisions_path: Path | str) -> Decisions:
    """Merge the decisions filled in a review file into the kept decisions file."""
    kept = load_decisions(decisions_path)
    for row in load_decisions(review_path).rows():
        kept.add(row["left_name"], row["right_name"], row["decision"], row["note"])
    Path(decisions_path).parent.mkdir(parents=True, exist_ok=True)
    save_decisions(kept, decisions_path)
    return kept


def review_rows(table: pa.Table) -> list[dict]:
    """Left-side rows in review order: ambiguous, then low confidence, unmatched, the rest."""
    rows = [r for r in table.to_pylist() if r["left_name"]]

    def order(row: dict) -> tuple[int, float, str]:
        kind, confidence = row["match_kind"], row["confidence"]
        if kind == "ambiguous":
            group = 0
        elif kind != "none" and confidence < constants.RECONCILE_REVIEW_BELOW:
            group = 1
        elif kind == "none":
            group = 2
        else:
            group = 3
        return group, confidence, row["left_name"]

    rows.sort(key=order)
    for row in rows:
        row["decision"] = "accept" if row.get("decided_by") == "curator" else ""
        row["note"] = ""
    return rows


def write_review(table: pa.Table, path: Path) -> None:
    write_csv_atomic(path, REVIEW_COLUMNS, review_rows(table))


def write_csv_atomic(path: Path, columns: Sequence[str], rows: Iterable[dict]) -> None:
    """Write a UTF-8 CSV to a temporary file beside `path`, then rename it into place."""
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: "" if v is None else safe_cell(v) for k, v in row.items()})
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def crosswalk_row(
    left: ChecklistEntry | None,
    right: ChecklistEntry | None,
    kind: str,
    confidence: float,
    evidence: Iterable[str],
    edit_distance: int | None,
    accepted: str,
    decided_by: str,
) -> dict:
    """One crosswalk row; `left` or `right` is None for a name the other list lacks."""
    row: dict = {
        "match_kind": kind,
        "confidence": round(confidence, 3),
        "edit_distance": edit_distance,
        "evidence": "; ".join(evidence),
        "accepted_name": accepted,
        "accepted_canonical": parse_name(accepted).canonical if accepted else "",
        "decided_by": decided_by,
    }
    for side, entry in (("left", left), ("right", right)):
        row[f"{side}_taxon_id"] = entry.taxon_id if entry else ""
        row[f"{side}_name"] = entry.name if entry else ""
        row[f"{side}_canonical"] = entry.parsed.canonical if entry else ""
        for language in ("zh", "vi", "en"):
            row[f"{side}_{language}"] = getattr(entry, language) if entry else ""
    return row


def left_rows(
    entry: ChecklistEntry,
    candidates: Sequence,
    kind: str,
    decided_by: str,
    accepted_of: Callable[[ChecklistEntry], ChecklistEntry],
    note: str,
    decisions: Decisions,
    accepted_elsewhere: str = "",
) -> list[dict]:
    """The crosswalk rows of one left name: one per candidate, or one `none` row.

    `accepted_name` is the right list's accepted name for a pair, the left name's own for
    `none` and `higher_rank` rows (or the accepted name GBIF gave for a name the right list
    lacks), and empty for `ambiguous` rows until a curator decides.
    """
    if not candidates:
        evidence = [note or "no counterpart in the right list"]
        if entry.name in decisions.rejected:
            evidence.append("curator rejected " + ", ".join(sorted(decisions.rejected[entry.name])))
        own = accepted_elsewhere or entry.accepted or entry.name
        return [crosswalk_row(entry, None, "none", 0.0, evidence, None, own, decided_by)]
    rows = []
    for candidate in candidates:
        accepted = accepted_of(candidate.entry).name
        if kind == "higher_rank":
            accepted = entry.accepted or entry.name
        confidence = candidate.confidence
        if kind == "ambiguous":
            accepted, confidence = "", confidence * 0.5
        rows.append(
            crosswalk_row(
                entry,
                candidate.entry,
                kind,
                confidence,
                candidate.evidence,
                candidate.edit_distance,
                accepted,
                decided_by,
            )
        )
    return rows


PAIRING_KINDS = frozenset(MATCH_KINDS) - {"ambiguous", "none"}


def score_labelled(table: pa.Table, labelled: Iterable[dict]) -> dict:
    """Precision and recall of a crosswalk against pairs a curator labelled.

    A labelled pair (`left_name`, `right_name`, `same_taxon` yes / no / unsure) is found
    when the crosswalk pairs the two names under any kind but `ambiguous` or `none`. A
    false positive is a pair labelled `no`, or a counterpart other than the one labelled
    `yes` for that left name, or any pair for a name labelled as having no counterpart.
    """
    labelled = list(labelled)
    predicted: dict[str, list[tuple[str, str]]] = {}
    for row in table.select(["left_name", "right_name", "match_kind"]).to_pylist():
        if row["left_name"]:
            predicted.setdefault(row["left_name"], []).append(
                (row["right_name"], row["match_kind"])
            )
    positives: dict[str, set[str]] = {}
    negatives: dict[str, set[str]] = {}
    for pair in labelled:
        target = positives if pair["same_taxon"] == "yes" else negatives
        target.setdefault(pair["left_name"], set()).add(pair["right_name"])
    found, missed, kinds_agree = 0, [], 0
    for pair in labelled:
        if pair["same_taxon"] != "yes":
            continue
        kinds = [k for r, k in predicted.get(pair["left_name"], []) if r == pair["right_name"]]
        kinds = [k for k in kinds if k in PAIRING_KINDS]
        if kinds:
            found += 1
            kinds_agree += kinds[0] == pair["expected_kind"]
        else:
            missed.append(pair)
    false_positives = []
    for left_name in positives.keys() | negatives.keys():
        for right_name, kind in predicted.get(left_name, []):
            rejected = negatives.get(left_name, set())
            wrong = (
                right_name in rejected
                or "" in rejected  # labelled as having no counterpart at all
                or (left_name in positives and right_name not in positives[left_name])
            )
            if kind in PAIRING_KINDS and wrong:
                false_positives.append({"left_name": left_name, "right_name": right_name,
                                        "match_kind": kind})  # fmt: skip
    claimed = found + len(false_positives)
    return {
        "pairs": len(labelled),
        "true_positives": found,
        "false_positives": false_positives,
        "missed": missed,
        "precision": found / claimed if claimed else 1.0,
        "recall": found / (found + len(missed)) if found + len(missed) else 1.0,
        "kind_agreement": kinds_agree / found if found else 1.0,
    }


def _write_arrow_csv_atomic(path: Path, table: pa.Table) -> None:
    """The whole crosswalk as CSV, written by Arrow (fast) to a temporary file, then renamed."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(descriptor)
    try:
        pacsv.write_csv(safe_table(table), temporary)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
