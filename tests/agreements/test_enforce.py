"""Enforcement, rule by rule: what leaves the node, in what form, and what the report says."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest

from agreements.enforce import enforce
from agreements.model import Agreement
from agreements.parse import parse_agreement
from agreements.signing import sign
from node.core.licences import licence_url
from tests.agreements.agreement_builders import (
    DATASET,
    FLOW,
    KEYS,
    NOW,
    WITHHOLD_CR,
    agreement_text,
    records,
    signed,
)


def karst(**overrides: list[str | None]) -> pa.Table:
    """Four records of the Guangxi-Vietnam karst flora, in the stored layout."""
    columns: dict[str, list[str | None]] = {
        "occurrenceID": ["gx-1", "gx-2", "gx-3", "vn-4"],
        "basisOfRecord": ["PreservedSpecimen", "HUMAN_OBSERVATION", "FossilSpecimen", None],
        "family": ["Gesneriaceae", "Orchidaceae", "Gesneriaceae", "Gesneriaceae"],
        "genus": ["Primulina", "Paphiopedilum", "Primulina", "Primulina"],
        "scientificName": [
            "Primulina eburnea (Hance) Yin Z.Wang",
            "Paphiopedilum helenae Aver.",
            "Primulina fimbrisepala (Hand.-Mazz.) Yin Z.Wang",
            "Primulina tabacum Hance",
        ],
        "countryCode": ["CN", "VN", "cn", None],
        "decimalLatitude": ["23.456", "22.5712", "-23.45", None],
        "decimalLongitude": ["106.789", "105.8867", "106.25", None],
        "coordinateUncertaintyInMeters": ["30", None, "100", None],
        "eventDate": ["2019-05-01", "2020", "2024-01-01/2024-02-01", None],
        "recordedBy": ["Wen F.", "Averyanov L.", "Xu W.B.", "Do V.H."],
        "locality": ["Longzhou, limestone cave", "Cao Bang karst", "Napo", "Ha Giang"],
        "verbatimCoordinates": ["23°27'N 106°47'E", None, None, None],
    }
    columns.update(overrides)
    return records({"fed_dataset": DATASET}, **columns)


def run(
    table: pa.Table, flow_toml: str = "", agreement: Agreement | None = None, **kwargs: object
) -> tuple[list[dict[str, object]], dict[str, object]]:
    agreement = agreement or signed(agreement_text(FLOW + flow_toml))
    out, report = enforce(table, agreement, agreement.flows[0], NOW, DATASET, **kwargs)  # type: ignore[arg-type]
    return out.to_pylist(), report.to_dict()


def ids(rows: list[dict[str, object]]) -> list[object]:
    return [row["occurrenceID"] for row in rows]


def test_enforce__an_open_flow_sends_everything_with_licence_and_attribution() -> None:
    rows, report = run(karst())
    assert ids(rows) == ["gx-1", "gx-2", "gx-3", "vn-4"]
    assert {row["license"] for row in rows} == {licence_url("CC-BY-NC-4.0")}
    assert {row["rightsHolder"] for row in rows} == {"Guangxi Institute of Botany (GXIB)"}
    assert {(row["fed_licence"], row["fed_agreement"]) for row in rows} == {
        ("CC-BY-NC-4.0", "gxib-vnmn@3")
    }
    assert report["sent"] == report["total"] == report["in_scope"] == 4
    json.dumps(report)  # the report goes to the audit log as JSON


def test_enforce__a_record_naming_its_rights_holder_keeps_it() -> None:
    rows, _ = run(karst(rightsHolder=["Kunming Institute of Botany", "", None, " "]))
    assert [row["rightsHolder"] for row in rows] == [
        "Kunming Institute of Botany", *["Guangxi Institute of Botany (GXIB)"] * 3,
    ]  # fmt: skip


def test_licence_uri__creative_commons_identifiers_become_legal_code_uris() -> None:
    assert licence_url("CC0-1.0") == "http://creativecommons.org/publicdomain/zero/1.0/legalcode"
    assert licence_url("CC-BY-4.0") == "http://creativecommons.org/licenses/by/4.0/legalcode"
    assert licence_url("https://example.org/l") == "https://example.org/l"


def test_enforce__a_dataset_the_flow_does_not_name_sends_nothing() -> None:
    agreement = signed(agreement_text())
    out, report = enforce(karst(), agreement, agreement.flows[0], NOW, "gxib-herbarium")
    assert out.num_rows == 0
    assert report.out_of_scope == {"dataset": 4}
    assert report.denied == "flow #1 gxib -> vnmn does not grant dataset 'gxib-herbarium'"


def test_enforce__a_flow_naming_no_dataset_sends_nothing() -> None:
    agreement = signed(agreement_text(FLOW.replace('["gxib-karst-flora"]', "[]")))
    out, report = enforce(karst(), agreement, agreement.flows[0], NOW, DATASET)
    assert out.num_rows == 0 and report.out_of_scope == {"dataset": 4}


def test_enforce__an_unsigned_agreement_sends_nothing_and_says_why() -> None:
    agreement = parse_agreement(sign(agreement_text(), "gxib", KEYS["gxib"]))
    rows, report = run(karst(), agreement=agreement)
    assert rows == []
    assert report["denied"] == (
        "agreement gxib-vnmn@3 is awaiting signature: awaiting the signature of vnmn"
    )
    assert report["out_of_scope"] == {"agreement": 4}


def test_enforce__an_expired_agreement_sends_nothing() -> None:
    agreement = signed(agreement_text())
    later = dt.datetime(2029, 1, 1, tzinfo=dt.UTC)
    out, report = enforce(karst(), agreement, agreement.flows[0], later, DATASET)
    assert out.num_rows == 0 and report.status == "expired"


def test_enforce__a_flow_from_another_agreement_sends_nothing() -> None:
    other = signed(agreement_text(version="4"))
    agreement = signed(agreement_text(FLOW.replace("CC-BY-NC-4.0", "CC0-1.0")))
    out, report = enforce(karst(), agreement, other.flows[0], NOW, DATASET)
    assert out.num_rows == 0 and "is not a flow of agreement" in str(report.denied)


def test_enforce__basis_of_record_ignores_case_and_underscores() -> None:
    rows, report = run(karst(), 'basis_of_record = ["PreservedSpecimen", "HumanObservation"]\n')
    assert ids(rows) == ["gx-1", "gx-2"]
    assert report["out_of_scope"] == {"basis_of_record": 2, "taxa": 0, "region": 0}


def test_enforce__taxa_include_matches_any_rank_and_the_start_of_full_names() -> None:
    rows, _ = run(
        karst(family=[None] * 4, genus=[None] * 4), 'taxa = { include = ["Primulina"] }\n'
    )
    assert ids(rows) == ["gx-1", "gx-3", "vn-4"]
    rows, _ = run(karst(), 'taxa = { include = ["gesneriaceae"] }\n')
    assert ids(rows) == ["gx-1", "gx-3", "vn-4"]
    rows, _ = run(karst(), 'taxa = { include = ["Primulina eburnea"] }\n')
    assert ids(rows) == ["gx-1"]


def test_enforce__taxa_names_compare_word_by_word() -> None:
    rows, _ = run(karst(), 'taxa = { include = ["Primulina eb", "Primul"] }\n')
    assert rows == []


def test_enforce__taxa_exclude_wins_over_include() -> None:
    flow = 'taxa = { include = ["Gesneriaceae"], exclude = ["Primulina tabacum"] }\n'
    rows, report = run(karst(), flow)
    assert ids(rows) == ["gx-1", "gx-3"]
    assert report["out_of_scope"]["taxa"] == 2


def test_enforce__includes_widen_only_through_names_the_node_trusts() -> None:
    # fed_accepted_name may come from a partner's checklist: it narrows, never widens.
    table = karst().append_column(
        "fed_accepted_name", pa.array([None, None, None, "Primulina tabacum Hance"])
    )
    table = table.drop_columns(["family", "genus", "scientificName"])
    rows, _ = run(table, 'taxa = { include = ["Primulina tabacum"] }\n')
    assert ids(rows) == []
    rows, _ = run(table, 'taxa = { exclude = ["Primulina tabacum"] }\n')
    assert ids(rows) == ["gx-1", "gx-2", "gx-3"]
    trusted = table.append_column(
        "fed_trusted_accepted_name", pa.array([None, None, None, "Primulina tabacum"])
    )
    rows, _ = run(trusted, 'taxa = { include = ["Primulina tabacum"] }\n')
    assert ids(rows) == ["vn-4"]


def test_enforce__region_country_and_box_both_apply_and_missing_values_fail() -> None:
    rows, report = run(
        karst(), 'region = { countries = ["CN"], bbox = [104.4, 20.9, 112.1, 26.4] }\n'
    )
    assert ids(rows) == ["gx-1"]  # gx-3 is in CN but south of the equator; vn-4 has nothing
    assert report["out_of_scope"]["region"] == 3


def test_enforce__bbox_edges_are_inside() -> None:
    table = karst(
        decimalLatitude=["20.9", "26.4", "26.41", None],
        decimalLongitude=["104.4", "112.1", "112.1", "105"],
    )
    rows, _ = run(table, "region = { bbox = [104.4, 20.9, 112.1, 26.4] }\n")
    assert ids(rows) == ["gx-1", "gx-2"]


@pytest.mark.parametrize(
    ("modified", "event_date", "held"),
    [
        ("2025-06-01", None, False),  # exactly 365 days before NOW: released
        ("2025-06-02", None, True),
        ("2025-06-02T00:00:00+07:00", None, True),
        ("2025", None, True),  # a year counts as its last day
        ("2024-12", None, False),
        (None, "2025-06-10", True),  # no modified: the event's end decides
        (None, "2025-01-01/2025-07-01", True),
        (None, "2020", False),
        ("not a date", "2020", True),  # an unreadable date might be yesterday's
        (None, None, True),  # no date at all: fail closed
        ("2024-02-30", None, True),  # no such day: unreadable, so held back
        ("2024-02-29", None, False),
        ("2023-02-29", "2020", True),  # unreadable modified: held back, not guessed
        ("2024-4-5", None, False),
        ("2024-13", None, True),
    ],
)
def test_enforce__embargo_holds_back_recent_and_undated_records(
    modified: str | None, event_date: str | None, held: bool
) -> None:
    table = records(occurrenceID=["x"], modified=[modified], eventDate=[event_date])
    rows, report = run(table, "embargo_days = 365\n")
    assert (rows == [], report["embargoed"]) == (held, int(held))


def test_enforce__embargo_reads_event_date_when_the_table_has_no_parsed_dates() -> None:
    table = pa.table({"occurrenceID": ["a", "b"], "eventDate": ["2020-01-01/2026-05-20", "2019"]})
    rows, _ = run(table, "embargo_days = 30\n")
    assert ids(rows) == ["b"]


GENERALISE = """
[[flows.sensitive]]
threat = ["CR", "EN"]
action = "generalise"
grid_degrees = 0.1
clear = ["locality"]
"""


def test_enforce__generalise_rounds_documents_and_clears() -> None:
    table = karst(iucnRedListCategory=["EN", None, None, None])
    rows, report = run(table, GENERALISE)
    first = rows[0]
    assert (first["decimalLatitude"], first["decimalLongitude"]) == (23.5, 106.8)
    assert first["coordinateUncertaintyInMeters"] == 30 + 7846
    assert first["coordinatePrecision"] == 0.1
    assert first["dataGeneralizations"] == (
        "Coordinates generalised to 0.1 degrees under agreement gxib-vnmn@3: threat category EN"
    )
    assert first["locality"] == "" and first["verbatimCoordinates"] == ""
    assert first["informationWithheld"] == (
        "locality, verbatimCoordinates withheld under agreement gxib-vnmn@3"
    )
    assert first["fed_generalised"] is True
    assert [row["fed_generalised"] for row in rows[1:]] == [False] * 3
    assert rows[1]["decimalLatitude"] == 22.5712 and rows[1]["locality"] == "Cao Bang karst"
    assert report["generalised"] == 1
    assert report["fields_cleared"] == {"locality": 1, "verbatimCoordinates": 1}


def test_enforce__threat_status_words_and_the_threat_status_column_count() -> None:
    table = karst(threatStatus=["Endangered", "critically_endangered", "vu", "EN "])
    rows, _ = run(table, GENERALISE)
    assert [row["fed_generalised"] for row in rows] == [True, True, False, True]
    assert "threat category CR" in str(rows[1]["dataGeneralizations"])


def test_enforce__withhold_drops_the_record() -> None:
    rows, report = run(
        karst(iucnRedListCategory=["CR", "EN", "LC", None]), WITHHOLD_CR + GENERALISE
    )
    assert ids(rows) == ["gx-2", "gx-3", "vn-4"]
    assert report["withheld_sensitive"] == 1 and report["generalised"] == 1


def test_enforce__the_most_restrictive_rule_wins_whatever_its_order() -> None:
    fine = GENERALISE.replace("0.1", "0.001").replace('"CR", "EN"', '"EN"')
    coarse = GENERALISE.replace('"CR", "EN"', '"EN", "VU"').replace('clear = ["locality"]', "")
    table = karst(iucnRedListCategory=["EN", "VU", None, None])
    for rules in (fine + coarse, coarse + fine):
        rows, report = run(table, rules)
        assert rows[0]["decimalLatitude"] == 23.5 and rows[1]["decimalLatitude"] == 22.6
        assert rows[0]["locality"] == ""  # clearing is a union of every matching rule
    assert [r.get("decisive") for r in report["rules"] if "decisive" in r] == [2, 0]


def test_enforce__the_node_red_list_supplies_missing_categories() -> None:
    rows, _ = run(karst(), WITHHOLD_CR, red_list={"Paphiopedilum helenae": "CR"})
    assert ids(rows) == ["gx-1", "gx-3", "vn-4"]
    rows, _ = run(karst(), GENERALISE, red_list={"Primulina": "Critically Endangered"})
    assert [row["fed_generalised"] for row in rows] == [True, False, True, True]


def test_enforce__a_names_list_matches_at_any_rank(tmp_path: object) -> None:
    import hashlib
    from pathlib import Path

    folder = Path(str(tmp_path))
    content = b"Paphiopedilum\nPrimulina tabacum\n"
    (folder / "cn.csv").write_bytes(content)
    rule = (
        '\n[[flows.sensitive]]\nnames = "cn.csv"\n'
        f'names_sha256 = "{hashlib.sha256(content).hexdigest()}"\n'
        'action = "generalise"\ngrid_degrees = 0.01\n'
    )
    agreement = signed(agreement_text(FLOW + rule), base_dir=folder)
    rows, _ = run(karst(), agreement=agreement)
    assert [row["fed_generalised"] for row in rows] == [False, True, False, True]
    assert rows[1]["decimalLatitude"] == 22.57
    assert rows[1]["dataGeneralizations"].endswith(": listed in cn.csv")


def test_enforce__a_rule_without_triggers_applies_to_every_record() -> None:
    rule = '\n[[flows.sensitive]]\naction = "generalise"\ngrid_degrees = 0.01\n'
    rows, _ = run(karst(), rule)
    assert all(row["fed_generalised"] for row in rows)
    assert rows[3]["dataGeneralizations"] is None  # no coordinates: nothing to say about them


def test_enforce__existing_documentation_is_kept_and_appended() -> None:
    table = karst(
        iucnRedListCategory=["EN"] * 4,
        dataGeneralizations=["Elevation rounded to 100 m", None, "", None],
    )
    rows, _ = run(table, GENERALISE)
    assert rows[0]["dataGeneralizations"].startswith("Elevation rounded to 100 m | Coordinates")
    assert rows[2]["dataGeneralizations"].startswith("Coordinates")


def test_enforce__withheld_fields_are_replaced_and_named_on_every_record() -> None:
    rows, report = run(
        karst(recordNumber=["W1", None, "", "V4"]),
        'withhold = ["recordedBy", "recordNumber", "individualCount"]\n',
    )
    notice = "withheld under agreement gxib-vnmn@3"
    assert {row["recordedBy"] for row in rows} == {notice}
    assert {row["recordNumber"] for row in rows} == {notice}
    assert {row["informationWithheld"] for row in rows} == {f"recordedBy, recordNumber {notice}"}
    assert report["fields_withheld"] == {"recordedBy": 4, "recordNumber": 4}


def test_enforce__a_withheld_typed_field_becomes_empty() -> None:
    rows, _ = run(
        karst(),
        'withhold = ["coordinateUncertaintyInMeters"]\n'.replace(
            "coordinateUncertaintyInMeters", "minimumElevationInMeters"
        ),
    )
    assert "minimumElevationInMeters" not in rows[0]  # absent columns are not invented
    table = karst(minimumElevationInMeters=["350", None, "120", "80"])
    rows, _ = run(table, 'withhold = ["minimumElevationInMeters"]\n')
    assert {row["minimumElevationInMeters"] for row in rows} == {None}


def test_enforce__withheld_and_cleared_fields_share_one_notice() -> None:
    table = karst(iucnRedListCategory=["EN", None, None, None])
    rows, _ = run(table, 'withhold = ["recordedBy"]\n' + GENERALISE)
    assert rows[0]["informationWithheld"] == (
        "recordedBy, locality, verbatimCoordinates withheld under agreement gxib-vnmn@3"
    )
    assert rows[1]["informationWithheld"] == "recordedBy withheld under agreement gxib-vnmn@3"


def test_enforce__the_input_table_is_unchanged() -> None:
    table = karst(iucnRedListCategory=["EN", "CR", None, "EN"])
    copy = pa.table({name: table.column(name) for name in table.column_names})
    snapshot = table.to_pylist()
    run(table, 'withhold = ["recordedBy"]\n' + WITHHOLD_CR + GENERALISE)
    assert table.equals(copy) and table.to_pylist() == snapshot


def test_enforce__an_empty_table_gives_the_same_columns() -> None:
    full, _ = run(karst(iucnRedListCategory=["EN"] * 4), GENERALISE)
    empty, report = run(karst(iucnRedListCategory=["EN"] * 4).slice(0, 0), GENERALISE)
    assert empty == [] and report["sent"] == 0
    agreement = signed(agreement_text(FLOW + GENERALISE))
    out, _ = enforce(karst().slice(0, 0), agreement, agreement.flows[0], NOW, DATASET)
    assert "license" in out.column_names and "fed_agreement" in out.column_names
    assert set(full[0]) >= set(out.column_names)


def test_enforce__the_report_lists_each_rule_with_its_count() -> None:
    flow = (
        'basis_of_record = ["PreservedSpecimen"]\nembargo_days = 365\nwithhold = ["recordedBy"]\n'
    )
    _, report = run(karst(iucnRedListCategory=["EN"] * 4), flow + WITHHOLD_CR + GENERALISE)
    texts = [rule["rule"] for rule in report["rules"]]
    assert texts[0] == "basisOfRecord: PreservedSpecimen"
    assert texts[3] == (
        "embargo 365 days: records with any date after 2025-06-01, an unreadable date, or none"
    )
    assert texts[4] == "sensitive #1: threat category CR -> withhold the record"
    assert texts[5].startswith(
        "sensitive #2: threat category CR, EN -> generalise coordinates to 0.1"
    )
    assert report["rules"][0]["records"] == 3
