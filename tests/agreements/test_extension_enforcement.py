"""Extension rows inherit what enforcement did to their core record (agreements.extensions).

Each test enforces a real core table with a signed agreement (agreements.enforce), then
hands the outcome to the extension rows, as the serving side does."""

from __future__ import annotations

import pyarrow as pa

from agreements.enforce import enforce
from agreements.extensions import core_outcome, enforce_extension
from agreements.model import Agreement
from agreements.pseudonyms import pseudonymise
from tests.agreements.agreement_builders import (
    DATASET,
    FLOW,
    NOW,
    WITHHOLD_CR,
    agreement_text,
    records,
    signed,
)

KEY = b"k" * 32
CR_ORCHID = "occ-2"
EXACT_PHOTO = "https://example.org/photos/occ-2.jpg"


def _core() -> pa.Table:
    """Two occurrences: a common Begonia and a critically endangered slipper orchid."""
    return records(
        {"fed_dataset": DATASET},
        occurrenceID=["occ-1", CR_ORCHID],
        basisOfRecord=["PreservedSpecimen", "HumanObservation"],
        family=["Begoniaceae", "Orchidaceae"],
        scientificName=["Begonia fimbristipula Hance", "Paphiopedilum hangianum Perner"],
        countryCode=["CN", "CN"],
        decimalLatitude=["22.84321", "22.91234"],
        decimalLongitude=["106.62312", "106.71234"],
        locality=["Nonggang ridge", "Cave mouth 3"],
        recordedBy=["Wen F.", "Xu W.B."],
        iucnRedListCategory=["LC", "CR"],
    )


def _media() -> pa.Table:
    return pa.table(
        {
            "coreid": ["occ-1", CR_ORCHID, CR_ORCHID],
            "identifier": ["https://example.org/photos/occ-1.jpg", EXACT_PHOTO, None],
            "type": ["StillImage", "StillImage", "Sound"],
            "creator": ["Wen F.", "Xu W.B.", "Xu W.B."],
            "spatial": ["Nonggang", "Cave mouth 3", "Cave mouth 3"],
            "occurrenceID": ["occ-1", CR_ORCHID, CR_ORCHID],
        }
    )


def _flow(extra: str = "", *, line: str = "") -> Agreement:
    """The builders' flow, with `line` added to its table and `extra` tables after it."""
    return signed(agreement_text(FLOW + (line + "\n" if line else "") + extra))


def _shared(agreement: Agreement, key: bytes | None = None) -> pa.Table:
    flow = agreement.flows[0]
    core = _core()
    enforced, _ = enforce(core, agreement, flow, NOW, DATASET, pseudonym_key=key)
    outcome = core_outcome(core["occurrenceID"], enforced, "occurrenceID", agreement, flow, key)
    return enforce_extension(_media(), outcome, agreement, flow, key)


def _by_core(table: pa.Table) -> dict[str, list[dict[str, object]]]:
    rows: dict[str, list[dict[str, object]]] = {}
    for row in table.to_pylist():
        rows.setdefault(str(row["coreid"]), []).append(row)
    return rows


GENERALISE_CR = """
[[flows.sensitive]]
threat = ["CR"]
action = "generalise"
grid_degrees = 0.1
"""


def test_a_flow_that_changes_nothing_sends_every_row_whole() -> None:
    shared = _shared(_flow())
    assert shared.to_pylist() == _media().to_pylist()


def test_a_withheld_core_record_takes_its_extension_rows_with_it() -> None:
    shared = _by_core(_shared(_flow(WITHHOLD_CR)))
    assert list(shared) == ["occ-1"]
    assert shared["occ-1"][0]["identifier"] == "https://example.org/photos/occ-1.jpg"


def test_a_generalised_core_record_keeps_only_the_allow_list_in_its_rows() -> None:
    shared = _by_core(_shared(_flow(GENERALISE_CR)))
    orchid = shared[CR_ORCHID]
    assert len(orchid) == 2  # rows stay; what locates them goes
    assert {row["type"] for row in orchid} == {"StillImage", "Sound"}  # allowed
    assert all(row["spatial"] is None for row in orchid)  # a place: not on the allow-list
    # The common Begonia's rows are untouched.
    assert shared["occ-1"][0]["spatial"] == "Nonggang"


def test_media_urls_of_a_generalised_record_are_cleared_unless_the_flow_keeps_them() -> None:
    cleared = _by_core(_shared(_flow(GENERALISE_CR)))
    assert [row["identifier"] for row in cleared[CR_ORCHID]] == [None, None]
    assert cleared["occ-1"][0]["identifier"] == "https://example.org/photos/occ-1.jpg"
    kept = _by_core(_shared(_flow(GENERALISE_CR, line='keep = ["identifier"]')))
    assert EXACT_PHOTO in [row["identifier"] for row in kept[CR_ORCHID]]


def test_withheld_terms_are_withheld_in_extension_rows_too() -> None:
    agreement = _flow(line='withhold = ["recordedBy", "creator"]')
    shared = _shared(agreement)
    creators = set(shared["creator"].to_pylist())
    assert creators == {f"withheld under agreement {agreement.ref}"}


def test_opaque_ids_reach_coreid_and_every_id_term_of_the_rows() -> None:
    agreement = _flow(line="opaque_ids = true")
    shared = _shared(agreement, KEY)
    originals = pa.array(["occ-1", CR_ORCHID, CR_ORCHID])
    expected = pseudonymise(originals, KEY, agreement.id).to_pylist()
    assert shared["coreid"].to_pylist() == expected
    assert shared["occurrenceID"].to_pylist() == expected
    assert not {"occ-1", CR_ORCHID} & set(shared["coreid"].to_pylist())


def test_an_opaque_flow_without_the_node_key_sends_no_extension_rows() -> None:
    assert _shared(_flow(line="opaque_ids = true")).num_rows == 0
