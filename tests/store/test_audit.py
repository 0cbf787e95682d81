"""The audit log: what left the node, chained so that any later edit shows."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from pathlib import Path

import pytest
import rfc8785

from node.core.errors import InvalidInput
from node.store import state
from node.store.audit import GENESIS_HASH, AuditLog

AGREEMENT_SHA = hashlib.sha256(b"gxib-vnmn v3").hexdigest()
ARCHIVE_SHA = hashlib.sha256(b"dwca.zip").hexdigest()


def fill(log: AuditLog) -> None:
    """Five entries in the shape the node writes them."""
    log.append("agreement", peer="vnmn", agreement="gxib-vnmn@3", agreement_sha256=AGREEMENT_SHA)
    for version in ("1.0", "1.1"):
        log.append(
            "export",
            peer="vnmn",
            agreement="gxib-vnmn@3",
            agreement_sha256=AGREEMENT_SHA,
            dataset="gxib-karst-flora",
            dataset_version=version,
            counts={"shared": 1200, "generalised": 31, "withheld": 4},
            archive_sha256=ARCHIVE_SHA,
        )
    log.append("denied", peer="ed25519:unknown", detail="no agreement pins this key")
    log.append("harvest", peer="vnmn", dataset="vnmn-limestone-orchids", counts={"records": 88})


@pytest.fixture
def log(tmp_path: Path) -> AuditLog:
    audit = AuditLog(state.connect(tmp_path))
    fill(audit)
    return audit


def test_audit_log__untouched_chain_verifies(log):
    result = log.verify()
    assert result.ok
    assert (result.entries, result.first_bad_seq) == (5, None)
    assert "intact: 5 entries" in result.message


def test_audit_log__entries_are_canonical_json_chained_by_sha256(log):
    rows = log.conn.execute("SELECT entry, prev_hash, hash FROM audit ORDER BY seq").fetchall()
    prev = GENESIS_HASH
    for entry, prev_hash, hash_ in rows:
        assert prev_hash == prev
        assert hash_ == hashlib.sha256(prev.encode() + entry.encode()).hexdigest()
        assert rfc8785.dumps(json.loads(entry)) == entry.encode()
        prev = hash_
    export = log.entries(event="export")[0]
    assert export.counts == {"shared": 1200, "generalised": 31, "withheld": 4}
    assert export.time.endswith("Z")


def test_audit_log__edited_json_fails_at_exactly_that_row(log):
    log.conn.execute("UPDATE audit SET entry = replace(entry, '1.1', '9.9') WHERE seq = 3")
    result = log.verify()
    assert not result.ok
    assert result.first_bad_seq == 3
    assert result.message.startswith("Audit entry 3 was edited after it was written")


def test_audit_log__edited_counts_fail_at_exactly_that_row(log):
    log.conn.execute(
        "UPDATE audit SET entry = json_set(entry, '$.counts.withheld', 0) WHERE seq = 2"
    )
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 2)
    assert "Audit entry 2" in result.message


def test_audit_log__edited_row_with_recomputed_hash_breaks_the_next_link(log):
    row = log.conn.execute("SELECT entry, prev_hash FROM audit WHERE seq = 2").fetchone()
    forged = row["entry"].replace('"withheld":4', '"withheld":0')
    forged_hash = hashlib.sha256(row["prev_hash"].encode() + forged.encode()).hexdigest()
    log.conn.execute("UPDATE audit SET entry = ?, hash = ? WHERE seq = 2", (forged, forged_hash))
    result = log.verify()
    assert result.first_bad_seq == 3
    assert "does not follow the entry before it" in result.message


def test_audit_log__edited_query_column_is_detected(log):
    log.conn.execute("UPDATE audit SET peer = 'someone-else' WHERE seq = 4")
    result = log.verify()
    assert result.first_bad_seq == 4
    assert "disagree" in result.message


def test_audit_log__deleted_row_is_detected(log):
    log.conn.execute("DELETE FROM audit WHERE seq = 3")
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 3)
    assert "Audit entry 3 is missing" in result.message


def test_audit_log__deleted_first_row_is_detected(log):
    log.conn.execute("DELETE FROM audit WHERE seq = 1")
    assert log.verify().first_bad_seq == 1


def test_audit_log__cut_tail_is_detected_against_a_kept_head(log):
    kept = log.head()
    log.conn.execute("DELETE FROM audit WHERE seq = 5")
    assert log.verify().ok  # the chain alone cannot see a shorter log...
    result = log.verify(anchor=kept)  # ...a copy of the head kept elsewhere can
    assert (result.ok, result.first_bad_seq) == (False, 5)
    assert "deleted from the end" in result.message


def test_audit_log__rewritten_tail_is_detected_against_a_kept_head(tmp_path):
    log = AuditLog(state.connect(tmp_path))
    fill(log)
    kept = log.head()
    log.conn.execute("DELETE FROM audit")
    fill(log)  # same events again, different times: a plausible, fully re-chained log
    assert log.verify().ok
    assert log.verify(anchor=kept).first_bad_seq == kept.seq


def test_audit_log__concurrent_appends_from_two_connections_stay_linear(tmp_path):
    AuditLog(state.connect(tmp_path))  # create the table before the race
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            log = AuditLog(state.connect(tmp_path))
            start.wait()
            for i in range(60):
                log.append("export", peer=name, dataset="gxib-karst-flora", counts={"shared": i})
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("server", "cli")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    log = AuditLog(state.connect(tmp_path))
    result = log.verify()
    assert result.ok, result.message
    assert result.entries == 120
    assert [e.seq for e in log.entries()] == list(range(1, 121))
    assert {e.peer for e in log.entries()} == {"server", "cli"}


def test_audit_log__chain_continues_after_reopening(tmp_path):
    first = AuditLog(state.connect(tmp_path))
    fill(first)
    first.conn.close()
    again = AuditLog(state.connect(tmp_path))
    entry = again.append("export", peer="vnmn", dataset="gxib-karst-flora")
    assert entry.seq == 6
    assert again.verify().ok


def test_audit_log__entries_filter_by_peer_event_date_and_limit(tmp_path):
    log = AuditLog(state.connect(tmp_path))
    day = dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC)
    for offset, peer in enumerate(["vnmn", "vnmn", "kib", "vnmn"]):
        log.append("export", peer=peer, now=day + dt.timedelta(hours=offset))
    log.append("denied", peer="vnmn", now=day + dt.timedelta(hours=5))

    assert [e.seq for e in log.entries(peer="vnmn")] == [1, 2, 4, 5]
    assert [e.seq for e in log.entries(event="export", peer="vnmn")] == [1, 2, 4]
    assert [e.seq for e in log.entries(since=dt.date(2026, 3, 2))] == [2, 3, 4, 5]
    assert [e.seq for e in log.entries(limit=2)] == [4, 5]
    assert log.entries(peer="vnmn", since=dt.date(2026, 3, 2), limit=1)[0].event == "denied"


def test_audit_log__times_are_utc(tmp_path):
    log = AuditLog(state.connect(tmp_path))
    hanoi = dt.timezone(dt.timedelta(hours=7))
    entry = log.append("export", now=dt.datetime(2026, 3, 2, 8, 0, tzinfo=hanoi))
    assert entry.time == "2026-03-02T01:00:00.000000Z"


@pytest.mark.parametrize(
    "fields",
    [
        {"event": "Export"},
        {"event": "export", "counts": {"shared": -1}},
        {"event": "export", "counts": {"shared": 1.5}},
        {"event": "export", "archive_sha256": "not-a-hash"},
        {"event": "export", "now": dt.datetime(2026, 3, 2, 8, 0)},
    ],
)
def test_audit_log__refuses_malformed_entries(tmp_path, fields):
    log = AuditLog(state.connect(tmp_path))
    with pytest.raises(InvalidInput):
        log.append(**fields)
    assert log.head().seq == 0
