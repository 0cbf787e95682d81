"""A record with an empty family is scoped by the family the node's checklists give its genus."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from agreements.enforce import enforce
from node.core.config import load_config
from node.export.crosswalks import family_index, with_inferred_family
from node.store.home import init_home
from node.store.records import to_stored_layout
from node.store.store import Store, write_parquet_atomic
from tests.agreements.agreement_builders import DATASET, FLOW, NOW, agreement_text, signed


def _text(**columns: list[str]) -> pa.Table:
    return to_stored_layout(pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()}))


def test_family_index__genus_to_family_only_where_unambiguous(tmp_path: Path) -> None:
    init_home(tmp_path, "gxib", "Guangxi Institute of Botany")
    store = Store(tmp_path)
    write_parquet_atomic(
        store.local("checklist"),
        [
            _text(
                taxonID=["1", "2", "3", "4"],
                genus=["Primulina", "Begonia", "Ficus", "Ficus"],
                family=["Gesneriaceae", "Begoniaceae", "Moraceae", "Urticaceae"],
            )
        ],
    )
    index = family_index(load_config(tmp_path))
    assert index is not None
    assert dict(zip(index["genus"].to_pylist(), index["family"].to_pylist(), strict=True)) == {
        "Primulina": "Gesneriaceae",
        "Begonia": "Begoniaceae",
    }
    records = _text(
        scientificName=["Primulina eburnea", "Ficus hispida", "Begonia sp."],
        genus=["", "", "Begonia"],
    )
    inferred = with_inferred_family(records, index)["fed_inferred_family"].to_pylist()
    assert inferred == ["Gesneriaceae", None, "Begoniaceae"]


def test_enforce__excluded_family_applies_to_records_with_an_empty_family(tmp_path: Path) -> None:
    text = agreement_text(FLOW + 'taxa = { include = [], exclude = ["Gesneriaceae"] }\n')
    agreement = signed(text)
    flow = agreement.flows[0]
    index = pa.table({"genus": ["Primulina"], "family": ["Gesneriaceae"]})
    records = _text(
        occurrenceID=["a", "b"],
        scientificName=["Primulina eburnea", "Begonia x"],
        family=["", ""],
        basisOfRecord=["PreservedSpecimen"] * 2,
        countryCode=["CN", "CN"],
        decimalLatitude=["22.3", "22.4"],
        decimalLongitude=["106.9", "107.0"],
        eventDate=["2001", "2001"],
    )
    plain, _ = enforce(records, agreement, flow, NOW, DATASET)
    assert sorted(plain["occurrenceID"].to_pylist()) == ["a", "b"]  # the gap, without the index
    scoped, _ = enforce(with_inferred_family(records, index), agreement, flow, NOW, DATASET)
    assert scoped["occurrenceID"].to_pylist() == ["b"]
