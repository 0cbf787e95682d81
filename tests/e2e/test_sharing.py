"""Sharing over real HTTP between two published nodes: what vnmn receives from gxib under
their agreement, and every way a request is refused (README, "Wire protocol"). Archives are
read back with python-dwca-reader and with the node's own reader.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
import sqlite3
import time
from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from dwca.read import DwCAReader
from multidict import CIMultiDict

from agreements.parse import load_agreement
from node.core.constants import (
    PEER_RATE_LIMIT_PER_MIN,
    SIGNATURE_CLOCK_SKEW_S,
    SIGNATURE_HEADER,
    SIGNATURE_MAX_AGE_S,
)
from node.core.identity import Identity, parse_public_key, verify
from node.core.terms import short_name
from node.demo import GPL_URL
from node.dwca.reader import open_archive
from node.store.state import connect
from node.wire.auth import sign_headers
from tests.e2e.conftest import AGREEMENT_REF, PURPOSE, Federation, cli, utc_today
from tests.nodes import running

OCCURRENCES = "gxib-karst-occurrences"
WITHHELD_NOTICE = f"withheld under agreement {AGREEMENT_REF}"


def archive_url(federation: Federation, dataset: str = OCCURRENCES) -> str:
    return f"{federation.gxib.url}/datasets/{dataset}/archive"


def stranger() -> Identity:
    """A node key that no agreement pins."""
    return Identity(Ed25519PrivateKey.generate())


async def signed_get(
    http: aiohttp.ClientSession,
    url: str,
    identity: Identity,
    purpose: str | None = PURPOSE,
    **headers: str,
) -> tuple[int, CIMultiDict[str], bytes]:
    """One harvest-style GET declaring `purpose`, signed just before it is sent."""
    signature = sign_headers("GET", url, identity, purpose=purpose)
    async with http.get(url, headers={**headers, **signature}) as response:
        return response.status, CIMultiDict(response.headers), await response.read()


async def assert_error(response: aiohttp.ClientResponse, status: int, code: str) -> str:
    """The wire's error shape: exactly {"error", "detail"}; returns the detail."""
    assert response.status == status
    assert response.content_type == "application/json"
    body = await response.json()
    assert set(body) == {"error", "detail"}
    assert body["error"] == code
    assert body["detail"]
    return str(body["detail"])


def on_grid(value: float, grid_degrees: float) -> bool:
    cells = value / grid_degrees
    return math.isclose(cells, round(cells), abs_tol=1e-6)


async def test_archive__peer_receives_enforced_signed_archive(
    federation: Federation, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    url = archive_url(federation)
    async with running(federation.gxib):
        status, headers, body = await signed_get(http, url, federation.vnmn.identity)
        assert status == 200, body[:300]
        again, again_headers, again_body = await signed_get(
            http, url, federation.vnmn.identity, **{"If-None-Match": headers["ETag"]}
        )

    assert headers["Content-Type"] == "application/zip"
    assert headers["Fednode-Agreement"] == AGREEMENT_REF
    assert headers["Fednode-Licence"] == GPL_URL  # the data's own licence: GPL-2.0-only
    # The harvester proves the file's origin with the key it pinned for gxib.
    pinned = parse_public_key(federation.vnmn.config.peer("gxib").key)
    digest = hashlib.sha256(body).hexdigest()
    assert verify(pinned, headers[SIGNATURE_HEADER], digest.encode("ascii"))
    assert not verify(pinned, headers[SIGNATURE_HEADER], hashlib.sha256(b"x").hexdigest().encode())
    assert headers["ETag"] == f'"{digest}"'
    assert (again, again_body) == (304, b"")
    assert again_headers["ETag"] == headers["ETag"]

    path = tmp_path / "received.zip"
    path.write_bytes(body)
    with DwCAReader(str(path)) as archive:
        rows = [(row.id, dict(row.data)) for row in archive]
    assert 0 < len(rows) < 600, "the taxa scope drops gxib's orchids"
    values = [{short_name(term): value for term, value in data.items()} for _, data in rows]
    assert {v["family"] for v in values} == {"Gesneriaceae", "Begoniaceae"}
    assert {v["countryCode"] for v in values} == {"CN"}
    assert {v["recordedBy"] for v in values} == {WITHHELD_NOTICE}
    assert {v["recordNumber"] for v in values} == {WITHHELD_NOTICE}
    assert {v["license"] for v in values} == {GPL_URL}
    sensitive = [v for v in values if v["iucnRedListCategory"] in ("CR", "EN")]
    assert sensitive, "the sample has CR/EN records to generalise"
    for record in sensitive:
        assert on_grid(float(record["decimalLatitude"]), 0.1), record
        assert on_grid(float(record["decimalLongitude"]), 0.1), record
        assert "0.1 degrees" in record["dataGeneralizations"]
        assert AGREEMENT_REF in record["dataGeneralizations"]
        assert record["locality"] == ""
    others = [v for v in values if v["iucnRedListCategory"] not in ("CR", "EN")]
    assert any(not on_grid(float(v["decimalLatitude"]), 0.1) for v in others), (
        "records outside the sensitive rule keep their precision"
    )

    # The node's own streaming reader sees the same rows as the reference reader.
    with open_archive(path) as archive:
        table = archive.read_table()
    ours = {row["id"]: row for row in table.to_pylist()}
    assert len(ours) == len(rows)
    for row_id, data in rows:
        mine = ours[row_id]
        for term, value in data.items():
            assert (mine[short_name(term)] or "") == value, (row_id, term)


async def test_datasets__list_shows_exactly_what_the_agreement_grants(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    agreement = load_agreement(federation.agreement_path("gxib"))
    granted = {
        dataset: flow.licence
        for flow in agreement.flows_between("gxib", "vnmn")
        for dataset in flow.datasets
    }
    url = f"{federation.gxib.url}/datasets"
    async with running(federation.gxib):
        status, _, body = await signed_get(http, url, federation.vnmn.identity)
        async with http.get(url) as anonymous:
            anonymous_status, anonymous_body = anonymous.status, await anonymous.json()

    assert status == 200
    listing = json.loads(body)
    assert listing["node"] == "gxib"
    assert {d["id"]: d["licence"] for d in listing["datasets"]} == granted
    assert {d["agreement"] for d in listing["datasets"]} == {AGREEMENT_REF}
    assert (anonymous_status, anonymous_body["datasets"]) == (200, [])


async def test_datasets__narrower_agreement_lists_and_serves_only_its_datasets(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    checklist_flow = re.compile(
        r'\[\[flows\]\]\nfrom = "gxib"\nto = "vnmn"\ndatasets = \["gxib-karst-checklist"\]'
        r".*?(?=\[\[flows\]\])",
        re.S,
    )
    text, removed = checklist_flow.subn("", federation.agreement_text())
    assert removed == 1
    federation.install_agreement(text)
    url = f"{federation.gxib.url}/datasets"
    async with running(federation.gxib):
        status, _, body = await signed_get(http, url, federation.vnmn.identity)
        checklist = archive_url(federation, "gxib-karst-checklist")
        signature = sign_headers("GET", checklist, federation.vnmn.identity, purpose=PURPOSE)
        async with http.get(checklist, headers=signature) as response:
            detail = await assert_error(response, 404, "not_found")
        occurrences, _, _ = await signed_get(
            http, archive_url(federation), federation.vnmn.identity
        )
    assert status == 200
    assert [d["id"] for d in json.loads(body)["datasets"]] == [OCCURRENCES]
    assert "gxib-karst-checklist" in detail
    assert occurrences == 200


async def test_archive__unsigned_request_is_404_like_an_unknown_dataset(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    unknown = archive_url(federation).replace(OCCURRENCES, "no-such-dataset")
    async with running(federation.gxib):
        async with http.get(archive_url(federation)) as response:
            detail = await assert_error(response, 404, "not_found")
        async with http.get(unknown) as response:
            unknown_detail = await assert_error(response, 404, "not_found")
    assert "sign" in detail
    assert detail.replace(OCCURRENCES, "ID") == unknown_detail.replace("no-such-dataset", "ID")


async def test_archive__key_no_agreement_pins_is_403(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    url = archive_url(federation)
    headers = sign_headers("GET", url, stranger())
    async with running(federation.gxib), http.get(url, headers=headers) as response:
        detail = await assert_error(response, 403, "forbidden")
    assert "no agreement pins this key" in detail


async def test_archive__signature_for_another_url_is_401(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    signed_for = archive_url(federation, "gxib-karst-checklist")
    headers = sign_headers("GET", signed_for, federation.vnmn.identity)
    async with running(federation.gxib), http.get(archive_url(federation), headers=headers) as r:
        detail = await assert_error(r, 401, "unauthenticated")
    assert "bad request signature" in detail


async def test_archive__signature_made_for_another_node_is_401(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    # vnmn signed a request for another node; that node re-sends it here under its Host.
    path = f"/datasets/{OCCURRENCES}/archive"
    elsewhere = "127.0.0.1:1"
    headers = sign_headers("GET", f"http://{elsewhere}{path}", federation.vnmn.identity)
    relayed = {**headers, "Host": elsewhere}
    async with running(federation.gxib), http.get(federation.gxib.url + path, headers=relayed) as r:
        detail = await assert_error(r, 401, "unauthenticated")
    assert "not this node" in detail


async def test_archive__head_sends_headers_only_and_records_no_export(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    url = archive_url(federation)
    async with running(federation.gxib):
        signed = sign_headers("HEAD", url, federation.vnmn.identity, purpose=PURPOSE)
        async with http.head(url, headers=signed) as r:
            head_status, head_headers, head_body = r.status, CIMultiDict(r.headers), await r.read()
        # The connection is still usable: no stray body bytes followed the headers.
        status, headers, body = await signed_get(http, url, federation.vnmn.identity)
    assert (head_status, head_body) == (200, b"")
    assert head_headers["ETag"] == headers["ETag"]
    assert int(head_headers["Content-Length"]) == len(body)
    assert head_headers["Fednode-Agreement"] == AGREEMENT_REF
    assert status == 200
    conn = connect(federation.gxib.home)
    try:
        exports = conn.execute("SELECT count(*) FROM audit WHERE event = 'export'").fetchone()[0]
    finally:
        conn.close()
    assert exports == 1, "only the GET sent the archive"


async def test_archive__replayed_signature_is_401_even_after_restart(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    url = archive_url(federation)
    first = sign_headers("GET", url, federation.vnmn.identity, purpose=PURPOSE)
    second = sign_headers("GET", url, federation.vnmn.identity, purpose=PURPOSE)
    async with running(federation.gxib):
        async with http.get(url, headers=first) as response:
            assert response.status == 200
            await response.read()
        async with http.get(url, headers=first) as response:
            detail = await assert_error(response, 401, "unauthenticated")
            assert "replay" in detail
        async with http.get(url, headers=second) as response:
            assert response.status == 200
            await response.read()
    # The nonces live in state.sqlite: a restarted node still knows them.
    async with running(federation.gxib):
        async with http.get(url, headers=second) as response:
            detail = await assert_error(response, 401, "unauthenticated")
            assert "replay" in detail
        status, _, _ = await signed_get(http, url, federation.vnmn.identity)
        assert status == 200


@pytest.mark.parametrize(
    ("offset_s", "reason"),
    [
        (-SIGNATURE_MAX_AGE_S - 60, f"more than the {SIGNATURE_MAX_AGE_S} s allowed"),
        (SIGNATURE_CLOCK_SKEW_S + 120, "in the future"),
    ],
    ids=["stale", "future"],
)
async def test_archive__created_outside_the_window_is_401(
    federation: Federation, http: aiohttp.ClientSession, offset_s: int, reason: str
) -> None:
    url = archive_url(federation)
    created = int(time.time()) + offset_s
    headers = sign_headers("GET", url, federation.vnmn.identity, created=created)
    async with running(federation.gxib), http.get(url, headers=headers) as response:
        detail = await assert_error(response, 401, "unauthenticated")
    assert reason in detail


async def test_audit__chain_verifies_lists_per_peer_and_names_an_edited_entry(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    url = archive_url(federation)
    async with running(federation.gxib):
        status, headers, _ = await signed_get(http, url, federation.vnmn.identity)
        assert status == 200
        status, _, _ = await signed_get(
            http, url, federation.vnmn.identity, **{"If-None-Match": headers["ETag"]}
        )
        assert status == 304
        checklist = archive_url(federation, "gxib-karst-checklist")
        status, _, _ = await signed_get(http, checklist, federation.vnmn.identity)
        assert status == 200
        async with http.get(url) as response:
            assert response.status == 404
        status, _, _ = await signed_get(http, url, stranger())
        assert status == 403
    home = str(federation.gxib.home)

    verified = cli("audit", "verify", "--home", home)
    assert verified.exit_code == 0, verified.output
    assert "intact" in verified.output

    listed = cli(
        "audit", "--home", home, "--peer", "vnmn", "--since", utc_today().isoformat(), "--json"
    )
    assert listed.exit_code == 0, listed.output
    entries = json.loads(listed.output)
    assert {e["peer"] for e in entries} == {"vnmn"}
    exports = [e for e in entries if e["event"] == "export"]
    assert {e["dataset"] for e in exports} == {OCCURRENCES, "gxib-karst-checklist"}
    assert all(e["agreement"] == AGREEMENT_REF for e in exports)
    everything = cli("audit", "--home", home, "--json")
    refusals = {
        (e["peer"], *e["counts"]) for e in json.loads(everything.output) if e["event"] == "denied"
    }
    # Unverified requests are known by their address, never by a key they claim.
    assert refusals == {("127.0.0.1", "refused.withheld"), ("127.0.0.1", "refused.unknown_key")}
    text = cli("audit", "--home", home, "--peer", "vnmn", "--since", utc_today().isoformat())
    lines = text.output.splitlines()
    assert len(lines) == len(entries)
    assert all(line.split()[3] == "vnmn" for line in lines), lines

    # Someone with the file lowers a count in one export entry.
    export = next(e for e in exports if e["dataset"] == OCCURRENCES)
    sent = export["counts"]["sent"]
    with sqlite3.connect(federation.gxib.home / "state.sqlite") as db:
        (entry,) = db.execute("SELECT entry FROM audit WHERE seq = ?", (export["seq"],)).fetchone()
        edited = entry.replace(f'"sent":{sent}', f'"sent":{sent - 1}')
        assert edited != entry
        db.execute("UPDATE audit SET entry = ? WHERE seq = ?", (edited, export["seq"]))
    db.close()
    broken = cli("audit", "verify", "--home", home)
    assert broken.exit_code == 1
    assert f"Audit entry {export['seq']} " in broken.output


async def test_ratelimit__peer_over_its_limit_gets_429_with_retry_after(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    url = f"{federation.gxib.url}/datasets"
    accepted = 0
    async with running(federation.gxib):
        # The bucket holds a minute's allowance and refills while we spend it.
        for _ in range(PEER_RATE_LIMIT_PER_MIN * 2):
            headers = sign_headers("GET", url, federation.vnmn.identity)
            async with http.get(url, headers=headers) as response:
                if response.status == 429:
                    retry_after = response.headers["Retry-After"]
                    detail = await assert_error(response, 429, "rate_limited")
                    break
                assert response.status == 200
                accepted += 1
        else:
            raise AssertionError(f"{accepted} requests and never rate limited")
        async with http.get(url) as anonymous:
            assert anonymous.status == 200, "other callers are not held back"
    assert accepted >= PEER_RATE_LIMIT_PER_MIN
    assert int(retry_after) >= 1
    assert "requests a minute" in detail


async def test_audit__export_counts_match_the_archive_sent(
    federation: Federation, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    url = archive_url(federation)
    async with running(federation.gxib):
        status, _, body = await signed_get(http, url, federation.vnmn.identity)
    assert status == 200
    path = tmp_path / "received.zip"
    path.write_bytes(body)
    with DwCAReader(str(path)) as archive:
        records = sum(1 for _ in archive)
    conn = connect(federation.gxib.home)
    try:
        rows = conn.execute(
            "SELECT entry FROM audit WHERE event = 'export' ORDER BY seq"
        ).fetchall()
    finally:
        conn.close()
    (entry,) = [json.loads(row[0]) for row in rows]
    assert entry["peer"] == "vnmn"
    assert entry["agreement"] == AGREEMENT_REF
    assert entry["archive_sha256"] == hashlib.sha256(body).hexdigest()
    assert entry["counts"]["sent"] == records
    assert entry["counts"]["generalised"] > 0
    assert dt.datetime.fromisoformat(entry["time"]).date() == utc_today()
