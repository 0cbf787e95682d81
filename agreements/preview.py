"""What a flow would send, shown before anyone signs: `fednode agreement check FILE`.

The preview runs the real enforcement as if the agreement were active (a draft is
unsigned by definition), reports its true state beside the counts, and shows a few
records before and after, limited to the fields that changed, so an admin sees the
effect of each rule on their own data before committing the institution to it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from agreements.enforce import enforce
from agreements.model import Agreement, AgreementState, Flow, Status
from node.core.constants import PREVIEW_EXAMPLES

_ROW = "fed_preview_row"  # input position, carried through enforcement to pair rows


def preview(
    table: pa.Table,
    agreement: Agreement,
    flow: Flow,
    now: dt.datetime,
    dataset_id: str,
    examples: int = PREVIEW_EXAMPLES,
    red_list: Mapping[str, str] | None = None,
    state: AgreementState | None = None,
    pseudonym_key: bytes | None = None,
) -> dict[str, Any]:
    """The enforcement report plus up to `examples` changed records, JSON-ready."""
    args = (table, agreement, flow, now, dataset_id, examples, red_list, state, pseudonym_key)
    return preview_with_table(*args)[0]


def preview_with_table(
    table: pa.Table,
    agreement: Agreement,
    flow: Flow,
    now: dt.datetime,
    dataset_id: str,
    examples: int = PREVIEW_EXAMPLES,
    red_list: Mapping[str, str] | None = None,
    state: AgreementState | None = None,
    pseudonym_key: bytes | None = None,
) -> tuple[dict[str, Any], pa.Table]:
    """The preview and the records as the flow would send them (for the map).

    Generalised records are shown first: they are what an admin most needs to check.
    """
    state = state or agreement.status(now)
    assumed = AgreementState(Status.ACTIVE, f"preview; the agreement is {state.status.value}")
    numbered = table.append_column(_ROW, pa.array(range(table.num_rows), pa.int64()))
    sent, report = enforce(
        numbered,
        agreement,
        flow,
        now,
        dataset_id,
        red_list,
        state=assumed,
        pseudonym_key=pseudonym_key or b"preview",
    )
    result = report.to_dict()
    result["status"], result["reason"] = state.status.value, state.reason
    generalised = pc.fill_null(sent.column("fed_generalised"), False)
    order = [
        *pc.indices_nonzero(generalised).to_pylist(),
        *pc.indices_nonzero(pc.invert(generalised)).to_pylist()[:examples],
    ][:examples]
    result["examples"] = [_example(table, sent, position) for position in order]
    return result, sent.drop_columns([_ROW])


def _example(table: pa.Table, sent: pa.Table, position: int) -> dict[str, Any]:
    after = sent.slice(position, 1).to_pylist()[0]
    before = table.slice(after.pop(_ROW), 1).to_pylist()[0]
    changed = sorted(name for name, value in after.items() if before.get(name) != value)
    shown = {"occurrenceID": before.get("occurrenceID")} if "occurrenceID" in before else {}
    return {
        **shown,
        "before": {name: _jsonable(before.get(name)) for name in changed},
        "after": {name: _jsonable(after[name]) for name in changed},
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value
