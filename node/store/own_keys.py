"""`fednode key rotate` and `fednode key revoke`: replacing this node's own key.

The order of steps survives a crash at any point: the new private key is written first
(keys/next.key), then the statement signed by the old key is kept, then the old key is
moved to keys/retired/ and the new one takes its place. The old key is kept (0600) because
it may have to sign its own revocation later, and because this node's past archives and
audit heads were signed with it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.core.config import load_config
from node.core.errors import InvalidInput
from node.core.identity import (
    PRIVATE_KEY_FILE,
    PUBLIC_KEY_FILE,
    Identity,
    fingerprint,
    load_identity,
    load_identity_file,
    parse_public_key,
    write_private_key,
)
from node.core.keychain import normal, revocation, rotation, sign_key_statement
from node.store.audit import AuditLog
from node.store.key_statements import add_statements, load_chain
from node.store.state import connect
from node.store.store import write_atomic

NEXT_KEY_FILE = Path("keys/next.key")
RETIRED_FOLDER = Path("keys/retired")


@dataclass(frozen=True)
class KeyChange:
    old: str  # key text
    new: str | None
    revoked: str | None = None


def retired_path(home: Path, key_text: str) -> Path:
    return Path(home) / RETIRED_FOLDER / (fingerprint(key_text).replace(":", "") + ".key")


def rotate_key(home: Path) -> KeyChange:
    """A new key for this node, announced by a rotation statement the old key signs."""
    home = Path(home)
    config = load_config(home)
    old = load_identity(home)
    new = _fresh_next_key(home)
    wire = sign_key_statement(old, rotation(old, config.id, new.public_key_text))
    add_statements(home, [wire])
    _install(home, old, new)
    _audit(
        home,
        f"key rotated {old.fingerprint} -> {new.fingerprint}; the rotation statement, "
        "signed by the old key, is published at /.well-known/fednode",
    )
    return KeyChange(old.public_key_text, new.public_key_text)


def revoke_key(home: Path, key_text: str | None, reason: str) -> KeyChange:
    """Revoke `key_text` (default: the current key, which is first rotated away from).

    The revocation is signed by the key's successor when this node holds it, else by the
    key itself; partners honour either and never again accept the revoked key.
    """
    home = Path(home)
    config = load_config(home)
    current = load_identity(home)
    target = key_text or current.public_key_text
    parse_public_key(target)
    change = KeyChange(target, None)
    if normal(target) == normal(current.public_key_text):
        change = rotate_key(home)
    following = load_chain(home).successor(target)
    signer = _held_key(home, following) if following else None
    signer = signer or _held_key(home, target)
    if signer is None:
        raise InvalidInput(
            f"key {fingerprint(target)} is neither this node's key nor one it retired; "
            "only its holder or its successor can revoke it"
        )
    wire = sign_key_statement(signer, revocation(config.id, target, reason))
    add_statements(home, [wire])
    _audit(home, f"key {fingerprint(target)} revoked ({reason or 'no reason given'})")
    return KeyChange(change.old, change.new, target)


def _fresh_next_key(home: Path) -> Identity:
    path = home / NEXT_KEY_FILE
    path.unlink(missing_ok=True)  # left by a rotation that stopped before its statement
    return write_private_key(path, Ed25519PrivateKey.generate())


def _install(home: Path, old: Identity, new: Identity) -> None:
    retired = retired_path(home, old.public_key_text)
    retired.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(retired.parent, 0o700)
    if not retired.exists():
        os.link(home / PRIVATE_KEY_FILE, retired)
    os.replace(home / NEXT_KEY_FILE, home / PRIVATE_KEY_FILE)
    write_atomic(home / PUBLIC_KEY_FILE, (new.public_key_text + "\n").encode("ascii"))


def _held_key(home: Path, key_text: str) -> Identity | None:
    """This node's private key for `key_text`, current or retired; None if not held."""
    current = load_identity(home)
    if normal(current.public_key_text) == normal(key_text):
        return current
    path = retired_path(home, key_text)
    return load_identity_file(path) if path.is_file() else None


def _audit(home: Path, detail: str) -> None:
    conn = connect(home)
    try:
        AuditLog(conn).append("key", detail=detail)
    finally:
        conn.close()
