"""Enforce a dataset's extensions while its core is enforced for one flow.

The core is enforced batch by batch (node.sharing); this object watches each batch go in
and come out, so it knows which core records were sent, generalised or renamed, and then
writes each extension table enforced accordingly (agreements.extensions).

An Event core needs one more step first. What makes a sampling event sensitive is the
species found there, and those are rows of its Occurrence extension, not of the event. So
the occurrences are enforced as records of their own, each joined with its event's
fields (place, date), exactly as an Occurrence core would be: an occurrence withheld goes,
and an event with a generalised occurrence is generalised as a whole before the core is
enforced: its fields become those of the generalised occurrence record (snapped to the
grid, allow-list only), so neither the event row nor any of its extension rows (photos,
measurements) gives the exact place away.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from agreements.extensions import CORE_KEY, CoreOutcome, core_outcome, enforce_extension
from agreements.model import Agreement, Flow
from node.core.terms import EVENT_ROW_TYPE, ID_TERM_FOR_ROW_TYPE, OCCURRENCE_ROW_TYPE
from node.dwca.extension_tables import ExtensionTable, write_extension_table
from node.store.records import to_stored_layout

# Enforces one table of records for the flow (names enriched, as node.sharing does).
Enforce = Callable[[pa.Table], tuple[pa.Table, dict[str, int]]]
_OCCURRENCE_ID = "occurrenceID"
_GENERALISED = "fed_generalised"


class ExtensionEnforcer:
    def __init__(
        self,
        extensions: Sequence[ExtensionTable],
        row_type: str,
        agreement: Agreement,
        flow: Flow,
        pseudonym_key: bytes | None,
        workdir: Path,
    ) -> None:
        self.extensions = list(extensions)
        self.id_term = ID_TERM_FOR_ROW_TYPE.get(row_type, _OCCURRENCE_ID)
        self.row_type = row_type
        self.agreement, self.flow, self.key = agreement, flow, pseudonym_key
        self.workdir = workdir
        self.outcome = CoreOutcome.empty()
        self.counts: dict[str, int] = {}
        self._occurrences: pa.Table | None = None  # enforced, an Event core's extension
        self._general_events: pa.Table | None = None  # event id -> its generalised fields

    # -- Event core: occurrences first -------------------------------------------------
    def prepare(self, events: pa.Table, enforce: Enforce) -> None:
        """For an Event core with an Occurrence extension: enforce the occurrences."""
        occurrence = self._occurrence_extension()
        if self.row_type != EVENT_ROW_TYPE or occurrence is None:
            return
        rows = occurrence.read()
        keys = _keys(rows)
        keyed = rows.drop_columns([n for n in rows.column_names if n == _OCCURRENCE_ID])
        joined = _joined(keyed.append_column(_OCCURRENCE_ID, keys), events, self.id_term)
        enforced, counts = enforce(joined)
        for name, value in counts.items():
            self.counts[f"occurrence_extension.{name}"] = value
        outcome = core_outcome(keys, enforced, _OCCURRENCE_ID, self.agreement, self.flow, self.key)
        order = pc.index_in(outcome.sent_as, value_set=_text(enforced[_OCCURRENCE_ID]))
        sent_rows = enforced.take(order)
        owner = pc.take(rows[CORE_KEY], pc.index_in(outcome.sent, value_set=keys))
        self._general_events = _generalised_events(sent_rows, owner, outcome, events)
        projected = {CORE_KEY: owner}
        for name in rows.column_names[1:]:
            values = sent_rows[name] if name in sent_rows.column_names else None
            projected[name] = _text(values) if values is not None else pa.nulls(len(owner))
        if _OCCURRENCE_ID in projected and not (self.flow.opaque_ids and self.key):
            # Keys made up for rows without an occurrenceID are not sent as ids.
            original = pc.take(rows[_OCCURRENCE_ID], pc.index_in(outcome.sent, value_set=keys))
            projected[_OCCURRENCE_ID] = _text(original)
        self._occurrences = pa.table(projected)

    def before(self, table: pa.Table) -> pa.Table:
        """A core batch about to be enforced: events with a generalised occurrence are
        replaced by their generalised form."""
        general = self._general_events
        if general is None or not general.num_rows:
            return table
        position = pc.index_in(_text(table[self.id_term]), value_set=general[self.id_term])
        hit = pc.is_valid(position)
        if not pc.any(hit).as_py():
            return table
        for index, name in enumerate(table.column_names):
            if name == self.id_term or (name.startswith("fed_") and name != _GENERALISED):
                continue
            kind = table.schema.field(name).type
            if name in general.column_names:
                replacement = pc.take(general[name], position).cast(kind)
            else:
                replacement = pa.nulls(table.num_rows, kind)
            table = table.set_column(index, name, pc.if_else(hit, replacement, table[name]))
        if _GENERALISED not in table.column_names:
            table = table.append_column(_GENERALISED, pc.fill_null(hit, False))
        for extra in ("dataGeneralizations", "informationWithheld"):
            if extra in general.column_names and extra not in table.column_names:
                values = pc.take(general[extra], position)
                table = table.append_column(extra, _text(values))
        return table

    # -- every core --------------------------------------------------------------------
    def after(self, before: pa.Table, enforced: pa.Table) -> None:
        """Remember what enforcement did to one core batch."""
        outcome = core_outcome(
            before[self.id_term], enforced, self.id_term, self.agreement, self.flow, self.key
        )
        self.outcome = self.outcome.merged(outcome)

    def finish(self) -> list[ExtensionTable]:
        """Every extension, enforced, written under the work folder."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        written = []
        for extension in self.extensions:
            enforced_already = extension.row_type == OCCURRENCE_ROW_TYPE and (
                self._occurrences is not None
            )
            rows = self._occurrences if enforced_already else extension.read()
            assert rows is not None
            shared = enforce_extension(
                rows, self.outcome, self.agreement, self.flow, self.key,
                ids_pseudonymised=enforced_already,
            )  # fmt: skip
            self.counts[f"extension_rows.{extension.name}"] = shared.num_rows
            written.append(write_extension_table(self.workdir, extension, shared))
        return written

    def _occurrence_extension(self) -> ExtensionTable | None:
        return next((e for e in self.extensions if e.row_type == OCCURRENCE_ROW_TYPE), None)


def _keys(rows: pa.Table) -> pa.Array:
    """Each occurrence row's occurrenceID, or a key made from its event and row number."""
    number = pc.cast(pa.array(range(rows.num_rows)), pa.string())
    made = pc.binary_join_element_wise(_text(rows[CORE_KEY]), number, "#occurrence-")
    if _OCCURRENCE_ID not in rows.column_names:
        return made
    given = _text(rows[_OCCURRENCE_ID])
    empty = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(given), ""), True)
    return pc.if_else(empty, made, given)


def _joined(occurrences: pa.Table, events: pa.Table, event_id: str) -> pa.Table:
    """Occurrence rows with their event's fields (the occurrence's own win), normalised."""
    own = set(occurrences.column_names)
    wanted = [n for n in events.column_names if n not in own and not n.startswith("fed_")]
    if event_id not in wanted and event_id in events.column_names:
        wanted.append(event_id)
    right = pa.table({n: _text(events[n]) for n in wanted}).rename_columns(
        [f"{CORE_KEY}" if n == event_id else n for n in wanted]
    )
    joined = occurrences.join(right, keys=CORE_KEY, join_type="left outer", use_threads=False)
    if event_id not in joined.column_names:
        joined = joined.append_column(event_id, _text(joined[CORE_KEY]))
    return to_stored_layout(joined.drop_columns([CORE_KEY]))


def _generalised_events(
    sent: pa.Table, owner: pa.Array, outcome: CoreOutcome, events: pa.Table
) -> pa.Table:
    """One generalised occurrence record per event (the coarsest), keyed by event id."""
    flags = pc.fill_null(pc.is_in(outcome.sent, value_set=outcome.generalised), False)
    if not len(flags) or not pc.any(flags).as_py():
        return pa.table({})
    rows = sent.filter(flags).append_column("fed_event", owner.filter(flags))
    if "coordinateUncertaintyInMeters" in rows.column_names:
        rows = rows.sort_by([("coordinateUncertaintyInMeters", "descending")])
    first = pc.index_in(pc.unique(rows["fed_event"]), value_set=rows["fed_event"])
    chosen = rows.take(first)
    event_id = next((n for n in ("eventID",) if n in events.column_names), events.column_names[0])
    columns = {event_id: _text(chosen["fed_event"])}
    for name in chosen.column_names:
        if name not in ("fed_event", event_id) and not name.startswith("fed_"):
            columns[name] = chosen[name]
    columns[_GENERALISED] = pa.array([True] * chosen.num_rows)
    return pa.table(columns)


def _text(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values if pa.types.is_string(values.type) else pc.cast(values, pa.string())
