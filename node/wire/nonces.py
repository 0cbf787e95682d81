"""Remembers the nonce of every accepted signed request, so that a copy of it is refused.

RFC 9421 leaves replay detection to the verifier, and http-message-signatures does not
track nonces. A nonce needs remembering only while its signature could still pass the
`created` check (SIGNATURE_MAX_AGE_S, plus a margin for clock skew); older entries are
pruned, and `check_and_remember` refuses anything older, so pruning never reopens a window.
The table lives in state.sqlite rather than memory: restarting the node does not forget
what it has seen, and the server and a CLI command sharing the file see the same nonces.
"""

from __future__ import annotations

import sqlite3
import time

from node.core.constants import SIGNATURE_CLOCK_SKEW_S, SIGNATURE_MAX_AGE_S
from node.core.errors import Unauthenticated
from node.core.identity import KEY_PREFIX, fingerprint
from node.store.state import ensure_schema

NONCE_WINDOW_S = SIGNATURE_MAX_AGE_S + SIGNATURE_CLOCK_SKEW_S

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS replay_nonces (
        keyid   TEXT    NOT NULL,
        nonce   TEXT    NOT NULL,
        created INTEGER NOT NULL,
        PRIMARY KEY (keyid, nonce)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS replay_nonces_created ON replay_nonces (created)",
)


class NonceCache:
    """(keyid, nonce) pairs seen within the replay window, persisted in state.sqlite."""

    def __init__(self, conn: sqlite3.Connection, *, window_s: int = NONCE_WINDOW_S) -> None:
        self.conn = conn
        self.window_s = window_s
        ensure_schema(conn, SCHEMA)

    def check_and_remember(
        self, keyid: str, nonce: str, created: int, now: float | None = None
    ) -> None:
        """Record the nonce, or raise `Unauthenticated` if this key already used it.

        The primary key makes the insert the check, so two processes accepting the same
        request at the same moment cannot both succeed.
        """
        now = time.time() if now is None else now
        age_s = int(now - created)
        if age_s > self.window_s:
            raise Unauthenticated(
                f"signature created {age_s} s ago is older than the {self.window_s} s replay "
                "window; sign each request just before sending it",
                reason="stale",
            )
        with self.conn:
            self.prune(now)
            try:
                self.conn.execute(
                    "INSERT INTO replay_nonces (keyid, nonce, created) VALUES (?, ?, ?)",
                    (keyid, nonce, created),
                )
            except sqlite3.IntegrityError:
                raise Unauthenticated(
                    f"nonce {nonce!r} was already used by key {_short(keyid)}: this request is "
                    "a replay; sign every request afresh with a new nonce",
                    reason="replayed",
                ) from None

    def prune(self, now: float | None = None) -> int:
        """Forget nonces whose signatures would now be refused as stale anyway."""
        now = time.time() if now is None else now
        cursor = self.conn.execute(
            "DELETE FROM replay_nonces WHERE created < ?", (int(now) - self.window_s,)
        )
        return cursor.rowcount

    def __len__(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM replay_nonces").fetchone()[0])


def _short(keyid: str) -> str:
    """A key as people compare it: its fingerprint, when the keyid is a key text."""
    if keyid.startswith(KEY_PREFIX):
        try:
            return fingerprint(keyid)
        except ValueError:
            pass
    return repr(keyid[:24])
