"""`publish --drop NAME`: a column or extension the publisher chose to leave out.

Publishing keeps every column and every extension of a source, Darwin Core or not, so
nothing is lost silently. A publisher who does not want one published (an internal
catalogue column, an extension partners should not see) names it; the loss is then a
decision, reported by name with what it held. A name that matches nothing is refused: a
typo in `--drop` must not publish the column it meant to remove. The record identifier and
the node's own `fed_` columns cannot be dropped; the archive and the audit rely on them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mappings.columns import VERNACULAR_PREFIX
from mappings.sources import ArchiveSource, open_source
from node.core.config import DatasetConfig, NodeConfig
from node.core.errors import InvalidSource, NodeError
from node.core.terms import VERNACULAR_ROW_TYPE, short_name
from node.dwca.extension_tables import ExtensionTable
from node.dwca.reader import open_archive

# Vernacular names are also folded into the core's `fed_vernacular_<language>` columns,
# from which the writer rebuilds the VernacularName extension: dropping it drops them too.
_VERNACULAR_NAMES = (VERNACULAR_ROW_TYPE, short_name(VERNACULAR_ROW_TYPE))


@dataclass
class Drops:
    """The names to drop and, once publishing has read the source, what each removed."""

    names: tuple[str, ...]
    id_term: str
    columns: Counter[str] = field(default_factory=Counter)  # name -> values removed
    extensions: dict[str, int] = field(default_factory=dict)  # row type -> rows removed
    _matched: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        for name in self.names:
            if name == self.id_term or name.startswith("fed_"):
                raise InvalidSource(f"--drop {name}: the record identifier and fed_ columns "
                                    "cannot be dropped")  # fmt: skip

    def from_extensions(self, tables: Sequence[ExtensionTable]) -> list[ExtensionTable]:
        """The extension tables less those named by row type (URI or short name)."""
        kept = []
        for table in tables:
            hits = {n for n in self.names if n in (table.row_type, table.name)}
            if hits:
                self._matched |= hits
                self.extensions[table.row_type] = pq.ParquetFile(table.path).metadata.num_rows
            else:
                kept.append(table)
        return kept

    def from_tables(self, tables: Iterable[pa.Table]) -> Iterator[pa.Table]:
        """The core's tables less the named columns; refuses unmatched names at the end,
        before publishing commits anything."""
        vernacular = [n for n in self.names if n in _VERNACULAR_NAMES]
        for table in tables:
            hits = [n for n in self.names if n in table.column_names]
            folded = [c for c in table.column_names if c.startswith(VERNACULAR_PREFIX)]
            if vernacular and folded:
                self._matched.update(vernacular)
                table = table.drop_columns(folded)
            for name in hits:
                text = pc.utf8_trim_whitespace(table.column(name).cast(pa.string()))
                self.columns[name] += pc.sum(pc.not_equal(text, "")).as_py() or 0
            self._matched.update(hits)
            yield table.drop_columns(hits) if hits else table
        unmatched = [n for n in self.names if n not in self._matched]
        if unmatched:
            raise InvalidSource(
                f"--drop {', '.join(unmatched)}: no column of the core and no extension has "
                "this name; nothing was published"
            )

    def summary(self) -> str:
        """`dropped column x (12 values), extension Multimedia (3 rows)` or ''."""
        parts = [f"column {n} ({count:,} values)" for n, count in self.columns.items()]
        parts += [
            f"extension {row_type.rstrip('/').rsplit('/', 1)[-1]} ({rows:,} rows)"
            for row_type, rows in self.extensions.items()
        ]
        return f"dropped {', '.join(parts)}" if parts else ""


def unmatched_drops(config: NodeConfig, dataset: DatasetConfig) -> list[str]:
    """node.toml `drop` names the dataset's source has no column or extension for.

    Checked before any dataset is published, so a typo in one dataset's `drop` stops the
    whole publish instead of leaving the datasets before it published.
    """
    if not dataset.drop:
        return []
    path = config.path(dataset.source)
    mapping = config.path(dataset.mapping) if dataset.mapping else None
    try:
        source = open_source(path, mapping, dataset.encoding, dataset.type, dataset_id=dataset.id)
    except NodeError:
        return []  # an unreadable source is reported by the source check, with its reason
    names = {t for terms in source.mapping.columns.values() for t in terms}
    names |= set(source.mapping.constants)
    if source.mapping.vernacular:
        names |= set(_VERNACULAR_NAMES)
    if isinstance(source, ArchiveSource):
        with open_archive(path) as archive:
            row_types = [e.row_type for e in archive.extensions if e.row_type]
            names |= {*row_types, *(short_name(r) for r in row_types)}
    return [name for name in dataset.drop if name not in names]
