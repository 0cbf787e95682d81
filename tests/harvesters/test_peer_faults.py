"""Faults a peer harvest must survive.

The peer is `hostile_peer` on a real 127.0.0.1 port, serving real zip files; the harvesting
node is a real home made by `fednode init`, harvesting through `run_source` (the code path
of the daemon's schedule and of `fednode harvest`) or through `fednode harvest` itself in a
child process. After every fault: the run is recorded as failed with the reason in words,
the last good snapshot is still the one the dataset path points to (same rows), and no
half-written snapshot is left beside it.
"""

from __future__ import annotations

import asyncio
import os
import resource
import secrets
import signal
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.core import constants
from node.store.store import PART_NAME, Store, read_parquet
from tests.harvesters.harvesting import ARCHIVE, DATASET, RETRIES, SOURCE, Harvesting
from tests.harvesters.hostile_peer import (
    occurrence_archive,
    occurrence_rows,
    serve,
    zip_bomb,
    zip_slip,
)

ROOT = Path(__file__).resolve().parents[2]


def _cli(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "node", *args, "--home", str(home)]


# -- 1. peer down ---------------------------------------------------------------------
async def test_peer_harvest__peer_down_fails_clearly_and_keeps_last_good(
    harvesting: Harvesting,
) -> None:
    before, snapshot = await harvesting.first_good_harvest()
    await harvesting.peer.stop()

    result = await harvesting.harvest()

    harvesting.assert_failed(result, f"gave up after {RETRIES + 1} attempts", "Cannot connect")
    harvesting.assert_last_good_kept(before, snapshot)


# -- 2. peer dies mid-transfer ---------------------------------------------------------
async def test_peer_harvest__peer_dying_mid_transfer_is_retried_then_fails(
    harvesting: Harvesting,
) -> None:
    before, snapshot = await harvesting.first_good_harvest()
    body = occurrence_archive(occurrence_rows(2_000, start=100))
    harvesting.peer.offer(DATASET, body, cut_after=len(body) // 3)

    result = await harvesting.harvest()

    harvesting.assert_failed(result, "Not enough data to satisfy content length header")
    assert len(harvesting.peer.requests_to(ARCHIVE)) == 1 + RETRIES + 1  # good run + attempts
    harvesting.assert_last_good_kept(before, snapshot)


# -- 3. garbage -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param(b"<html><body><h1>502 Bad Gateway</h1></body></html>\n", id="html-page"),
        pytest.param(b"occurrenceID\tscientificName\nx\tnot an archive\n", id="bare-text"),
        pytest.param(secrets.token_bytes(4096), id="random-bytes"),
    ],
)
async def test_peer_harvest__garbage_body_is_refused_as_not_a_zip(
    harvesting: Harvesting, garbage: bytes
) -> None:
    before, snapshot = await harvesting.first_good_harvest()
    harvesting.peer.offer(DATASET, garbage)  # correctly signed: the peer itself is broken

    result = await harvesting.harvest()

    harvesting.assert_failed(result, DATASET, "not a zip archive", "keeping the last good copy")
    harvesting.assert_last_good_kept(before, snapshot)


# -- 4. zip bomb ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "unpacked_bytes",
    [
        pytest.param(3 * 1024**2, id="member-unpacked"),  # under STREAM_MEMBER_MIN_BYTES
        pytest.param(48 * 1024**2, id="member-streamed"),  # parsed straight from the zip
    ],
)
async def test_peer_harvest__zip_bomb_is_refused_while_unpacking(
    harvesting: Harvesting, unpacked_bytes: int
) -> None:
    before, snapshot = await harvesting.first_good_harvest()
    bomb = zip_bomb(unpacked_bytes)
    assert unpacked_bytes / len(bomb) > constants.MAX_UNPACK_RATIO
    harvesting.peer.offer(DATASET, bomb)

    result = await harvesting.harvest()

    harvesting.assert_failed(result, "refusing a possible zip bomb", "occurrence.txt")
    harvesting.assert_last_good_kept(before, snapshot)


# -- 5. zip slip ----------------------------------------------------------------------
@pytest.mark.parametrize("member", ["../x", "dwca/../../x", "/tmp/x"])
async def test_peer_harvest__zip_slip_member_is_refused(
    harvesting: Harvesting, member: str
) -> None:
    before, snapshot = await harvesting.first_good_harvest()
    harvesting.peer.offer(DATASET, zip_slip(member))

    result = await harvesting.harvest()

    harvesting.assert_failed(result, repr(member), "refusing" if member[0] == "/" else "(..)")
    harvesting.assert_last_good_kept(before, snapshot)


# -- 6. bad signature -----------------------------------------------------------------
@pytest.mark.parametrize("forgery", ["another-key", "other-bytes"])
async def test_peer_harvest__bad_signature_is_refused_before_parsing(
    harvesting: Harvesting, forgery: str
) -> None:
    before, snapshot = await harvesting.first_good_harvest()
    body = zip_slip("../x")  # had it been unpacked, the error would be about this member
    if forgery == "another-key":
        harvesting.peer.offer(DATASET, body, signer=Ed25519PrivateKey.generate())
    else:  # the pinned key, over the archive it served last time
        harvesting.peer.offer(DATASET, body, signed_body=occurrence_archive(occurrence_rows(40)))

    result = await harvesting.harvest()

    expected = (
        "Fednode-Statement does not verify against the key pinned"
        if forgery == "another-key"
        else "does not match the SHA-256 in the peer's signed Fednode-Statement"
    )
    harvesting.assert_failed(result, DATASET, expected, "keeping the last good copy")
    assert "../x" not in result.error
    harvesting.assert_last_good_kept(before, snapshot)


# -- 7. the disk refuses a write halfway ----------------------------------------------
def _token_rows(count: int) -> list[dict[str, str]]:
    """Rows repeating one random token in twelve columns: deflate stores each token once,
    Parquet once per column, so the stored Parquet is about twice the zip's size."""
    copies = (
        "occurrenceID",
        "catalogNumber",
        "recordNumber",
        "fieldNumber",
        "otherCatalogNumbers",
        "organismID",
        "materialSampleID",
        "eventID",
        "fieldNotes",
        "occurrenceRemarks",
        "locality",
        "verbatimLocality",
    )
    rows = occurrence_rows(count, start=10_000)
    for row in rows:
        token = secrets.token_hex(8)
        row.update({term: f"{term[:4]}-{token}" for term in copies})
    return rows


async def test_peer_harvest__disk_write_failing_halfway_keeps_last_good(
    harvesting: Harvesting,
) -> None:
    """Root ignores file modes, so the limit is RLIMIT_FSIZE in the harvesting process: the
    download (about 1.2 MB) fits, the Parquet snapshot (about 2.3 MB) does not."""
    before, snapshot = await harvesting.first_good_harvest()
    body = occurrence_archive(_token_rows(20_000))
    limit = int(len(body) * 1.4)
    harvesting.peer.offer(DATASET, body)

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    process = await asyncio.create_subprocess_exec(
        *_cli(harvesting.node.home, "harvest", "gxib"),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=limit_file_size,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)

    assert process.returncode == 1, stderr.decode()
    assert "File too large" in stdout.decode()
    assert "the last good data is kept" in stderr.decode()
    recorded = harvesting.runs.last_runs(SOURCE, limit=1)[0]
    assert recorded["outcome"] == "failed" and "File too large" in str(recorded["error"])
    harvesting.assert_last_good_kept(before, snapshot)
    # With room again the same archive goes through, and its Parquet is over the old limit:
    # the failed write was the snapshot's, not the download's.
    result = await harvesting.harvest()
    assert (result.outcome, result.records) == ("ok", 20_000)
    assert (harvesting.dataset_path / PART_NAME).stat().st_size > limit
    assert pq.read_metadata(harvesting.dataset_path / PART_NAME).num_rows == 20_000


# -- 8. the node is killed mid-harvest ------------------------------------------------
async def _wait_for_partial_download(home: Path, timeout_s: float = 20) -> Path:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        partial = [p for p in Store(home).tmp().glob("*/dwca.zip") if p.stat().st_size > 0]
        if partial:
            return partial[0]
        await asyncio.sleep(0.05)
    raise TimeoutError("no download started")


async def test_peer_harvest__killed_mid_download_then_restarted(
    harvesting: Harvesting,
) -> None:
    before, snapshot = await harvesting.first_good_harvest()
    body = occurrence_archive(occurrence_rows(20_000, start=1_000))  # about 150 KB
    # 4 KiB every 0.1 s: the whole body would take about 4 s; the kill comes well before.
    harvesting.peer.offer(DATASET, body, chunk_bytes=4 * 1024, chunk_delay_s=0.1)
    process = await asyncio.create_subprocess_exec(
        *_cli(harvesting.node.home, "harvest", "gxib"),
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await harvesting.peer.wait_for_bytes(DATASET, 16 * 1024)
        partial = await _wait_for_partial_download(harvesting.node.home)
        # Meanwhile the daemon's run of the same source is turned away by the OS lock.
        busy = await harvesting.harvest()
        assert (busy.outcome, busy.error) == ("skipped", f"another harvest of {SOURCE} is running")
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()
    assert process.returncode == -signal.SIGKILL
    assert 0 < partial.stat().st_size < len(body)

    harvesting.assert_last_good_kept(before, snapshot)

    harvesting.peer.offer(DATASET, body)  # at full speed again
    restart = await asyncio.create_subprocess_exec(
        *_cli(harvesting.node.home, "harvest", "gxib"),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(restart.communicate(), 60)
    assert restart.returncode == 0, stderr.decode()
    assert stdout.decode().startswith(f"{SOURCE}: ok, 20,000 records")
    stored = read_parquet(harvesting.dataset_path, columns=["occurrenceID"])
    assert stored.column(0)[0].as_py() == "urn:catalog:GXIB:001000"
    assert not partial.parent.exists(), "the killed run's download is cleaned up"
    assert sorted(p.name for p in harvesting.dataset_path.parent.iterdir()) == sorted(
        [os.readlink(harvesting.dataset_path), DATASET]
    )


# -- 9. two harvests of one source at once ---------------------------------------------
async def test_run_source__second_concurrent_harvest_is_skipped_with_a_reason(
    harvesting: Harvesting,
) -> None:
    harvesting.peer.offer(
        DATASET,
        occurrence_archive(occurrence_rows(2_000)),
        chunk_bytes=8 * 1024,
        chunk_delay_s=0.02,
    )

    first, second = await asyncio.gather(harvesting.harvest(), harvesting.harvest())

    assert (first.outcome, first.records) == ("ok", 2_000)
    assert (second.outcome, second.error) == ("skipped", f"another harvest of {SOURCE} is running")
    assert len(harvesting.peer.requests_to(ARCHIVE)) == 1
    assert [r["run_id"] for r in harvesting.runs.last_runs(SOURCE)] == [first.run_id]


# -- 10. 429 storms and 5xx -------------------------------------------------------------
async def test_request_with_retries__429_storm_honours_retry_after_then_fails(
    harvesting: Harvesting,
) -> None:
    before, snapshot = await harvesting.first_good_harvest()
    harvesting.peer.offer(DATASET, occurrence_archive(occurrence_rows(50)))
    harvesting.peer.fail(ARCHIVE, 429, retry_after="1")

    result = await harvesting.harvest()

    harvesting.assert_failed(result, f"{DATASET}: HTTP 429", "on purpose")
    attempts = harvesting.peer.requests_to(ARCHIVE)[1:]
    assert [s.status for s in attempts] == [429] * (RETRIES + 1)
    assert harvesting.waits.asked == [1.0] * RETRIES, "Retry-After: 1 not honoured"
    harvesting.assert_last_good_kept(before, snapshot)


async def test_request_with_retries__5xx_storm_on_the_listing_fails_clearly(
    harvesting: Harvesting,
) -> None:
    before, snapshot = await harvesting.first_good_harvest()
    harvesting.peer.fail("/datasets", 503)

    result = await harvesting.harvest()

    harvesting.assert_failed(result, "/datasets: HTTP 503")
    assert len(harvesting.peer.requests_to("/datasets")) == 2 + RETRIES + 1
    # Back-off doubles per attempt (1 s, then 2 s), half of each step random.
    first, second = harvesting.waits.asked[-RETRIES:]
    assert 0.5 <= first <= 1.0 <= second <= 2.0, harvesting.waits.asked
    harvesting.assert_last_good_kept(before, snapshot)


async def test_request_with_retries__transient_5xx_is_retried_to_success(
    harvesting: Harvesting,
) -> None:
    harvesting.peer.offer(DATASET, occurrence_archive(occurrence_rows(30)))
    harvesting.peer.fail(ARCHIVE, 502, times=1)
    harvesting.peer.fail(ARCHIVE, 500, times=1)

    result = await harvesting.harvest()

    assert (result.outcome, result.records) == ("ok", 30)
    assert [s.status for s in harvesting.peer.requests_to(ARCHIVE)] == [502, 500, 200]


# -- 11. circuit breaker --------------------------------------------------------------
async def test_run_source__circuit_opens_after_repeated_failures_and_closes_on_success(
    harvesting: Harvesting, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(constants, "CIRCUIT_FAILURES", 3)
    monkeypatch.setattr(constants, "HARVEST_RETRIES", 0)
    peer = harvesting.peer
    port = int(peer.url.rsplit(":", 1)[1])
    await peer.stop()

    failures = [await harvesting.harvest() for _ in range(3)]
    resting = await harvesting.harvest()

    assert [r.outcome for r in failures] == ["failed"] * 3
    assert all("Cannot connect" in r.error for r in failures)
    assert resting.outcome == "skipped"
    assert resting.error == "3 failures in a row; resting for 60 min before trying again"
    assert harvesting.runs.last_runs(SOURCE, limit=1)[0]["outcome"] == "skipped"
    assert harvesting.runs.circuit_open(SOURCE)

    # Once the rest is over the next run goes through, and one success closes the circuit.
    monkeypatch.setattr(constants, "CIRCUIT_OPEN_S", 0)
    peer.offer(DATASET, occurrence_archive(occurrence_rows(10)))
    async with serve(peer, port=port):
        recovered = await harvesting.harvest()
    assert (recovered.outcome, recovered.records) == ("ok", 10)
    assert harvesting.runs.consecutive_failures(SOURCE)[0] == 0
    assert not harvesting.runs.circuit_open(SOURCE)


# -- one broken dataset does not hold back the others -------------------------------------
async def test_peer_harvest__a_broken_dataset_fails_the_run_but_not_its_siblings(
    harvesting: Harvesting,
) -> None:
    harvesting.peer.offer("karst-checklist", zip_slip())
    harvesting.peer.offer(DATASET, occurrence_archive(occurrence_rows(25)))

    result = await harvesting.harvest()

    harvesting.assert_failed(result, "karst-checklist:", "outside the archive")
    assert result.datasets == [DATASET] and result.records == 25
    assert read_parquet(harvesting.dataset_path).num_rows == 25
    assert not Store(harvesting.node.home).harvested("gxib", "karst-checklist").exists()


async def test_request_with_retries__a_long_retry_after_ends_the_run_politely(
    harvesting: Harvesting,
) -> None:
    before, snapshot = await harvesting.first_good_harvest()
    harvesting.peer.fail(ARCHIVE, 503, retry_after="3600")

    result = await harvesting.harvest()

    harvesting.assert_failed(result, "asks to wait 3,600 s", "next scheduled run")
    assert len(harvesting.peer.requests_to(ARCHIVE)) == 2  # the good harvest, then one ask
    harvesting.assert_last_good_kept(before, snapshot)
