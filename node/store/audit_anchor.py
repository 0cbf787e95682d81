"""Signed audit heads: what lets a truncated or rewritten audit log be caught.

The hash chain (node.store.audit) shows an edited entry, but not a log whose newest entries
were cut off, nor one rewritten from some entry on with every later hash recomputed: the
hashes are plain SHA-256, anyone holding the file can recompute them. A *signed head*
closes that gap: the node signs (node id, seq, hash, time) of its newest entry with its
Ed25519 key, so the statement "entry N had hash H" cannot be forged or moved without the
private key. Heads are kept in two places:

- `audit_checkpoints`: the node's own, signed at start-up, hourly, at every export and
  on shutdown. Someone who edits state.sqlite can delete these rows but not change them
  (a changed row fails its signature), so deleting entries after a checkpoint, or
  rewriting an entry it covers, shows;
- `audit_heads_received`: the heads each partner sent with its archives
  (`Fednode-Audit-Head`), verified against that partner's pinned key. A partner asks for
  them back (`GET /audit/heads`, signed) to check its log against copies it cannot
  reach: this catches even a rewrite whose author also deleted every local checkpoint.

The token is `base64url(RFC 8785 JSON) "." base64url(Ed25519 signature)`, the signature
over a fixed prefix and the JSON, so it can never pass for another fednode signature.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from node.core.errors import InvalidInput
from node.core.identity import Identity, parse_public_key, public_key_text
from node.store.audit import AuditHead, AuditLog, VerifyResult
from node.store.state import ensure_schema

SIGNED_PREFIX = b"fednode audit head v1\n"
MAX_TOKEN_CHARS = 1024  # a head is ~250 characters; anything far larger is refused unread
log = logging.getLogger("fednode.audit")

HEADS_SERVED = 1000  # newest heads returned by GET /audit/heads
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS audit_checkpoints (
        id    INTEGER PRIMARY KEY,
        seq   INTEGER NOT NULL,
        hash  TEXT NOT NULL,
        token TEXT NOT NULL UNIQUE
    )""",
    """CREATE TABLE IF NOT EXISTS audit_heads_received (
        id       INTEGER PRIMARY KEY,
        peer     TEXT NOT NULL,
        peer_key TEXT NOT NULL,
        seq      INTEGER NOT NULL,
        token    TEXT NOT NULL,
        received TEXT NOT NULL,
        UNIQUE (peer_key, token)
    )""",
    "CREATE INDEX IF NOT EXISTS audit_heads_received_key ON audit_heads_received (peer_key, seq)",
)


@dataclass(frozen=True)
class SignedHead:
    node: str
    seq: int
    hash: str
    time: str
    token: str

    @property
    def head(self) -> AuditHead:
        return AuditHead(self.seq, self.hash)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64url(text: str) -> bytes:
    if not _B64URL.fullmatch(text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_head(identity: Identity, node_id: str, head: AuditHead, now: dt.datetime) -> SignedHead:
    moment = now.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    payload = rfc8785.dumps({"node": node_id, "seq": head.seq, "hash": head.hash, "time": moment})
    signature = identity.private_key.sign(SIGNED_PREFIX + payload)
    token = f"{_b64url(payload)}.{_b64url(signature)}"
    return SignedHead(node_id, head.seq, head.hash, moment, token)


def open_head(token: str, key: Ed25519PublicKey, node_id: str) -> SignedHead:
    """The head in `token` if `key` signed it for `node_id`; InvalidInput saying why not."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        raise InvalidInput("audit head is not of the form <base64url JSON>.<base64url signature>")
    payload_text, signature_text = token.split(".")
    try:
        payload, signature = _unb64url(payload_text), _unb64url(signature_text)
    except (ValueError, binascii.Error):
        raise InvalidInput("audit head is not base64url") from None
    try:
        key.verify(signature, SIGNED_PREFIX + payload)
    except InvalidSignature:
        raise InvalidInput(
            "audit head signature does not verify: it was forged or altered"
        ) from None
    try:
        content = json.loads(payload)
    except ValueError:
        raise InvalidInput("audit head is signed but is not JSON") from None
    if not isinstance(content, dict) or set(content) != {"node", "seq", "hash", "time"}:
        raise InvalidInput("audit head must hold exactly node, seq, hash and time")
    seq, hash_, moment = content["seq"], content["hash"], content["time"]
    if type(seq) is not int or seq < 0 or not isinstance(hash_, str) or not _SHA256.match(hash_):
        raise InvalidInput("audit head has no valid seq and SHA-256 hash")
    if not isinstance(moment, str):
        raise InvalidInput("audit head has no time")
    if content["node"] != node_id:
        raise InvalidInput(
            f"audit head was signed for node {str(content['node'])[:40]!r}, not {node_id!r}"
        )
    return SignedHead(node_id, seq, hash_, moment, token)


class Checkpoints:
    """This node's signed heads, kept beside the log in state.sqlite."""

    def __init__(self, conn: sqlite3.Connection, identity: Identity, node_id: str) -> None:
        self.conn = conn
        self.identity = identity
        self.node_id = node_id
        ensure_schema(conn, SCHEMA)

    def take(self, log: AuditLog, now: dt.datetime | None = None) -> SignedHead:
        """Sign and keep the log's current head; an unchanged head reuses its last token,
        so a quiet node does not grow the table, and every head handed out is kept here."""
        head = log.head()
        row = self.conn.execute(
            "SELECT token FROM audit_checkpoints WHERE seq = ? AND hash = ? ORDER BY id DESC"
            " LIMIT 1",
            (head.seq, head.hash),
        ).fetchone()
        if row is not None:
            try:
                return open_head(row[0], self.identity.public_key, self.node_id)
            except InvalidInput:
                pass  # tampered with: sign afresh; `verify` reports the bad row
        signed = sign_head(self.identity, self.node_id, head, now or dt.datetime.now(dt.UTC))
        with self.conn:
            self.conn.execute(
                "INSERT INTO audit_checkpoints (seq, hash, token) VALUES (?, ?, ?)",
                (signed.seq, signed.hash, signed.token),
            )
        return signed

    def tokens(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT token FROM audit_checkpoints ORDER BY id")]


class ReceivedHeads:
    """Heads partners sent with their archives, kept to give back to them on request."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        ensure_schema(conn, SCHEMA)

    def keep(self, peer_id: str, peer_key: str, token: str) -> SignedHead:
        """Verify `token` against the peer's pinned key and keep it; InvalidInput if bad."""
        key = parse_public_key(peer_key)
        signed = open_head(token, key, peer_id)
        self._warn_if_inconsistent(peer_id, key, signed)
        received = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        with self.conn:
            self.conn.execute(
                "INSERT OR IGNORE INTO audit_heads_received"
                " (peer, peer_key, seq, token, received) VALUES (?, ?, ?, ?, ?)",
                (peer_id, _normal_key(peer_key), signed.seq, token, received),
            )
        return signed

    def _warn_if_inconsistent(
        self, peer_id: str, key: Ed25519PublicKey, signed: SignedHead
    ) -> None:
        """Say so when a partner's heads contradict each other: its log went back, or the
        same entry has two hashes. The data is still the partner's to send, so this warns
        (and keeps the evidence) rather than refusing the archive."""
        normal = public_key_text(key)
        row = self.conn.execute(
            "SELECT max(seq) FROM audit_heads_received WHERE peer_key = ?", (normal,)
        ).fetchone()
        if row[0] is not None and signed.seq < row[0]:
            log.warning(
                "%s's audit log went back from entry %d to %d: entries were deleted there",
                peer_id,
                row[0],
                signed.seq,
            )
        same = self.conn.execute(
            "SELECT token FROM audit_heads_received WHERE peer_key = ? AND seq = ?",
            (normal, signed.seq),
        )
        for (held,) in same:
            if open_head(held, key, peer_id).hash != signed.hash:
                log.warning(
                    "%s signed two different hashes for audit entry %d: its log was rewritten",
                    peer_id,
                    signed.seq,
                )
                return

    def for_key(self, key: str, limit: int = HEADS_SERVED) -> list[str]:
        """The newest heads received from the holder of `key`, highest seq first."""
        rows = self.conn.execute(
            "SELECT token FROM audit_heads_received WHERE peer_key = ?"
            " ORDER BY seq DESC, id DESC LIMIT ?",
            (_normal_key(key), limit),
        )
        return [r[0] for r in rows]


def _normal_key(key: str) -> str:
    return public_key_text(parse_public_key(key))


def verify_anchored(
    log: AuditLog, tokens: Iterable[str], identity: Identity, node_id: str, where: str
) -> VerifyResult:
    """The chain, then every signed head in `tokens` (kept `where`) against it.

    A head that does not verify is tampering; a head beyond the log's end is truncation;
    a head whose hash differs from the entry at its seq is a rewrite. The first problem
    found is reported, the chain's own before the heads'.
    """
    chain = log.verify()
    if not chain.ok:
        return chain
    heads: list[SignedHead] = []
    for number, token in enumerate(tokens, start=1):
        try:
            heads.append(open_head(token, identity.public_key, node_id))
        except InvalidInput as exc:
            return VerifyResult(
                False,
                chain.entries,
                None,
                f"Signed head #{number} {where} is not genuine ({exc.detail}): "
                "someone tampered with the checkpoints.",
            )
    # Oldest first: the first head that disagrees bounds the rewrite most tightly.
    for signed in sorted(heads, key=lambda h: h.seq):
        result = log.check_head(signed.head, f"the head signed {signed.time} {where}")
        if not result.ok:
            return result
    newest = max((h.seq for h in heads), default=0)
    # Entries after the newest head are covered by nothing yet: say so, without failing
    # (every append would otherwise be a failure until the next checkpoint).
    uncovered = chain.entries - newest
    note = f"; entries after {newest} are not covered yet" if uncovered > 0 else ""
    return VerifyResult(
        True,
        chain.entries,
        None,
        f"{chain.message[:-1]}; {len(heads)} signed head(s) {where} agree{note}.",
    )
