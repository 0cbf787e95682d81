"""The signed statement that travels with every archive a node serves.

A signature over the archive's bytes alone proves only that the serving node once made
those bytes: an impostor holding an old response could replay it as a newer version, as
another dataset, or to another recipient, and relabel it with unsigned headers. The
statement binds, under one Ed25519 signature by the serving node's key, everything the
archive claims to be: which node, which dataset and version, for which recipient (party
and key), under which agreement (id@version and the SHA-256 of its signed text), with
which licence, the archive's SHA-256 and the signing time.

Wire form (`Fednode-Statement` header): `base64url(JSON) "." base64url(signature)`, the
signature over a fixed domain-separation prefix followed by the JSON bytes exactly as sent,
so the verifier never has to re-serialise anything to check it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import asdict, dataclass, fields

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from node.core.errors import HarvestError
from node.core.identity import Identity

STATEMENT_HEADER = "Fednode-Statement"
STATEMENT_VERSION = 1
_DOMAIN = b"fednode-statement-v1\n"  # a statement signature can never pass for another's
_MAX_HEADER_CHARS = 6_000  # well under aiohttp's 8 KiB header cap; a statement is ~700


@dataclass(frozen=True)
class Statement:
    node: str  # the serving node's id
    dataset: str
    version: str  # the dataset version the archive was built from
    recipient_party: str | None  # None: the requester is not a party to an agreement
    recipient_key: str | None  # None: an anonymous request
    agreement: str | None  # id@version; None for a public dataset
    agreement_sha256: str | None
    licence: str
    sha256: str  # of the archive bytes
    created: str  # ISO 8601, UTC
    v: int = STATEMENT_VERSION


def sign_statement(identity: Identity, statement: Statement) -> str:
    """The header value for `statement`, signed by the serving node's key."""
    payload = json.dumps(asdict(statement), sort_keys=True, separators=(",", ":")).encode()
    signature = identity.private_key.sign(_DOMAIN + payload)
    return f"{_b64(payload)}.{_b64(signature)}"


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def verify_statement(key: Ed25519PublicKey, header: str, where: str) -> Statement:
    """The statement a header carries, once its signature verifies against `key`.

    Anything missing, malformed, unsigned or signed by another key raises HarvestError
    naming `where`: an archive whose claims cannot be verified is not stored.
    """
    if not header:
        raise HarvestError(f"{where}: no {STATEMENT_HEADER} header; refusing an unbound archive")
    if len(header) > _MAX_HEADER_CHARS or header.count(".") != 1:
        raise HarvestError(f"{where}: {STATEMENT_HEADER} is malformed; refusing the archive")
    payload_text, signature_text = header.split(".")
    try:
        payload, signature = _unb64(payload_text), _unb64(signature_text)
        key.verify(signature, _DOMAIN + payload)
    except (ValueError, binascii.Error, InvalidSignature):
        raise HarvestError(
            f"{where}: {STATEMENT_HEADER} does not verify against the key pinned for the "
            "peer; refusing it and keeping the last good copy"
        ) from None
    try:
        data = json.loads(payload)
        names = {f.name for f in fields(Statement)}
        if not isinstance(data, dict) or set(data) != names:
            raise ValueError("unexpected fields")
        statement = Statement(**data)
        _check_types(statement)
    except (ValueError, TypeError) as exc:
        raise HarvestError(
            f"{where}: the signed {STATEMENT_HEADER} has an unexpected shape ({exc}); refusing it"
        ) from None
    if statement.v != STATEMENT_VERSION:
        raise HarvestError(
            f"{where}: {STATEMENT_HEADER} version {statement.v} is not understood "
            f"(this node reads version {STATEMENT_VERSION}); refusing it"
        )
    return statement


def _check_types(statement: Statement) -> None:
    required = ("node", "dataset", "version", "licence", "sha256", "created")
    optional = ("recipient_party", "recipient_key", "agreement", "agreement_sha256")
    for name in required:
        if not isinstance(getattr(statement, name), str):
            raise TypeError(f"{name} must be text")
    for name in optional:
        if getattr(statement, name) is not None and not isinstance(getattr(statement, name), str):
            raise TypeError(f"{name} must be text or null")
    if not isinstance(statement.v, int):
        raise TypeError("v must be an integer")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
