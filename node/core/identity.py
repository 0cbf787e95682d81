"""The node's Ed25519 identity: the key that signs archives, requests and agreements.

The private key never leaves `keys/node.key` (mode 0600) and is never logged; peers pin
the public key (or its fingerprint) taken from `/.well-known/fednode`.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from node.core.errors import ConfigError, InvalidInput

PRIVATE_KEY_FILE = Path("keys/node.key")
PUBLIC_KEY_FILE = Path("keys/node.pub")

KEY_PREFIX = "ed25519:"


def public_key_to_text(key: Ed25519PublicKey) -> str:
    """The one text form of a key: pinned in agreements and node.toml, served at /.well-known."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return KEY_PREFIX + base64.b64encode(raw).decode("ascii")


def public_key_from_text(text: str) -> Ed25519PublicKey:
    """`ed25519:<base64 of the raw 32-byte key>` -> key; ValueError saying what is wrong."""
    if not isinstance(text, str) or not text.startswith(KEY_PREFIX):
        raise ValueError(f"key must look like '{KEY_PREFIX}<base64>', not {str(text)[:24]!r}")
    try:
        raw = base64.b64decode(text[len(KEY_PREFIX) :], validate=True)
    except ValueError as exc:
        raise ValueError(f"key is not valid base64 ({exc})") from None
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key has 32 bytes, this one {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


public_key_text = public_key_to_text


def parse_public_key(text: str) -> Ed25519PublicKey:
    """`ed25519:<base64 raw key>` -> key; a clear 400-class error for anything else."""
    try:
        return public_key_from_text(text)
    except ValueError as exc:
        raise InvalidInput(f"public key: {exc}") from None


def fingerprint(key_text: str) -> str:
    """SHA-256 of the raw public key, hex, grouped for reading aloud over the phone."""
    raw = base64.b64decode(key_text[len(KEY_PREFIX) :])
    digest = hashlib.sha256(raw).hexdigest()
    return ":".join(digest[i : i + 4] for i in range(0, 32, 4))


def verify(key: Ed25519PublicKey, signature_b64: str, message: bytes) -> bool:
    try:
        key.verify(base64.b64decode(signature_b64, validate=True), message)
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Identity:
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def public_key_text(self) -> str:
        return public_key_text(self.public_key)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key_text)

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.private_key.sign(message)).decode("ascii")

    def __repr__(self) -> str:  # never print key material, even in tracebacks
        return f"Identity(fingerprint={self.fingerprint})"


def create_identity(home: Path) -> Identity:
    identity = write_private_key(home / PRIVATE_KEY_FILE, Ed25519PrivateKey.generate())
    (home / PUBLIC_KEY_FILE).write_text(identity.public_key_text + "\n", encoding="ascii")
    return identity


def write_private_key(private_path: Path, key: Ed25519PrivateKey) -> Identity:
    """Write a new private key file, 0600 from its first byte; never over an existing one."""
    private_path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(private_path.parent, 0o700)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    return Identity(key)


def load_identity(home: Path) -> Identity:
    return load_identity_file(Path(home) / PRIVATE_KEY_FILE)


def load_identity_file(path: Path) -> Identity:
    """A private key file of this node (current or retired), refused if others can read it."""
    if not path.is_file():
        raise ConfigError(f"{path}: missing; this home was not created by `fednode init`")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigError(
            f"{path}: private key is readable by others (mode {mode:o}); run chmod 600 {path}"
        )
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path}: not an Ed25519 private key")
    return Identity(key)
