"""The key chain fails closed: forks, forged or tampered statements, revoked keys."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.core.identity import Identity
from node.core.keychain import (
    BadKeyStatement,
    KeyChain,
    KeyStatement,
    read_key_statement,
    revocation,
    rotation,
    sign_key_statement,
)


def identity() -> Identity:
    return Identity(Ed25519PrivateKey.generate())


def rotate(old: Identity, new: Identity) -> KeyStatement:
    return read_key_statement(sign_key_statement(old, rotation(old, "gxib", new.public_key_text)))


def test_rotations__lead_from_a_pin_to_the_current_key() -> None:
    a, b, c = identity(), identity(), identity()
    chain = KeyChain([rotate(a, b), rotate(b, c)])
    assert chain.honours(a.public_key_text, c.public_key_text)
    assert not chain.honours(a.public_key_text, b.public_key_text)
    assert not chain.honours(c.public_key_text, a.public_key_text)  # never backwards


def test_a_rotation_signed_by_another_key__does_not_verify() -> None:
    a, b, thief = identity(), identity(), identity()
    forged = sign_key_statement(thief, rotation(a, "gxib", b.public_key_text))
    with pytest.raises(BadKeyStatement, match="signed by the key it replaces"):
        read_key_statement(forged)
    payload, signature = sign_key_statement(a, rotation(a, "gxib", b.public_key_text)).split(".")
    with pytest.raises(BadKeyStatement):
        read_key_statement(payload[:-2] + "AA." + signature)


def test_two_successors__honour_neither() -> None:
    a, b, c = identity(), identity(), identity()
    chain = KeyChain([rotate(a, b), rotate(a, c)])
    assert not chain.honours(a.public_key_text, b.public_key_text)
    assert not chain.honours(a.public_key_text, c.public_key_text)
    assert "two different keys" in chain.why_not(a.public_key_text)


def test_revocation__by_the_key_or_its_successor_only() -> None:
    a, b, stranger = identity(), identity(), identity()
    by_stranger = read_key_statement(
        sign_key_statement(stranger, revocation("gxib", a.public_key_text, ""))
    )
    chain = KeyChain([rotate(a, b), by_stranger])
    assert chain.honours(a.public_key_text, b.public_key_text)  # a stranger cannot revoke
    by_successor = read_key_statement(
        sign_key_statement(b, revocation("gxib", a.public_key_text, ""))
    )
    chain = KeyChain([rotate(a, b), by_successor])
    assert not chain.honours(a.public_key_text, b.public_key_text)
    assert chain.honours(b.public_key_text, b.public_key_text)
    by_itself = read_key_statement(sign_key_statement(b, revocation("gxib", b.public_key_text, "")))
    assert not KeyChain([by_itself]).honours(b.public_key_text, b.public_key_text)


def test_malformed_keys__are_never_honoured() -> None:
    assert not KeyChain().honours("ed25519:nope", "ed25519:nope")
