"""`fednode agreement check`: a draft's effect on real records, before anyone signs."""

from __future__ import annotations

import json

import pyarrow as pa

from agreements.parse import parse_agreement
from agreements.preview import preview
from tests.agreements.agreement_builders import DATASET, FLOW, NOW, agreement_text, records

RULES = """withhold = ["recordedBy"]

[[flows.sensitive]]
threat = ["EN"]
action = "generalise"
grid_degrees = 0.01
clear = ["locality"]
"""


def table() -> pa.Table:
    return records(
        occurrenceID=["gx-1", "gx-2", "gx-3", "gx-4"],
        scientificName=["Primulina eburnea", "Primulina tabacum", "Begonia ferox", "Begonia sp."],
        iucnRedListCategory=[None, "EN", None, "EN"],
        decimalLatitude=["23.4567", "22.1234", "22.5", "22.98765"],
        decimalLongitude=["106.7891", "105.9876", "106.1", "106.0001"],
        locality=["cave", "hill", "valley", "gorge"],
        recordedBy=["Wen F.", "Xu W.B.", "Wen F.", "Pan B."],
    )


def test_preview__a_draft_is_previewed_and_its_state_reported() -> None:
    draft = parse_agreement(agreement_text(FLOW + RULES))
    result = preview(table(), draft, draft.flows[0], NOW, DATASET, examples=3)
    assert (result["status"], result["reason"]) == (
        "awaiting signature",
        "awaiting the signature of gxib, vnmn",
    )
    assert (result["sent"], result["generalised"]) == (4, 2)
    json.dumps(result)


def test_preview__examples_show_generalised_records_first_and_only_changed_fields() -> None:
    draft = parse_agreement(agreement_text(FLOW + RULES))
    examples = preview(table(), draft, draft.flows[0], NOW, DATASET, examples=3)["examples"]
    assert [e["occurrenceID"] for e in examples] == ["gx-2", "gx-4", "gx-1"]
    first = examples[0]
    assert first["before"]["decimalLatitude"] == 22.1234
    assert first["after"]["decimalLatitude"] == 22.12
    assert first["after"]["locality"] == "" and first["before"]["locality"] == "hill"
    assert "scientificName" not in first["after"] and "occurrenceID" not in first["after"]
    assert set(examples[2]["after"]) >= {"recordedBy", "license", "rightsHolder"}
    assert "decimalLatitude" not in examples[2]["after"]


def test_preview__a_dataset_outside_the_flow_sends_nothing() -> None:
    draft = parse_agreement(agreement_text(FLOW + RULES))
    result = preview(table(), draft, draft.flows[0], NOW, "other-dataset")
    assert result["sent"] == 0 and result["examples"] == []
    assert result["denied"] == "flow #1 gxib -> vnmn does not grant dataset 'other-dataset'"
