"""Loading agreements: what is refused, with which message and line, and what state results."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest

from agreements.model import Party, Status, render_template
from agreements.parse import load_agreement, parse_agreement
from agreements.signing import public_key_to_text, sign
from node.core.errors import InvalidAgreement
from tests.agreements.agreement_builders import FLOW, KEYS, NOW, agreement_text, signed

SENSITIVE = """
[[flows.sensitive]]
threat = ["CR", "EN"]
action = "generalise"
grid_degrees = 0.1
clear = ["locality"]
"""


def problems(text: str, **kwargs: object) -> str:
    with pytest.raises(InvalidAgreement) as caught:
        parse_agreement(text, "gxib-vnmn.toml", **kwargs)  # type: ignore[arg-type]
    return str(caught.value)


def line_of(text: str, fragment: str, occurrence: int = 1) -> int:
    numbers = [n for n, line in enumerate(text.splitlines(), 1) if fragment in line]
    return numbers[occurrence - 1]


def test_parse_agreement__the_design_example_loads() -> None:
    agreement = signed(agreement_text(FLOW + SENSITIVE))
    flow = agreement.flows[0]
    assert agreement.ref == "gxib-vnmn@3"
    assert (flow.from_party, flow.to_party, flow.datasets) == (
        "gxib",
        "vnmn",
        ("gxib-karst-flora",),
    )
    assert flow.sensitive[0].grid_degrees == 0.1
    assert agreement.flow_for("gxib", "vnmn", "gxib-karst-flora") is flow
    assert agreement.flow_for("vnmn", "gxib", "gxib-karst-flora") is None


def test_parse_agreement__unknown_key_names_its_line() -> None:
    text = agreement_text(FLOW + 'licence_url = "x"\n')
    assert f"gxib-vnmn.toml line {line_of(text, 'licence_url')}: flows#1.licence_url" in problems(
        text
    )


def test_parse_agreement__unknown_darwin_core_term_suggests_the_spelling() -> None:
    text = agreement_text(FLOW + 'withhold = ["recordedby", "collectorName"]\n')
    message = problems(text)
    assert f"line {line_of(text, 'withhold')}" in message
    assert "'recordedby' is not a Darwin Core term (did you mean recordedBy?)" in message
    assert "'collectorName' is not a Darwin Core term" in message


def test_parse_agreement__unknown_threat_category_action_and_grid_are_all_listed() -> None:
    rule = '\n[[flows.sensitive]]\nthreat = ["CR", "XX"]\naction = "blur"\ngrid_degrees = 0.05\n'
    text = agreement_text(FLOW + SENSITIVE + rule)
    message = problems(text)
    assert f"line {line_of(text, 'XX')}: flows#1.sensitive#2.threat: 'XX'" in message
    assert f"line {line_of(text, 'blur')}: flows#1.sensitive#2.action: 'blur'" in message
    assert message.count("\n") == 1  # two problems, one per line


def test_parse_agreement__generalise_needs_a_chapman_grid() -> None:
    text = agreement_text(FLOW + SENSITIVE.replace("0.1", "0.05"))
    message = problems(text)
    assert f"line {line_of(text, 'grid_degrees')}: flows#1.sensitive#1.grid_degrees" in message
    assert "0.05 is not one of (0.1, 0.01, 0.001)" in message


def test_parse_agreement__withhold_with_a_grid_is_contradictory() -> None:
    rule = '\n[[flows.sensitive]]\nthreat = ["CR"]\naction = "withhold"\ngrid_degrees = 0.1\n'
    assert "a withheld record is dropped" in problems(agreement_text(FLOW + rule))


@pytest.mark.parametrize(
    ("bbox", "expected"),
    [
        ("[104.4, 20.9, 112.1]", "four numbers"),
        ('[104.4, "20.9", 112.1, 26.4]', "four numbers"),
        ("[112.1, 20.9, 104.4, 26.4]", "minLon <= maxLon"),
        ("[104.4, 26.4, 112.1, 20.9]", "minLat <= maxLat"),
        ("[104.4, -95, 112.1, 26.4]", "-90 <= minLat"),
    ],
)
def test_parse_agreement__malformed_bbox(bbox: str, expected: str) -> None:
    text = agreement_text(FLOW + f'region = {{ countries = ["CN"], bbox = {bbox} }}\n')
    message = problems(text)
    assert f"line {line_of(text, 'region')}: flows#1.region.bbox" in message
    assert expected in message


def test_parse_agreement__valid_until_before_valid_from() -> None:
    text = agreement_text(valid_until="2025-12-31")
    assert f"line {line_of(text, 'valid_until')}: valid_until: 2025-12-31 is before" in problems(
        text
    )


def test_parse_agreement__flow_between_unknown_parties() -> None:
    text = agreement_text(FLOW.replace('to = "vnmn"', 'to = "iebr"'))
    assert "flows#1.to: 'iebr' is neither a party nor \"public\"" in problems(text)


def test_parse_agreement__purposes_are_lower_case_words() -> None:
    text = agreement_text(FLOW.replace('"conservation"', '"Public health"'))
    message = problems(text)
    assert f"line {line_of(text, 'purposes')}: flows#1.purposes" in message
    assert "'Public health' is not one lower-case word" in message


def test_parse_agreement__same_taxon_included_and_excluded() -> None:
    text = agreement_text(FLOW + 'taxa = { include = ["Primulina"], exclude = ["primulina"] }\n')
    assert "'primulina' is both included and excluded" in problems(text)


def test_parse_agreement__a_field_both_withheld_and_cleared_is_fine() -> None:
    text = agreement_text(FLOW + 'withhold = ["locality"]\n' + SENSITIVE)
    assert signed(text).flows[0].withhold == ("locality",)


def test_parse_agreement__ownership_fields_cannot_be_withheld() -> None:
    assert "rightsHolder cannot be withheld" in problems(
        agreement_text(FLOW + 'withhold = ["rightsHolder"]\n')
    )


def test_parse_agreement__two_flows_granting_one_dataset_the_same_way() -> None:
    text = agreement_text(FLOW + FLOW)
    assert "flows#2.datasets: 'gxib-karst-flora' is already granted by flow #1" in problems(text)


def test_parse_agreement__unknown_dataset_is_refused_for_own_flows_only() -> None:
    peer_flow = FLOW.replace('from = "gxib"', 'from = "x"').replace('to = "vnmn"', 'to = "gxib"')
    peer_flow = peer_flow.replace('from = "x"', 'from = "vnmn"').replace("gxib-karst", "vnmn-karst")
    text = agreement_text(FLOW + peer_flow)
    assert "unknown dataset 'gxib-karst-flora'" in problems(
        text, known_datasets={"other"}, own_party="gxib"
    )
    agreement = parse_agreement(text, known_datasets={"gxib-karst-flora"}, own_party="gxib")
    assert len(agreement.flows) == 2


def test_parse_agreement__toml_syntax_error_keeps_its_position() -> None:
    assert "line 2" in problems('id = "x"\nversion = = 3\n')


def test_parse_agreement__bad_key_text() -> None:
    text = agreement_text().replace(public_key_to_text(KEYS["vnmn"].public_key()), "ed25519:abc")
    assert "parties.vnmn.key: key is not valid base64" in problems(text)


def test_status__awaiting_the_missing_signature() -> None:
    text = sign(agreement_text(), "gxib", KEYS["gxib"])
    state = parse_agreement(text).status(NOW)
    assert (state.status, state.awaiting) == (Status.AWAITING_SIGNATURE, ("vnmn",))
    assert state.reason == "awaiting the signature of vnmn"


@pytest.mark.parametrize(
    ("now", "status", "reason"),
    [
        (dt.datetime(2025, 12, 31, 23), Status.NOT_YET_VALID, "not valid before 2026-01-01"),
        (dt.datetime(2026, 1, 1), Status.ACTIVE, "active until 2028-12-31"),
        (dt.datetime(2028, 12, 31, 23, 59), Status.ACTIVE, "active until 2028-12-31"),
        (dt.datetime(2029, 1, 1), Status.EXPIRED, "expired after 2028-12-31"),
    ],
)
def test_status__validity_dates_are_inclusive(
    now: dt.datetime, status: Status, reason: str
) -> None:
    state = signed(agreement_text()).status(now)
    assert (state.status, state.reason) == (status, reason)


def test_status__an_edited_value_is_tampering() -> None:
    text = signed_text = agreement_text()
    for party, key in KEYS.items():
        signed_text = sign(signed_text, party, key)
    tampered = signed_text.replace("version = 3", "version = 4")
    state = parse_agreement(tampered).status(NOW)
    assert state.status is Status.TAMPERED
    assert "gxib, vnmn" in state.reason
    assert parse_agreement(signed_text).status(NOW).active
    assert text != signed_text


def names_rule(path: str, digest: str) -> str:
    return (
        f'\n[[flows.sensitive]]\nnames = "{path}"\nnames_sha256 = "{digest}"\naction = "withhold"\n'
    )


def test_names_list_with_another_hash_voids_its_flow_only(tmp_path: Path) -> None:
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "cn.csv").write_text("scientificName\nPrimulina eburnea\n")
    digest = hashlib.sha256(b"something else").hexdigest()
    agreement = signed(agreement_text(FLOW + names_rule("lists/cn.csv", digest)), base_dir=tmp_path)
    assert agreement.status(NOW).active  # the other direction does not need this list
    problem = agreement.flows[0].problem
    assert problem is not None and "lists/cn.csv has sha256" in problem


def test_missing_names_list_voids_its_flow(tmp_path: Path) -> None:
    agreement = signed(
        agreement_text(FLOW + names_rule("lists/cn.csv", "0" * 64)), base_dir=tmp_path
    )
    assert agreement.flows[0].problem == "flow #1 gxib -> vnmn: names list lists/cn.csv not found"


def test_load_agreement__names_list_resolves_beside_the_file(tmp_path: Path) -> None:
    content = b"# China 2021 list, extract\nscientificName,rank\nPrimulina eburnea,species\n"
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "cn.csv").write_bytes(content)
    text = agreement_text(FLOW + names_rule("lists/cn.csv", hashlib.sha256(content).hexdigest()))
    for party, key in KEYS.items():
        text = sign(text, party, key)
    (tmp_path / "gxib-vnmn.toml").write_text(text)
    agreement = load_agreement(tmp_path / "gxib-vnmn.toml")
    assert agreement.status(NOW).active
    names = agreement.flows[0].sensitive[0].names
    assert names is not None and names.names == frozenset({"primulina eburnea"})


def test_parse_agreement__names_path_may_not_leave_the_folder() -> None:
    assert "relative to the agreement's folder" in problems(
        agreement_text(FLOW + names_rule("../secret.csv", "0" * 64))
    )


def test_render_template__loads_and_awaits_both_signatures() -> None:
    own = Party("gxib", "Guangxi Institute of Botany", "https://a.example", "")
    peer = Party("vnmn", "Vietnam National Museum of Nature", "https://b.example", "")
    own = Party(own.id, own.name, own.url, public_key_to_text(KEYS["gxib"].public_key()))
    peer = Party(peer.id, peer.name, peer.url, public_key_to_text(KEYS["vnmn"].public_key()))
    text = render_template(own, peer, ["gxib-karst-flora"], today=dt.date(2026, 3, 1))
    agreement = parse_agreement(text, known_datasets={"gxib-karst-flora"}, own_party="gxib")
    assert agreement.ref == "gxib-vnmn@1"
    assert (agreement.valid_from, agreement.valid_until) == (
        dt.date(2026, 3, 1),
        dt.date(2029, 2, 28),
    )
    assert agreement.status(dt.datetime(2026, 3, 2)).awaiting == ("gxib", "vnmn")
    assert "# Deny by default" in text


def test_parse_agreement__wrong_types_are_refused_with_line_and_expected_type() -> None:
    """Strict types: a quoted value is text, never guessed into what the key wants."""
    flow = FLOW + 'embargo_days = "365"\nopaque_ids = "true"\nkeep = "habitat"\nmystery = 1\n'
    text = agreement_text(flow, valid_from='"2026-01-01"')
    message = problems(text)
    assert (
        f"line {line_of(text, 'embargo_days')}: flows#1.embargo_days: expected a whole number"
        in message
    )
    assert f"line {line_of(text, 'opaque_ids')}: flows#1.opaque_ids: expected a boolean" in message
    assert f"line {line_of(text, 'keep')}: flows#1.keep: expected a list" in message
    assert "unknown setting 'mystery'" in message
    assert "valid_from: expected a date written like 2026-01-01, without quotes" in message
    assert message.count("\n") == 4  # five problems, all at once
