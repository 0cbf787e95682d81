"""Key rotation and revocation statements, and the chain of keys they make.

A partner pins a node's key once, checked against a fingerprint read aloud. Replacing that
key must not need a second phone call, yet nobody but the holder of the pinned key may say
what replaces it. So a rotation is a statement "key A is succeeded by key B" signed by A,
and a revocation is "key K is no longer honoured" signed by K itself or by the key K
rotated to. Every holder of a pin can check both with nothing but the pin.

The chain fails closed: a key with two different successors (someone else holds it too),
a statement whose signature or shape is wrong, and any revoked key make every path through
them untrusted. A revoked key is never followed, even to its successor: agreements pinning
it must be signed again with the new keys.

Wire form: `base64url(JSON) "." base64url(signature)`, the signature over a fixed
domain-separation prefix and the JSON bytes as sent, as for the archive statement.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields

from cryptography.exceptions import InvalidSignature

from node.core.identity import Identity, fingerprint, public_key_from_text

ROTATE = "rotate"
REVOKE = "revoke"
_DOMAIN = b"fednode-key-statement-v1\n"
_MAX_CHARS = 2_000  # a statement is ~400 characters
MAX_STATEMENTS = 200  # a node rotating monthly for a decade stays far below


class BadKeyStatement(ValueError):
    """A key statement that cannot be read or does not verify."""


@dataclass(frozen=True)
class KeyStatement:
    kind: str  # ROTATE or REVOKE
    node: str  # the node id the keys belong to, for people reading the chain
    key: str  # rotated from, or revoked
    new_key: str | None  # the successor (ROTATE only)
    signer: str  # the key whose signature this carries
    created: str  # ISO 8601, UTC
    reason: str = ""


def rotation(identity: Identity, node: str, new_key: str) -> KeyStatement:
    return KeyStatement(ROTATE, node, identity.public_key_text, new_key, "", _now())


def revocation(node: str, key: str, reason: str) -> KeyStatement:
    return KeyStatement(REVOKE, node, key, None, "", _now(), reason)


def sign_key_statement(identity: Identity, statement: KeyStatement) -> str:
    """The wire form of `statement`, signed by `identity` (recorded as its signer)."""
    signed = KeyStatement(**{**asdict(statement), "signer": identity.public_key_text})
    payload = json.dumps(asdict(signed), sort_keys=True, separators=(",", ":")).encode()
    signature = identity.private_key.sign(_DOMAIN + payload)
    return f"{_b64(payload)}.{_b64(signature)}"


def read_key_statement(wire: str) -> KeyStatement:
    """The statement, once its signature verifies against the signer it names."""
    if not isinstance(wire, str) or len(wire) > _MAX_CHARS or wire.count(".") != 1:
        raise BadKeyStatement("a key statement must be 'payload.signature', under 2,000 chars")
    payload_text, signature_text = wire.split(".")
    try:
        payload = _unb64(payload_text)
        data = json.loads(payload)
    except (ValueError, binascii.Error) as exc:
        raise BadKeyStatement(f"a key statement is not base64url JSON ({exc})") from None
    names = {f.name for f in fields(KeyStatement)}
    if not isinstance(data, dict) or set(data) != names:
        raise BadKeyStatement(f"a key statement must have exactly the fields {sorted(names)}")
    statement = KeyStatement(**data)
    _check_shape(statement)
    try:
        public_key_from_text(statement.signer).verify(_unb64(signature_text), _DOMAIN + payload)
    except (ValueError, binascii.Error, InvalidSignature):
        raise BadKeyStatement("a key statement does not verify against its signer") from None
    return statement


def _check_shape(s: KeyStatement) -> None:
    if not all(isinstance(v, str) for v in (s.kind, s.node, s.key, s.signer, s.created, s.reason)):
        raise BadKeyStatement("a key statement's fields must be text")
    try:
        public_key_from_text(s.key)
        public_key_from_text(s.signer)
        if s.new_key is not None:
            public_key_from_text(s.new_key)
    except ValueError as exc:
        raise BadKeyStatement(f"a key statement names a malformed key ({exc})") from None
    if s.kind == ROTATE:
        if s.new_key is None or normal(s.new_key) == normal(s.key):
            raise BadKeyStatement("a rotation must name a new key other than the old one")
        if normal(s.signer) != normal(s.key):
            raise BadKeyStatement("a rotation must be signed by the key it replaces")
    elif s.kind == REVOKE:
        if s.new_key is not None:
            raise BadKeyStatement("a revocation names no new key")
    else:
        raise BadKeyStatement(f"a key statement is a rotation or a revocation, not {s.kind!r}")


def normal(key_text: str) -> str:
    """One spelling per key (the raw bytes, re-encoded), so text variants compare equal."""
    try:
        raw = public_key_from_text(key_text).public_bytes_raw()
    except ValueError:
        return key_text
    return "ed25519:" + base64.b64encode(raw).decode("ascii")


class KeyChain:
    """What verified statements say about keys: successors, revocations, conflicts."""

    def __init__(self, statements: Iterable[KeyStatement] = ()) -> None:
        self.statements: list[KeyStatement] = []
        self._next: dict[str, str] = {}
        self._forked: set[str] = set()
        self._revoked: dict[str, KeyStatement] = {}
        pending = []
        for statement in statements:
            self.statements.append(statement)
            if statement.kind == ROTATE:
                old, new = normal(statement.key), normal(statement.new_key or "")
                if self._next.get(old, new) != new:
                    self._forked.add(old)
                self._next.setdefault(old, new)
            else:
                pending.append(statement)
        for statement in pending:  # a revocation may be signed by the successor
            key, signer = normal(statement.key), normal(statement.signer)
            if signer == key or (key not in self._forked and self._next.get(key) == signer):
                self._revoked.setdefault(key, statement)

    def successor(self, key: str) -> str | None:
        return self._next.get(normal(key))

    def revoked(self, key: str) -> bool:
        """Revoked, or succeeded twice (its holder is not the only one): never honoured."""
        return normal(key) in self._revoked or normal(key) in self._forked

    def current(self, key: str) -> str | None:
        """The key `key` leads to through rotations; None when a revoked key lies on the way."""
        seen = set()
        at = normal(key)
        while True:
            if self.revoked(at) or at in seen:
                return None
            seen.add(at)
            following = self._next.get(at)
            if following is None:
                return at
            at = following

    def honours(self, pinned: str, key: str) -> bool:
        """Whether `key` is what `pinned` is now: itself or its successor, nothing revoked."""
        if not (_well_formed(pinned) and _well_formed(key)):
            return False
        current = self.current(pinned)
        return current is not None and current == normal(key)

    def why_not(self, pinned: str) -> str:
        """Why `pinned` leads nowhere, in words for status output."""
        at, seen = normal(pinned), set()
        while at not in seen:
            seen.add(at)
            if at in self._forked:
                return f"key {_short(at)} was rotated to two different keys"
            if at in self._revoked:
                return f"key {_short(at)} is revoked"
            following = self._next.get(at)
            if following is None:
                break
            at = following
        return ""


def _well_formed(key_text: str) -> bool:
    try:
        public_key_from_text(key_text)
    except ValueError:
        return False
    return True


def _short(key_text: str) -> str:
    try:
        return fingerprint(key_text)
    except (ValueError, binascii.Error):
        return repr(key_text[:24])


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
