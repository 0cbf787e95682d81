"""Canonical form and signatures: what a signature covers, and what it deliberately ignores."""

from __future__ import annotations

import base64
import json
import tomllib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agreements.model import Status
from agreements.parse import parse_agreement
from agreements.signing import (
    add_signature,
    canonical_bytes,
    public_key_from_text,
    public_key_to_text,
    sign,
    sign_bytes,
    verify_signatures,
)
from node.core.errors import InvalidAgreement
from tests.agreements.agreement_builders import FLOW, KEYS, NOW, agreement_text


def sign_all(text: str) -> str:
    for party, key in KEYS.items():
        text = sign(text, party, key)
    return text


def test_sign__round_trip_verifies_for_both_parties() -> None:
    agreement = parse_agreement(sign_all(agreement_text()))
    assert verify_signatures(agreement) == {"gxib": True, "vnmn": True}
    assert agreement.status(NOW).status is Status.ACTIVE


def test_sign__keeps_every_line_outside_the_signatures_table() -> None:
    text = "# drafted in Nanning, March 2026\n" + agreement_text(FLOW + "# reviewed by legal\n")
    signed_text = sign(text, "gxib", KEYS["gxib"])
    assert signed_text.startswith(text)
    assert signed_text[len(text) :].lstrip().startswith("[signatures]")


def test_sign__replaces_a_party_signature_in_place() -> None:
    text = sign_all(agreement_text())
    again = sign(text, "gxib", KEYS["gxib"])  # Ed25519 is deterministic: same bytes, same value
    assert again == text
    trailer = '\n[[flows]]\nfrom = "vnmn"\nto = "public"\ndatasets = ["x"]\n'
    moved = text.replace("[signatures]", "# signatures\n[signatures]") + trailer.replace(
        "[[flows]]", "# later flow\n[[flows]]"
    )
    resigned = sign(moved, "vnmn", KEYS["vnmn"])
    assert resigned.count("vnmn = ") == 1
    assert resigned.index("[signatures]") < resigned.index("# later flow")


def test_sign__refuses_a_key_the_agreement_does_not_pin() -> None:
    with pytest.raises(InvalidAgreement, match="pins"):
        sign(agreement_text(), "gxib", Ed25519PrivateKey.generate())


def test_sign__refuses_an_unknown_party() -> None:
    with pytest.raises(InvalidAgreement, match="'iebr' is not a party"):
        sign(agreement_text(), "iebr", KEYS["gxib"])


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('licence = "CC-BY-NC-4.0"', 'licence = "CC-BY-4.0"'),
        ("valid_until = 2028-12-31", "valid_until = 2029-12-31"),
        ('"research", "conservation"', '"research", "conservation", "commercial"'),
        ('name = "Vietnam National Museum of Nature"', 'name = "Someone Else"'),
    ],
)
def test_verify_signatures__one_edited_value_fails_both(old: str, new: str) -> None:
    tampered = sign_all(agreement_text()).replace(old, new)
    assert verify_signatures(parse_agreement(tampered)) == {"gxib": False, "vnmn": False}


def test_verify_signatures__a_swapped_party_key_fails() -> None:
    # An attacker pinning their own key for vnmn cannot keep gxib's signature valid.
    mallory = Ed25519PrivateKey.generate()
    vnmn_key = public_key_to_text(KEYS["vnmn"].public_key())
    text = sign_all(agreement_text()).replace(vnmn_key, public_key_to_text(mallory.public_key()))
    assert verify_signatures(parse_agreement(text))["gxib"] is False


def test_verify_signatures__missing_is_none_and_garbage_is_false() -> None:
    text = sign(agreement_text(), "gxib", KEYS["gxib"]).replace(
        "[signatures]", '[signatures]\nvnmn = "!!"'
    )
    assert verify_signatures(parse_agreement(text)) == {"gxib": True, "vnmn": False}
    assert verify_signatures(parse_agreement(agreement_text())) == {"gxib": None, "vnmn": None}


def test_canonical_bytes__ignore_comments_spacing_key_order_and_table_style() -> None:
    plain = agreement_text(FLOW + 'taxa = { include = ["Gesneriaceae"], exclude = [] }\n')
    lines = plain.splitlines()
    title = next(line for line in lines if line.startswith("title"))
    version = next(line for line in lines if line.startswith("version"))
    reordered = plain.replace(title + "\n", "").replace(version, f"{title}\n{version}   # bump me")
    restyled = reordered.replace(
        'taxa = { include = ["Gesneriaceae"], exclude = [] }',
        'taxa.include = [ "Gesneriaceae" ]  # family\ntaxa.exclude = []',
    )
    assert reordered != plain and restyled != reordered
    assert canonical_bytes(parse_agreement(restyled)) == canonical_bytes(parse_agreement(plain))
    assert sign_all(restyled).split("[signatures]")[1] == sign_all(plain).split("[signatures]")[1]


def test_canonical_bytes__rfc8785_json_without_signatures_and_with_iso_dates() -> None:
    text = sign_all(agreement_text())
    canonical = canonical_bytes(parse_agreement(text))
    document = json.loads(canonical)
    assert "signatures" not in document
    assert document["valid_from"] == "2026-01-01"
    assert canonical == json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    assert canonical_bytes(tomllib.loads(text)) == canonical


def test_sha256__changes_with_any_value_and_not_with_signatures() -> None:
    unsigned = parse_agreement(agreement_text())
    assert parse_agreement(sign_all(agreement_text())).sha256 == unsigned.sha256
    assert parse_agreement(agreement_text(version="4")).sha256 != unsigned.sha256


def test_public_key_text__round_trips_a_raw_32_byte_key() -> None:
    key = KEYS["gxib"].public_key()
    text = public_key_to_text(key)
    assert text.startswith("ed25519:") and len(base64.b64decode(text[8:])) == 32
    assert public_key_to_text(public_key_from_text(text)) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rsa:AAAA", "must look like"),
        ("ed25519:not base64!", "not valid base64"),
        ("ed25519:" + base64.b64encode(b"short").decode(), "32 bytes"),
    ],
)
def test_public_key_from_text__says_what_is_wrong(text: str, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        public_key_from_text(text)


def test_add_signature__a_peer_countersignature_verifies_once_written() -> None:
    text = sign(agreement_text(), "gxib", KEYS["gxib"])
    received = sign_bytes(KEYS["vnmn"], canonical_bytes(parse_agreement(text)))
    text = add_signature(text, "vnmn", received)
    assert verify_signatures(parse_agreement(text)) == {"gxib": True, "vnmn": True}


def test_add_signature__refuses_an_unknown_party() -> None:
    with pytest.raises(InvalidAgreement, match="'iebr' is not a party"):
        add_signature(agreement_text(), "iebr", "AAAA")
