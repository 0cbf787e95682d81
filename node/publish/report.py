"""What a validation found, and the verdict GBIF's blocking kinds make of it."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from node.core import constants

ALWAYS_BLOCKING = frozenset(
    {
        "ARCHIVE_UNREADABLE",
        "META_XML_INVALID",
        "CORE_ROWTYPE_UNSUPPORTED",
        "DUPLICATED_TERM",
        "ID_MISSING",
        "ID_DUPLICATED",
        "RECORD_REFERENTIAL_INTEGRITY_VIOLATION",
        "SOURCE_UNREADABLE",
        "MAPPING_INVALID",
        "EMPTY_CORE",
    }
)
# Blocking only when neither identifier rule holds.
OCCURRENCE_RULE_KINDS = frozenset(
    {
        "OCCURRENCE_ID_MISSING",
        "OCCURRENCE_ID_DUPLICATED",
        "TRIPLET_INCOMPLETE",
        "TRIPLET_DUPLICATED",
    }
)


@dataclass(frozen=True)
class Problem:
    kind: str
    message: str
    file: str | None = None
    line: int | None = None
    field: str | None = None
    value: str | None = None
    blocking: bool = False

    def __str__(self) -> str:
        where = f"{self.file} line {self.line}: " if self.file and self.line else ""
        where = where or (f"{self.file}: " if self.file else "")
        return where + self.message


@dataclass
class ValidationReport:
    """What is wrong, where, how often, and whether GBIF would index the data."""

    path: str
    publishable: bool
    dataset_type: str | None
    reasons: list[str]
    records: dict[str, int]
    counts: dict[str, int]
    problems: list[Problem]
    notes: list[str] = field(default_factory=list)

    @property
    def blocking_kinds(self) -> list[str]:
        return sorted({p.kind for p in self.problems if p.blocking})

    def to_dict(self) -> dict[str, Any]:
        """Plain data for `fednode validate --json`."""
        return {**asdict(self), "blocking_kinds": self.blocking_kinds}

    def format_text(self, max_per_kind: int = 5) -> str:
        """A summary line, counts per kind, then the first problems of each kind."""
        verdict = "publishable" if self.publishable else "NOT publishable"
        sizes = ", ".join(f"{f} {n:,} rows" for f, n in self.records.items()) or "no rows read"
        out = [
            f"{Path(self.path).name}: {verdict} ({self.dataset_type or 'unknown type'}; {sizes})"
        ]
        out += [f"  because {reason}" for reason in self.reasons]
        out += [f"  note: {note}" for note in self.notes]
        blocking = set(self.blocking_kinds)
        kinds = sorted(self.counts, key=lambda k: (k not in blocking, k))
        if kinds:
            out.append("Problems by kind:")
            for kind in kinds:
                label = "blocking" if kind in blocking else "warning"
                out.append(f"  {kind:<40} {self.counts[kind]:>9,}  {label}")
        for kind in kinds:
            shown = [p for p in self.problems if p.kind == kind][:max_per_kind]
            out.append(f"{kind}:")
            out += [f"  {p}" for p in shown]
            if self.counts[kind] > len(shown):
                out.append(f"  ({self.counts[kind]:,} in all)")
        if any(k not in blocking for k in kinds):
            out.append(
                "Warnings do not stop publishing: GBIF flags such records when it indexes "
                "them. Fixing them at the source still improves the data."
            )
        return "\n".join(out)


class ValidationRun:
    """Collects counts and examples while batches stream past, then decides the verdict."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.dataset_type: str | None = None
        self.records: dict[str, int] = {}
        self.notes: list[str] = []
        self.reasons: list[str] = []
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, list[Problem]] = {}
        self.blocking = set(ALWAYS_BLOCKING)
        self.uniqueness: list[tuple[str, str, str]] = []  # (store, file, term)
        self.limit = constants.VALIDATION_EXAMPLES_PER_KIND

    def add(self, kind: str, message: str, count: int = 1, **where: Any) -> None:
        self.counts[kind] += count
        examples = self.examples.setdefault(kind, [])
        if len(examples) < self.limit:
            examples.append(Problem(kind, message, **where))

    def unreadable(self, detail: str) -> None:
        kind = "META_XML_INVALID" if detail.startswith("meta.xml") else "ARCHIVE_UNREADABLE"
        self.add(kind, detail)

    def flag(
        self, kind: str, mask: pa.Array, values: pa.Array, lines: pa.Array, file: str,
        term: str, template: str,
    ) -> None:  # fmt: skip
        """Count a vectorised mask; turn its first rows into examples."""
        count = pc.sum(mask).as_py() or 0
        if not count:
            return
        room = self.limit - len(self.examples.get(kind, []))
        for i in pc.indices_nonzero(mask)[: max(room, 0)].to_pylist():
            value = values[i].as_py()
            self.add(kind, template.format(term=term, value=value), count=0, file=file,
                     line=lines[i].as_py(), field=term, value=value)  # fmt: skip
        self.counts[kind] += count

    def finish(self) -> ValidationReport:
        blocking = sorted(k for k in self.counts if k in self.blocking)
        for kind in blocking:
            if kind in OCCURRENCE_RULE_KINDS:
                continue  # summarised once by OccurrenceRule
            first = self.examples[kind][0]
            many = f" ({self.counts[kind]:,} in all)" if self.counts[kind] > 1 else ""
            self.reasons.append(f"{kind}: {first}{many}")
        problems = [
            replace(p, blocking=p.kind in self.blocking)
            for kind in sorted(self.examples, key=lambda k: (k not in self.blocking, k))
            for p in self.examples[kind]
        ]
        return ValidationReport(
            path=str(self.path),
            publishable=not blocking,
            dataset_type=self.dataset_type,
            reasons=self.reasons,
            records=self.records,
            counts=dict(self.counts),
            problems=problems,
            notes=self.notes,
        )
