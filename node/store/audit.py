"""What left the node, to whom, under which agreement: an append-only, hash-chained log.

Each entry is RFC 8785 canonical JSON (so the bytes hashed are the same in any language)
and carries `hash = sha256(prev_hash || entry)`, `prev_hash` being the hash of the entry
before it (64 zeros for the first). Editing, inserting or deleting a row breaks the chain
at that row, and `verify()` says which. Appends take SQLite's write lock before reading
the head (BEGIN IMMEDIATE), so the server and a CLI command appending at once still build
one line.

The chain cannot show that its newest entries were cut off, nor that the whole tail was
rewritten with fresh hashes by someone holding the file: only a copy of the head kept
elsewhere can. `head()` is that copy (publish it, give it to peers with each export), and
`verify(anchor)` checks the log still contains it, unchanged.
node.store.audit_anchor signs heads, keeps them and checks the log against them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import sqlite3
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import rfc8785

from node.core.errors import InvalidInput
from node.store.state import ensure_schema

GENESIS_HASH = "0" * 64
EXPORT, DENIED, HARVEST, AGREEMENT = "export", "denied", "harvest", "agreement"
_EVENT = re.compile(r"^[a-z][a-z_]{1,31}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS audit (
        seq       INTEGER PRIMARY KEY,
        time      TEXT NOT NULL,
        event     TEXT NOT NULL,
        peer      TEXT,
        entry     TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash      TEXT NOT NULL UNIQUE
    )""",
    "CREATE INDEX IF NOT EXISTS audit_peer ON audit (peer, seq)",
    "CREATE INDEX IF NOT EXISTS audit_time ON audit (time)",
)


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    time: str  # UTC, ISO 8601, `Z`
    event: str
    peer: str | None = None
    agreement: str | None = None  # id@version
    agreement_sha256: str | None = None
    dataset: str | None = None
    dataset_version: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    archive_sha256: str | None = None
    detail: str | None = None
    prev_hash: str = GENESIS_HASH
    hash: str = ""

    def content(self) -> dict[str, Any]:
        """The hashed part: every field but the chain links."""
        fields = asdict(self)
        del fields["prev_hash"], fields["hash"]
        return fields

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_CHAIN_FIELDS = ("prev_hash", "hash")
_CONTENT_FIELDS = tuple(f for f in AuditEntry.__dataclass_fields__ if f not in _CHAIN_FIELDS)


@dataclass(frozen=True)
class AuditHead:
    """The newest entry's position and hash: what to keep elsewhere to detect truncation."""

    seq: int
    hash: str


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    first_bad_seq: int | None
    message: str


def chain_hash(prev_hash: str, canonical_entry: bytes) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical_entry).hexdigest()


def _utc_text(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        raise InvalidInput("audit times must be timezone-aware")
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _check_fields(event: str, counts: Mapping[str, int], hashes: dict[str, str | None]) -> None:
    if not _EVENT.fullmatch(event):
        raise InvalidInput(f"audit event {event!r} must be a short lowercase word, e.g. 'export'")
    for action, count in counts.items():
        if not isinstance(action, str) or type(count) is not int or count < 0:
            raise InvalidInput(f"audit counts: {action!r} -> {count!r} is not a count")
    for name, value in hashes.items():
        if value is not None and not _SHA256.fullmatch(value):
            raise InvalidInput(f"audit {name} {value!r} is not a lowercase hex SHA-256")


class AuditLog:
    """The `audit` table of state.sqlite; use a connection from `node.store.state.connect`."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        ensure_schema(conn, SCHEMA)

    def append(
        self,
        event: str,
        *,
        peer: str | None = None,
        agreement: str | None = None,
        agreement_sha256: str | None = None,
        dataset: str | None = None,
        dataset_version: str | None = None,
        counts: Mapping[str, int] | None = None,
        archive_sha256: str | None = None,
        detail: str | None = None,
        now: dt.datetime | None = None,
    ) -> AuditEntry:
        counts = dict(counts or {})
        _check_fields(
            event, counts, {"agreement_sha256": agreement_sha256, "archive_sha256": archive_sha256}
        )
        moment = _utc_text(now or dt.datetime.now(dt.UTC))
        # The write lock is held from reading the head to inserting after it.
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            head = self.head()
            entry = AuditEntry(
                seq=head.seq + 1,
                time=moment,
                event=event,
                peer=peer,
                agreement=agreement,
                agreement_sha256=agreement_sha256,
                dataset=dataset,
                dataset_version=dataset_version,
                counts=counts,
                archive_sha256=archive_sha256,
                detail=detail,
                prev_hash=head.hash,
            )
            canonical = rfc8785.dumps(entry.content())
            entry = AuditEntry(**{**asdict(entry), "hash": chain_hash(head.hash, canonical)})
            self.conn.execute(
                "INSERT INTO audit (seq, time, event, peer, entry, prev_hash, hash)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.seq,
                    entry.time,
                    event,
                    peer,
                    canonical.decode("utf-8"),
                    head.hash,
                    entry.hash,
                ),
            )
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return entry

    def head(self) -> AuditHead:
        row = self.conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        return AuditHead(0, GENESIS_HASH) if row is None else AuditHead(row[0], row[1])

    def entries(
        self,
        peer: str | None = None,
        since: dt.date | None = None,
        event: str | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Matching entries oldest first; with `limit`, the newest `limit` of them."""
        where: list[str] = []
        args: list[object] = []
        if peer is not None:
            where.append("peer = ?")
            args.append(peer)
        if event is not None:
            where.append("event = ?")
            args.append(event)
        if since is not None:
            if not isinstance(since, dt.datetime):
                since = dt.datetime.combine(since, dt.time(), dt.UTC)
            where.append("time >= ?")
            args.append(_utc_text(since))
        sql = "SELECT entry, prev_hash, hash FROM audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        rows = self.conn.execute(sql, args).fetchall()
        return [_entry(row[0], row[1], row[2]) for row in reversed(rows)]

    def verify(self, anchor: AuditHead | None = None) -> VerifyResult:
        """Recompute the whole chain; the message names the first entry that fails.

        With `anchor` (a head kept elsewhere), also check the log still holds it.
        """
        expected_seq, prev_hash, count = 1, GENESIS_HASH, 0
        rows = self.conn.execute(
            "SELECT seq, time, event, peer, entry, prev_hash, hash FROM audit ORDER BY seq"
        )
        for seq, time, event, peer, text, stored_prev, stored_hash in rows:
            problem = _row_problem(
                expected_seq, prev_hash, seq, time, event, peer, text, stored_prev, stored_hash
            )
            if problem is not None:
                bad_seq = min(seq, expected_seq)
                return VerifyResult(False, count, bad_seq, f"Audit entry {bad_seq} {problem}.")
            expected_seq, prev_hash, count = seq + 1, stored_hash, count + 1
        if anchor is not None:
            kept = self.check_head(anchor, "the copy of the head kept elsewhere")
            if not kept.ok:
                return kept
        return VerifyResult(
            True, count, None, f"The audit log is intact: {count} entries, head {prev_hash[:16]}."
        )

    def check_head(self, anchor: AuditHead, kept: str) -> VerifyResult:
        """Does the log still hold `anchor`, a head recorded earlier and kept as `kept`?

        Meaningful after `verify()` passed: an intact chain whose entry at the anchor's seq
        has another hash was rewritten from there on (hashes recomputed), and one that ends
        before the anchor's seq was cut short.
        """
        count = self.head().seq
        if anchor.seq == 0:
            return VerifyResult(True, count, None, "The log holds the head.")
        row = self.conn.execute("SELECT hash FROM audit WHERE seq = ?", (anchor.seq,)).fetchone()
        if row is None:
            ends = f"ends at entry {count}" if count else "is empty"
            return VerifyResult(
                False,
                count,
                count + 1,
                f"The log {ends} but {kept} shows entry {anchor.seq}: "
                "entries were deleted from the end.",
            )
        if row[0] != anchor.hash:
            return VerifyResult(
                False,
                count,
                anchor.seq,
                f"Audit entry {anchor.seq} differs from {kept}: the log was rewritten at that "
                "entry or before it, with every later hash recomputed.",
            )
        return VerifyResult(True, count, None, "The log holds the head.")


def _entry(text: str, prev_hash: str, hash_: str) -> AuditEntry:
    # Listing a tampered log must still work (that is when people read it), so unknown
    # keys are dropped here; `verify()` is what reports the tampering.
    content = json.loads(text)
    known = {name: content[name] for name in _CONTENT_FIELDS if name in content}
    return AuditEntry(**known, prev_hash=prev_hash, hash=hash_)


def _row_problem(
    expected_seq: int,
    prev_hash: str,
    seq: int,
    time: str,
    event: str,
    peer: str | None,
    text: str,
    stored_prev: str,
    stored_hash: str,
) -> str | None:
    """Why this row breaks the chain, as the end of a sentence; None when it holds."""
    if seq != expected_seq:
        return f"is missing (the log jumps from {expected_seq - 1} to {seq}): entries were deleted"
    if stored_prev != prev_hash:
        return (
            "does not follow the entry before it (its prev_hash differs): an entry before it "
            "was removed, inserted or rewritten"
        )
    try:
        canonical = text.encode("utf-8")
        content = json.loads(text)
        if rfc8785.dumps(content) != canonical:
            return "is not stored in canonical form: it was edited after it was written"
    except (ValueError, rfc8785.CanonicalizationError):
        return "is not valid JSON any more: it was edited after it was written"
    if chain_hash(stored_prev, canonical) != stored_hash:
        return "was edited after it was written: its content no longer matches its hash"
    columns = {"seq": seq, "time": time, "event": event, "peer": peer}
    if any(content.get(name) != value for name, value in columns.items()):
        return "has columns that disagree with its hashed content: the table was edited"
    return None
