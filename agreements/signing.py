"""Canonical form, Ed25519 signatures and the public-key text format of agreements.

The canonical form is RFC 8785 (JSON Canonicalization Scheme) of the whole document but
its `[signatures]` table, dates written as ISO 8601 text. Comments, key order, spacing and
TOML spelling (inline or dotted tables) therefore never change a signature, while any
changed value does. Each party signs those bytes with the key pinned for it in the
document itself, so a signature also binds the party to the keys of the others.

This module does not import the model, so the model can verify on load. The key text form
is the node's (node.core.identity); it is re-exported here for the agreements that pin it.
"""

from __future__ import annotations

import base64
import datetime as dt
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import rfc8785
import tomlkit
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.core.errors import InvalidAgreement
from node.core.identity import KEY_PREFIX as KEY_PREFIX
from node.core.identity import public_key_from_text
from node.core.identity import public_key_to_text as public_key_to_text

if TYPE_CHECKING:
    from agreements.model import Agreement

SIGNATURES_TABLE = "signatures"


def _jsonable(value: Any) -> Any:
    """TOML values -> JSON values: dates and times become ISO 8601 text."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return value


def canonical_document_bytes(document: Mapping[str, Any]) -> bytes:
    """RFC 8785 bytes of a parsed agreement document, its signatures left out."""
    unsigned = {k: v for k, v in document.items() if k != SIGNATURES_TABLE}
    try:
        return rfc8785.dumps(_jsonable(unsigned))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise InvalidAgreement(f"agreement has a value JSON cannot carry exactly: {exc}") from exc


def canonical_bytes(agreement: Agreement | Mapping[str, Any]) -> bytes:
    """What every party signs: computed once on load for an Agreement."""
    if isinstance(agreement, Mapping):
        return canonical_document_bytes(agreement)
    return agreement.canonical


def _verify(key_text: str, signature_b64: str, message: bytes) -> bool:
    try:
        key = public_key_from_text(key_text)
        key.verify(base64.b64decode(signature_b64, validate=True), message)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def verify_signatures(agreement: Agreement) -> dict[str, bool | None]:
    """Per party: True (valid), False (present but wrong: tampered or wrong key), None (absent)."""
    message = agreement.canonical
    result: dict[str, bool | None] = {}
    for party in agreement.parties:
        signature = agreement.signature(party.id)
        result[party.id] = None if signature is None else _verify(party.key, signature, message)
    return result


def sign_bytes(private_key: Ed25519PrivateKey, message: bytes) -> str:
    return base64.b64encode(private_key.sign(message)).decode("ascii")


def sign(agreement: str | Path, party_id: str, private_key: Ed25519PrivateKey) -> str:
    """Add or replace `party_id`'s signature; return the new TOML text.

    The key must be the one the document pins for that party: a signature nobody can
    verify is refused here rather than discovered by the peer. Validating the rest of the
    document is `load_agreement`'s job.

    Args:
        agreement: the TOML text, or the path of the file holding it.
    """
    text = agreement.read_text(encoding="utf-8") if isinstance(agreement, Path) else agreement
    document = _parse(text)
    party = _party(document, party_id)
    own_key = public_key_to_text(private_key.public_key())
    if party.get("key") != own_key:
        raise InvalidAgreement(
            f"the agreement pins {party.get('key')!r} for '{party_id}', but this node's key "
            f"is {own_key}: correct [parties.{party_id}] key before signing"
        )
    signature = sign_bytes(private_key, canonical_document_bytes(document))
    return add_signature(text, party_id, signature)


def add_signature(text: str, party_id: str, signature_b64: str) -> str:
    """Write a party's signature (own or received from a peer) into the TOML text.

    Only the `[signatures]` table changes, appended if missing; everything else is kept
    byte for byte, comments included, so an admin's annotations survive countersigning.
    Whether the signature verifies is for the caller to check on the reloaded document.
    """
    _party(_parse(text), party_id)
    editable = tomlkit.parse(text)
    table = editable.get(SIGNATURES_TABLE)
    if table is None:
        table = tomlkit.table()
        editable[SIGNATURES_TABLE] = table
    table[party_id] = signature_b64
    return tomlkit.dumps(editable)


def _parse(text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidAgreement(f"agreement is not valid TOML: {exc}") from exc


def _party(document: Mapping[str, Any], party_id: str) -> Mapping[str, Any]:
    parties = document.get("parties")
    party = parties.get(party_id) if isinstance(parties, dict) else None
    if not isinstance(party, dict):
        raise InvalidAgreement(f"'{party_id}' is not a party of this agreement")
    return party
