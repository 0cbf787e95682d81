"""Each way a hostile partner got records out of a node, and its other shapes, refused.

Threat categories as real data writes them, dates in every field and form, coordinates and
names restated in other fields, ids that name places, and agreements pinning keys the node
never trusted: every case here sent records before enforcement failed closed.
"""

from __future__ import annotations

import pyarrow as pa
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agreements.embargo import latest_dates
from agreements.model import Status
from agreements.signing import public_key_to_text
from agreements.threat import UNREADABLE, parse_category
from agreements.trust import trust_state
from agreements.validate import BUNDLED_LISTS
from node.core.dates import parse_event_date
from tests.agreements.agreement_builders import (
    KEYS,
    NOW,
    WITHHOLD_CR,
    agreement_text,
    records,
    signed,
)
from tests.agreements.test_enforce import FLOW, ids, karst, run

GENERALISE_EN = """
[[flows.sensitive]]
threat = ["EN"]
action = "generalise"
grid_degrees = 0.1
"""


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("EN B1ab(iii)", "EN"),
        ("CR B1ab(iii)+2ab(iii)", "CR"),
        ("EN A2c; B1ab(iii)", "EN"),
        ("极危", "CR"),
        ("极危(CR)", "CR"),
        ("极危（CR）", "CR"),
        ("濒危(CR)", "CR"),  # two categories named: the more severe counts
        ("Critically Endangered", "CR"),
        ("critically_endangered", "CR"),
        ("ENDANGERED B2ab(ii)", "EN"),
        ("Nguy cấp (EN)", "EN"),
        ("Rất nguy cấp", "CR"),
        ("Sẽ nguy cấp", "VU"),
        ("区域绝灭（RE）", "RE"),
        ("LR/nt", "NT"),
        ("VU D2", "VU"),
        ("无危（LC）", "LC"),
        ("", None),
        ("N/A", None),
        ("Appendix II", UNREADABLE),
        ("IA", UNREADABLE),
        ("国家一级", UNREADABLE),
        ("EN?", UNREADABLE),
        ("NO", UNREADABLE),
    ],
)
def test_threat_categories_are_read_as_real_data_writes_them(text: str, code: str | None) -> None:
    assert parse_category(text) == code


@pytest.mark.parametrize(
    "category", ["EN B1ab(iii)", "濒危", "濒危(EN)", "Endangered", "Nguy cấp", "en"]
)
def test_a_category_with_criteria_or_in_words_is_generalised(category: str) -> None:
    rows, _ = run(karst(iucnRedListCategory=[category, None, None, None]), GENERALISE_EN)
    first = rows[0]
    assert first["fed_generalised"] is True
    assert first["decimalLatitude"] == 23.5 and first["locality"] == ""


@pytest.mark.parametrize("category", ["极危", "极危(CR)", "CR B1ab(iii)", "Critically endangered"])
def test_a_critically_endangered_record_is_withheld_in_any_spelling(category: str) -> None:
    rows, _ = run(karst(iucnRedListCategory=[category, None, None, None]), WITHHOLD_CR)
    assert "gx-1" not in ids(rows)


@pytest.mark.parametrize("category", ["Appendix II", "IA", "threatened?", "国家二级"])
def test_an_unreadable_category_gets_the_most_restrictive_rule(category: str) -> None:
    rows, report = run(
        karst(threatStatus=[category, "LC", None, None]), GENERALISE_EN + WITHHOLD_CR
    )
    assert ids(rows) == ["gx-2", "gx-3", "vn-4"]  # withhold is the flow's strictest rule
    assert report["unreadable_categories"] == 1
    rows, _ = run(karst(threatStatus=[category, "LC", None, None]), GENERALISE_EN)
    assert rows[0]["fed_generalised"] is True and rows[1]["fed_generalised"] is False


def test_the_node_checklist_category_counts_when_the_record_has_none() -> None:
    red_list = {"Primulina eburnea": "极危（CR）"}
    rows, _ = run(karst(), WITHHOLD_CR, red_list=red_list)
    assert "gx-1" not in ids(rows)
    rows, _ = run(karst(), WITHHOLD_CR, red_list={"Primulina eburnea": "unknown status"})
    assert "gx-1" not in ids(rows)  # an unreadable red-list category fails closed too


def test_the_record_category_cannot_lower_the_node_red_list() -> None:
    rows, _ = run(
        karst(iucnRedListCategory=["LC", None, None, None]),
        WITHHOLD_CR,
        red_list={"Primulina eburnea": "CR"},
    )
    assert "gx-1" not in ids(rows)


def test_a_bundled_vietnamese_list_selects_by_decree_group() -> None:
    digest = (
        __import__("hashlib")
        .sha256((BUNDLED_LISTS / "vn-protected-plants.csv").read_bytes())
        .hexdigest()
    )
    rule = f"""
[[flows.sensitive]]
names = "bundled:vn-protected-plants"
names_sha256 = "{digest}"
categories = ["IIA"]
action = "generalise"
grid_degrees = 0.1
"""
    agreement = signed(agreement_text(FLOW + rule))
    assert agreement.flows[0].problem is None
    table = karst()  # gx-2 is an orchid: "Orchidaceae spp." is group IIA
    rows, _ = run(table, agreement=agreement)
    by_id = {row["occurrenceID"]: row for row in rows}
    assert by_id["gx-2"]["fed_generalised"] is True
    assert by_id["gx-1"]["fed_generalised"] is False


# --- dates ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "columns",
    [
        {"year": ["2026"], "month": ["5"], "day": ["20"]},
        {"year": ["2026"]},
        {"eventDate": ["20/05/2026"]},
        {"eventDate": ["05/20/2026"]},
        {"eventDate": ["20.05.2026"]},
        {"eventDate": ["2026年5月20日"]},
        {"eventDate": ["20 May 2026"]},
        {"eventDate": ["2019-05-01"], "verbatimEventDate": ["ngày 20 tháng 5 năm 2026"]},
        {"verbatimEventDate": ["May 2026"]},
        {"eventDate": ["2019-05-01"], "modified": ["20260520"]},
        {"eventDate": ["2019-05-01"], "year": ["2026"]},
        {"eventDate": ["2019-05-01"], "verbatimEventDate": ["spring, last year"]},  # unreadable
        {"eventDate": ["2019-05-01"], "year": ["20x6"]},  # a failed cast: unreadable
        {"month": ["5"]},  # a month without its year
    ],
)
def test_embargo_sees_every_date_a_record_carries(columns: dict[str, list[str]]) -> None:
    table = records(occurrenceID=["x"], **columns)
    rows, report = run(table, "embargo_days = 365\n")
    assert rows == [] and report["embargoed"] == 1


def test_an_old_record_dated_in_several_fields_is_released() -> None:
    table = records(
        occurrenceID=["x"],
        eventDate=["12/03/2019"],
        year=["2019"],
        month=["3"],
        verbatimEventDate=["March 2019"],
        modified=["2020-01-01"],
    )
    rows, _ = run(table, "embargo_days = 365\n")
    assert ids(rows) == ["x"]
    latest, unreadable = latest_dates(table)
    assert str(latest[0]) == "2020-01-01" and not unreadable[0].as_py()


def test_an_ambiguous_day_month_order_is_read_both_ways() -> None:
    assert [str(d) for d in parse_event_date("03/04/2026")] == ["2026-03-04", "2026-04-03"]


# --- what a generalised or withheld record still says ---------------------------------------


def test_a_generalised_record_keeps_only_the_allow_list() -> None:
    table = karst(
        iucnRedListCategory=["EN", None, None, None],
        georeferenceRemarks=["GPS 23.45612, 106.78921", None, None, None],
        occurrenceRemarks=["on the cliff above the spring", None, None, None],
        verbatimLabel=["Longzhou, 23°27'22\"N", None, None, None],
        dynamicProperties=['{"gps": "23.4561,106.7892"}', None, None, None],
        locationID=["cave-23.4561-106.7892", None, None, None],
        minimumElevationInMeters=["412", None, None, None],
        habitat=["limestone cliff", "forest", None, None],
    )
    rows, report = run(table, GENERALISE_EN)
    first = rows[0]
    for name in (
        "georeferenceRemarks", "occurrenceRemarks", "verbatimLabel", "dynamicProperties",
        "locationID", "habitat", "locality", "verbatimCoordinates",
    ):  # fmt: skip
        assert first[name] == "", name
    assert first["minimumElevationInMeters"] is None
    assert rows[1]["habitat"] == "forest"  # not generalised: untouched
    assert first["scientificName"].startswith("Primulina eburnea")
    assert "georeferenceRemarks" in first["informationWithheld"]
    assert report["fields_cleared"]["georeferenceRemarks"] == 1


def test_kept_fields_survive_unless_they_restate_the_point() -> None:
    table = karst(
        iucnRedListCategory=["EN", "EN", None, None],
        habitat=["limestone cliff", "near 22.57121 105.88671", None, None],
    )
    rows, report = run(table, 'keep = ["habitat"]\n' + GENERALISE_EN)
    assert rows[0]["habitat"] == "limestone cliff"
    assert rows[1]["habitat"] == ""  # the second net
    assert report["second_net"] == {"habitat": 1}


def test_a_withheld_collector_does_not_survive_in_other_fields() -> None:
    table = karst(
        recordedByID=["https://orcid.org/0000-0001", None, None, None],
        identifiedBy=["Wen F.", "Wu L.", None, None],
        verbatimLabel=["leg. Wen F. 1024, Longzhou", None, None, None],
        occurrenceRemarks=["collected with wen f.", "with Averyanov L. and team", None, None],
    )
    rows, report = run(table, 'withhold = ["recordedBy"]\n')
    first, second = rows[0], rows[1]
    assert first["recordedByID"] == "withheld under agreement gxib-vnmn@3"
    assert first["identifiedBy"] == "" and second["identifiedBy"] == "Wu L."
    assert first["occurrenceRemarks"] == "" and second["occurrenceRemarks"] == ""
    assert report["second_net"] == {"identifiedBy": 1, "occurrenceRemarks": 2}
    for row in rows:
        secret = {"gx-1": "wen f.", "gx-2": "averyanov", "gx-3": "xu w.b.", "vn-4": "do v.h."}
        for name, value in row.items():
            if isinstance(value, str) and name not in ("informationWithheld",):
                assert secret[str(row["occurrenceID"])] not in value.lower(), name


def test_a_withheld_value_is_caught_after_generalisation_emptied_its_own_field() -> None:
    # locality is withheld and, being off the allow-list, emptied by generalisation first;
    # the collector field that repeats it must still be caught.
    table = karst(
        iucnRedListCategory=["EN", None, None, None],
        recordedBy=["Longzhou, limestone cave", None, None, None],
    )
    rows, report = run(table, 'withhold = ["locality"]\n' + GENERALISE_EN)
    assert rows[0]["recordedBy"] == "" and report["second_net"] == {"recordedBy": 1}
    assert not any(name.startswith("fed_secret_") for name in rows[0])


def test_opaque_ids_are_stable_per_agreement_and_hide_numbers() -> None:
    table = karst(catalogNumber=["IBK00012", None, "IBK00013", None])
    flow = "opaque_ids = true\n"
    first, report = run(table, flow, pseudonym_key=b"k" * 32)
    again, _ = run(table, flow, pseudonym_key=b"k" * 32)
    assert ids(first) == ids(again)
    assert all(str(i).startswith("gxib-vnmn:") and "gx-1" not in str(i) for i in ids(first))
    assert first[0]["catalogNumber"] == "" and report["pseudonymised"] == 4
    other_key, _ = run(table, flow, pseudonym_key=b"o" * 32)
    assert ids(other_key) != ids(first)
    nothing, denied = run(table, flow)  # no key: the flow cannot keep its promise
    assert nothing == [] and "opaque ids" in str(denied["denied"])


# --- whose agreement ------------------------------------------------------------------------


def test_an_agreement_pinning_another_key_for_this_node_is_untrusted() -> None:
    agreement = signed(agreement_text())
    own = public_key_to_text(KEYS["gxib"].public_key())
    peer = public_key_to_text(KEYS["vnmn"].public_key())
    assert trust_state(agreement, "gxib", own, {"vnmn": peer}) is None
    stranger = public_key_to_text(Ed25519PrivateKey.generate().public_key())
    state = trust_state(agreement, "gxib", stranger, {"vnmn": peer})
    assert state is not None and state.status is Status.UNTRUSTED
    assert "not this node's key" in state.reason
    state = trust_state(agreement, "gxib", own, {"vnmn": stranger})
    assert state is not None and "not the key node.toml pins" in state.reason
    state = trust_state(agreement, "gxib", own, {})
    assert state is not None and "not pinned in node.toml" in state.reason
    assert trust_state(agreement, "gxib", None, {"vnmn": peer}) is not None
    assert agreement.status(NOW).active  # the signatures alone say nothing about trust


def test_the_second_net_finds_the_same_whether_values_repeat_or_not() -> None:
    """Repeated withheld values are searched per value in Arrow, unique ones record by
    record: both searches must find exactly the same records."""
    from agreements.disclosure import restated_values

    people = ["Wen F.", "Li", "Xu W.B. | Pan B.", "Li", "Li", "Wen F."] * 20  # per value
    remarks = ["leg. wen f. 12", "Guangxi", "with Pan B.", "li and team", "", None] * 20
    repeated = restated_values({"r": pa.array(remarks)}, pa.array(people))["r"].to_pylist()
    unique = [
        restated_values({"r": pa.array([text], pa.string())}, pa.array([who]))["r"].to_pylist()[0]
        for who, text in zip(people, remarks, strict=True)
    ]
    assert repeated == unique
    assert repeated[:6] == [True, False, True, True, False, False]  # "Li" only as a word


def test_the_second_net_reads_other_ways_of_writing_names_and_points() -> None:
    # A Chinese collector inside a text without spaces; a point with decimal commas; degrees
    # and minutes in letters; a place list finer than a province.
    table = karst(
        iucnRedListCategory=["EN", None, None, None],
        recordedBy=["Wen F.", "韦毅刚", None, None],
        habitat=["GPS 23,45612 106,78921", "采集人韦毅刚，龙州", None, None],
        occurrenceRemarks=["23d27m N 106d47m E", None, None, None],
        higherGeography=["Asia | China | Guangxi | Longzhou | Nonggang", None, None, None],
    )
    flow = 'withhold = ["recordedBy"]\nkeep = ["habitat", "occurrenceRemarks"]\n'
    rows, _ = run(table, flow + GENERALISE_EN)
    first, second = rows[0], rows[1]
    assert second["habitat"] == ""  # not generalised: the collector's name alone clears it
    assert first["habitat"] == "" and first["occurrenceRemarks"] == ""
    assert first["higherGeography"] == ""
