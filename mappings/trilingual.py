"""One name per language for each taxon of a crosswalk, and which list gave it.

A partnership's first deliverable is a checklist naming each taxon in Chinese, Vietnamese
and English. The two lists reconciled rarely both carry all three: the Guangxi list gives
Chinese names, the Vietnamese lists Vietnamese ones, often under another synonym of the
taxon. So each crosswalk row takes a language's name from its own pair first, then from
any other row reconciled to the same accepted name (a synonym of the taxon), and says
which list said so (`zh_source`, ...). Names travel only over links the algorithm is sure
of (confidence at or above the review line) or a curator accepted: a row still on the
review list, a `higher_rank` row (a species' name is not its variety's) and an `ambiguous`
row keep their left list's names and lend and borrow none. A homotypic synonym found
without Chinese names to compare may be a misapplied name (*Spilanthes acmella* for the
plant Vietnamese call Cúc áo, *Blainvillea acmella* in Chinese lists): a name must never
travel to a taxon it does not belong to before someone looks. Languages
never mix: a Chinese name fills `zh` only, however its characters read in Vietnamese.

`taxon_rows` turns a crosswalk into what a curator prints: one row per accepted taxon,
its family, its three names, the names each partner uses, and the threat status on each
side (China Red List category, Vietnamese decree group).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from mappings.names import parse_name
from node.core import constants

LANGUAGES = ("zh", "vi", "en")
_LEFT_ONLY = ("higher_rank", "ambiguous")  # the right name is not (or not yet) the taxon
NAME_FIELDS = [
    pa.field(name, pa.string())
    for language in LANGUAGES
    for name in (language, f"{language}_source")
]
TAXON_COLUMNS = (
    "accepted_name", "family", "zh", "vi", "en", "left_names", "right_names",
    "china_red_list", "vietnam_decree_group",
)  # fmt: skip


def with_names(table: pa.Table, left_label: str, right_label: str) -> pa.Table:
    """The crosswalk with `zh`, `vi`, `en` and their `*_source` filled, row by row."""
    rows = table.to_pylist()
    pooled: dict[tuple[str, str], tuple[str, str]] = {}  # (taxon, language) -> name, source
    for row in rows:
        taxon = (row.get("accepted_canonical") or "") if _trusted(row) else ""
        for language in LANGUAGES:
            found = _own_name(row, language, left_label, right_label)
            if taxon and found and (taxon, language) not in pooled:
                name = row["left_name"] if found[1] == left_label else row["right_name"]
                pooled[(taxon, language)] = (found[0], f"{found[1]} ({name})")
    columns: dict[str, list[str]] = {f.name: [] for f in NAME_FIELDS}
    for row in rows:
        taxon = (row.get("accepted_canonical") or "") if _trusted(row) else ""
        for language in LANGUAGES:
            found = _own_name(row, language, left_label, right_label)
            if not found and taxon:
                found = pooled.get((taxon, language))
            name, source = found or ("", "")
            columns[language].append(name)
            columns[f"{language}_source"].append(source)
    for field in NAME_FIELDS:
        array = pa.array(columns[field.name], pa.string())
        if field.name in table.column_names:
            table = table.set_column(table.column_names.index(field.name), field, array)
        else:
            table = table.append_column(field, array)
    return table


def _trusted(row: Mapping[str, object]) -> bool:
    """A row whose pairing may carry names: no pairing at all, or a sure or accepted one."""
    kind = row.get("match_kind")
    if kind == "none":
        return True
    confidence = row.get("confidence")
    sure = isinstance(confidence, float) and confidence >= constants.RECONCILE_REVIEW_BELOW
    return kind not in _LEFT_ONLY and (sure or row.get("decided_by") == "curator")


def _own_name(
    row: Mapping[str, object], language: str, left_label: str, right_label: str
) -> tuple[str, str] | None:
    sides = [("left", left_label)]
    if _trusted(row):
        sides.append(("right", right_label))
    for side, label in sides:
        value = row.get(f"{side}_{language}")
        if isinstance(value, str) and value:
            return value, label
    return None


@dataclass(frozen=True)
class DecreeGroups:
    """Vietnam's decree groups (IA, IIA, priority) by canonical name; `X spp.` by genus."""

    by_name: Mapping[str, str]
    by_genus: Mapping[str, str]

    def of(self, names: Iterable[str]) -> str:
        groups: list[str] = []
        for name in names:
            parsed = parse_name(name)
            for found in (self.by_name.get(parsed.canonical), self.by_genus.get(parsed.genus)):
                for group in (found or "").split(";"):
                    if group and group not in groups:
                        groups.append(group)
        return ";".join(groups)


def decree_groups(path: Path) -> DecreeGroups:
    """Read a list with `scientificName` and `category` columns (the bundled decree list)."""
    by_name: dict[str, list[str]] = {}
    by_genus: dict[str, list[str]] = {}
    with open(path, encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            name = " ".join((row.get("scientificName") or "").split())
            words = name.split()
            target = by_genus if len(words) == 2 and words[1] == "spp." else by_name
            key = words[0] if target is by_genus else parse_name(name).canonical
            for group in (row.get("category") or "").split(";"):
                group = group.strip()
                if key and group and group not in target.setdefault(key, []):
                    target[key].append(group)
    return DecreeGroups(
        {k: ";".join(v) for k, v in by_name.items()},
        {k: ";".join(v) for k, v in by_genus.items()},
    )


def taxon_rows(
    crosswalk: pa.Table,
    families: Mapping[str, str],
    china_red_list: Mapping[str, str],
    groups: DecreeGroups,
) -> list[dict[str, str]]:
    """One row per accepted taxon of a crosswalk (ambiguous pairs left out until decided).

    Args:
        families: canonical name -> family, from either list.
        china_red_list: canonical name -> China Red List category text (the Chinese side's
            own checklist).
    """
    taxa: dict[str, dict[str, list[str]]] = {}
    for row in crosswalk.to_pylist():
        accepted = row.get("accepted_name") or ""
        if not accepted or row["match_kind"] == "ambiguous":
            continue
        taxon = taxa.setdefault(accepted, {c: [] for c in TAXON_COLUMNS})
        for column, value in (
            ("left_names", row["left_name"]),
            ("right_names", row["right_name"]),
            *((language, row.get(language)) for language in LANGUAGES),
        ):
            if value and value not in taxon[column]:
                taxon[column].append(value)
    out = []
    for accepted, found in sorted(taxa.items()):
        names = [accepted, *found["left_names"], *found["right_names"]]
        canonicals = [parse_name(n).canonical for n in names]
        out.append(
            {
                "accepted_name": accepted,
                "family": next((families[c] for c in canonicals if families.get(c)), ""),
                **{language: " | ".join(found[language][:1]) for language in LANGUAGES},
                "left_names": " | ".join(found["left_names"]),
                "right_names": " | ".join(found["right_names"]),
                "china_red_list": next(
                    (china_red_list[c] for c in canonicals if china_red_list.get(c)), ""
                ),
                "vietnam_decree_group": groups.of(names),
            }
        )
    return out
