"""Validation of an institution's source file as its batches stream past.

Publishing reads a large source once: the same mapped batches that go into the archive and
the store are checked here on their way, and the verdict is known when the last batch has
gone by, before anything is committed. `validate_source` drives the same checks on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType

import pyarrow as pa

from mappings.columns import ColumnMapping, load_mapping
from mappings.sources import Source, open_source
from node.core.errors import NodeError
from node.core.numbers import ParsedNumbers
from node.core.terms import EVENT_ROW_TYPE
from node.dwca.reader import SKIPPED_ROW
from node.publish.idstore import IdStore
from node.publish.report import ValidationReport, ValidationRun
from node.publish.rules import (
    OccurrenceRule,
    check_ids,
    check_records,
    check_required,
    finish_ids,
)
from node.store.records import with_parsed

_EVENT_ROW_TYPES = {EVENT_ROW_TYPE}


class SourceCheck:
    """Opens a source, checks its batches while a caller consumes them, gives the report.

    If the source cannot be opened, `source` is None and `report()` says why; a caller
    must not publish then.
    """

    def __init__(
        self,
        path: Path | str,
        mapping: ColumnMapping | Path | str | None = None,
        dataset_type: str | None = "occurrence",
        encoding: str | None = None,
        dataset_id: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.run = ValidationRun(self.path)
        self.run.dataset_type = dataset_type
        self.source: Source | None = None
        self._untranslated: dict[str, set[str]] = {}
        self._report: ValidationReport | None = None
        try:
            if isinstance(mapping, str | Path):
                mapping = load_mapping(mapping)
        except NodeError as exc:
            self.run.add("MAPPING_INVALID", exc.detail)
            return
        try:
            source = open_source(
                self.path, mapping, encoding, dataset_type or "occurrence", dataset_id=dataset_id
            )
            if dataset_type is None:
                dataset_type = _validate().guess_dataset_type(source.columns)
                self.run.dataset_type = dataset_type
                if dataset_type != "occurrence":
                    source = open_source(
                        self.path, mapping, encoding, dataset_type, dataset_id=dataset_id
                    )
        except NodeError as exc:
            mapping_error = mapping is not None and exc.detail.startswith(mapping.origin)
            self.run.add("MAPPING_INVALID" if mapping_error else "SOURCE_UNREADABLE", exc.detail)
            return
        if getattr(source, "row_type", None) in _EVENT_ROW_TYPES:
            # An archive's Event core is checked as sampling-event data, whatever node.toml
            # says.
            dataset_type = self.run.dataset_type = "event"
        self.source = source
        self.dataset_type = dataset_type
        self.run.notes += [source.describe(), *source.notes]
        for column in source.unmapped_columns:
            self.run.add(
                "UNMAPPED_COLUMN",
                f"column {column!r} is mapped to no term and will not be published",
                file=self.path.name,
                field=column,
            )

    def checked(
        self, batches: Iterable[tuple[pa.Array, pa.Table]] | None = None
    ) -> Iterator[tuple[pa.Array, pa.Table]]:
        """The source's numbered batches (or `batches`), each checked before it is passed on,
        with what the checks parsed for the stored layout (`with_parsed`).

        A read error ends the checks with SOURCE_UNREADABLE in the report and is raised on,
        so a publish that consumes these batches stops too.
        """
        source, run, name = self.source, self.run, self.path.name
        assert source is not None, "the source did not open; see report()"
        dataset_type = self.dataset_type or "occurrence"
        id_term = source.mapping.id_term or source.id_term
        try:
            with IdStore() as ids:
                occurrence = OccurrenceRule(run, ids) if dataset_type == "occurrence" else None
                count, columns = 0, None
                for lines, table in batches if batches is not None else source.numbered_batches():
                    if columns is None:
                        columns = table.column_names
                        check_required(run, dataset_type, columns, name)
                    count += table.num_rows
                    parsed: dict[str, ParsedNumbers | pa.Array] = {}
                    check_records(
                        run, table, lines, name, occurrence=occurrence is not None, parsed=parsed
                    )
                    if occurrence is not None:
                        occurrence.add(table, lines, name)
                    elif id_term in table.column_names:
                        check_ids(run, ids, table.column(id_term), lines, name, id_term)
                    for term, left in source.mapping.untranslated(table).items():
                        self._untranslated.setdefault(term, set()).update(left)
                    yield lines, with_parsed(table, parsed)
                run.records[name] = count
                if count == 0:
                    _validate().empty_core(run, name)
                if occurrence is not None:
                    occurrence.finish(name)
                elif columns is not None and id_term not in columns:
                    run.add("ID_MISSING", f"no column gives {id_term}", file=name, field=id_term)
                finish_ids(run, ids)
        except NodeError as exc:
            run.add("SOURCE_UNREADABLE", exc.detail)
            raise

    def report(self) -> ValidationReport:
        """The verdict, once `checked()` has run to its end (or the source did not open)."""
        if self._report is not None:
            return self._report
        run, name = self.run, self.path.name
        for term, kept in self._untranslated.items():
            for value in sorted(kept):
                run.add(
                    "UNTRANSLATED_VALUE",
                    f"{term} value {value!r} has no translation in the mapping; published as is",
                    file=name,
                    field=term,
                    value=value,
                )
        for problem in self.source.problems if self.source is not None else ():
            run.add("COLUMN_MISMATCH", problem.detail, file=problem.file, line=problem.line)
            if problem.kind == SKIPPED_ROW:
                # The institution's own row would be left out of the archive: publish only
                # with --skip-invalid, which lists it in rejects.csv.
                run.blocking.add("COLUMN_MISMATCH")
        self._report = run.finish()
        return self._report


def _validate() -> ModuleType:
    """The archive validator, which imports this module, for the rules both share."""
    from node.publish import validate

    return validate
