"""Agreements on a running node: which states share nothing, reading the document and
countersigning it over HTTP, and reloading the agreements folder without a restart."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import re
import tomllib

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.core.identity import Identity
from node.wire.auth import sign_headers
from tests.e2e.conftest import AGREEMENT_ID, AGREEMENT_REF, PURPOSE, Federation, cli
from tests.nodes import running

OCCURRENCES = "gxib-karst-occurrences"


def archive_url(federation: Federation) -> str:
    return f"{federation.gxib.url}/datasets/{OCCURRENCES}/archive"


def signatures_url(federation: Federation) -> str:
    return f"{federation.gxib.url}/agreements/{AGREEMENT_ID}/signatures"


async def signed_status(http: aiohttp.ClientSession, url: str, identity: Identity) -> int:
    """A signed GET declaring an allowed purpose, so only the agreement's state decides."""
    headers = sign_headers("GET", url, identity, purpose=PURPOSE)
    async with http.get(url, headers=headers) as response:
        await response.read()
        return response.status


async def refused(http: aiohttp.ClientSession, url: str, identity: Identity) -> dict[str, str]:
    """A signed GET that must be refused with 403 and the wire's JSON error, not an archive."""
    headers = sign_headers("GET", url, identity, purpose=PURPOSE)
    async with http.get(url, headers=headers) as response:
        assert response.status == 403
        assert response.content_type == "application/json"
        body = dict(await response.json())
    assert set(body) == {"error", "detail"}
    assert body["error"] == "forbidden"
    return body


def gxib_status(federation: Federation) -> dict[str, str]:
    """The agreement as `fednode status --json` on gxib reports it."""
    result = cli("status", "--home", str(federation.gxib.home), "--json")
    assert result.exit_code == 0, result.output
    (agreement,) = json.loads(result.output)["agreements"]
    return dict(agreement)


def with_dates(text: str, valid_from: dt.date, valid_until: dt.date) -> str:
    text = re.sub(r"(?m)^valid_from = .*$", f"valid_from = {valid_from.isoformat()}", text)
    return re.sub(r"(?m)^valid_until = .*$", f"valid_until = {valid_until.isoformat()}", text)


async def post_signature(
    http: aiohttp.ClientSession, federation: Federation, identity: Identity, body: object
) -> tuple[int, dict[str, str]]:
    url = signatures_url(federation)
    async with http.post(url, json=body, headers=sign_headers("POST", url, identity)) as response:
        return response.status, dict(await response.json())


async def test_archive__expired_agreement_shares_nothing(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    today = dt.date.today()
    text = with_dates(
        federation.agreement_text(), today - dt.timedelta(days=400), today - dt.timedelta(days=1)
    )
    federation.install_agreement(text)
    async with running(federation.gxib):
        await refused(http, archive_url(federation), federation.vnmn.identity)
    assert gxib_status(federation)["status"] == "expired"


async def test_archive__agreement_awaiting_a_signature_shares_nothing(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    federation.install_agreement(federation.agreement_text(), signers=("gxib",))
    async with running(federation.gxib):
        await refused(http, archive_url(federation), federation.vnmn.identity)
    state = gxib_status(federation)
    assert state["status"] == "awaiting signature"
    assert state["awaiting"] == ["vnmn"]


@pytest.mark.parametrize(
    ("signed", "edited"),
    [
        ("grid_degrees = 0.1", "grid_degrees = 0.01"),
        ('withhold = ["recordedBy", "recordNumber"]', 'withhold = ["recordedBy"]'),
        (
            'datasets = ["vnmn-karst-occurrences"]',
            'datasets = ["vnmn-karst-occurrences", "vnmn-karst-extra"]',
        ),
    ],
    ids=["finer-grid", "fewer-fields-withheld", "dataset-added"],
)
async def test_archive__tampered_agreement_shares_nothing_and_status_says_why(
    federation: Federation, http: aiohttp.ClientSession, signed: str, edited: str
) -> None:
    path = federation.agreement_path("gxib")
    text = path.read_text(encoding="utf-8")
    assert text.count(signed) == 1
    path.write_text(text.replace(signed, edited), encoding="utf-8")
    async with running(federation.gxib):
        await refused(http, archive_url(federation), federation.vnmn.identity)
        async with http.get(f"{federation.gxib.url}/datasets") as anonymous:
            assert (await anonymous.json())["datasets"] == []
    assert gxib_status(federation)["status"] == "tampered"
    shown = cli("status", "--home", str(federation.gxib.home))
    assert shown.exit_code == 0, shown.output
    assert f"{AGREEMENT_REF}: tampered" in shown.output
    assert "changed after signing" in shown.output


async def test_agreement__document_shown_to_a_party_only(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    url = f"{federation.gxib.url}/agreements/{AGREEMENT_ID}"
    async with running(federation.gxib):
        headers = sign_headers("GET", url, federation.vnmn.identity)
        async with http.get(url, headers=headers) as response:
            assert response.status == 200
            assert response.content_type == "application/toml"
            body = await response.read()
        async with http.get(url) as unsigned:
            assert unsigned.status == 401
            assert set(await unsigned.json()) == {"error", "detail"}
        stranger = Identity(Ed25519PrivateKey.generate())
        async with http.get(url, headers=sign_headers("GET", url, stranger)) as response:
            assert response.status == 403
    assert body == federation.agreement_path("gxib").read_bytes()
    assert set(tomllib.loads(body.decode())["signatures"]) == {"gxib", "vnmn"}


async def test_agreement__signature_made_for_another_node_is_401(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    # A request vnmn signed for another node, re-sent to gxib under that node's Host: gxib
    # must not show the document to whoever relays it.
    path = f"/agreements/{AGREEMENT_ID}"
    elsewhere = "127.0.0.1:1"
    headers = sign_headers("GET", f"http://{elsewhere}{path}", federation.vnmn.identity)
    relayed = {**headers, "Host": elsewhere}
    async with running(federation.gxib), http.get(federation.gxib.url + path, headers=relayed) as r:
        assert r.status == 401
        body = await r.json()
    assert body["error"] == "unauthenticated"
    assert "not this node" in body["detail"]


async def test_agreement__countersignature_over_http_activates_it(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    federation.install_agreement(federation.agreement_text(), signers=("gxib",))
    held = federation.agreement_path("gxib").read_bytes()
    stranger = Identity(Ed25519PrivateKey.generate())
    # A signature over other bytes: what a peer holding another text would send.
    forged = base64.b64encode(federation.vnmn.identity.private_key.sign(b"other text")).decode()
    async with running(federation.gxib):
        status, body = await post_signature(
            http, federation, stranger, {"party": "vnmn", "version": 1, "signature": forged}
        )
        assert (status, body["error"]) == (403, "forbidden")
        status, body = await post_signature(
            http,
            federation,
            federation.vnmn.identity,
            {"party": "vnmn", "version": 1, "signature": forged},
        )
        assert (status, body["error"]) == (422, "invalid_agreement")
        assert "does not verify" in body["detail"]
        status, body = await post_signature(
            http,
            federation,
            federation.vnmn.identity,
            {"party": "gxib", "version": 1, "signature": forged},
        )
        assert (status, body["error"]) == (403, "forbidden")
        status, body = await post_signature(
            http,
            federation,
            federation.vnmn.identity,
            {"party": "vnmn", "version": 2, "signature": forged},
        )
        assert (status, body["error"]) == (422, "invalid_agreement")
        assert federation.agreement_path("gxib").read_bytes() == held
        await refused(http, archive_url(federation), federation.vnmn.identity)

        # `fednode agreement sign --send` runs its own event loop: give it a thread.
        sent = await asyncio.to_thread(
            cli,
            "agreement",
            "sign",
            str(federation.agreement_path("vnmn")),
            "--home",
            str(federation.vnmn.home),
            "--send",
            "gxib",
        )
        assert sent.exit_code == 0, sent.output
        assert "gxib accepted the signature: active" in sent.output
        assert await signed_status(http, archive_url(federation), federation.vnmn.identity) == 200
    gxib_copy = tomllib.loads(federation.agreement_path("gxib").read_text(encoding="utf-8"))
    vnmn_copy = tomllib.loads(federation.agreement_path("vnmn").read_text(encoding="utf-8"))
    assert gxib_copy == vnmn_copy
    assert gxib_status(federation)["status"] == "active"


async def test_agreement__folder_reloads_without_restart(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    path = federation.agreement_path("gxib")
    text = path.read_text(encoding="utf-8")
    url = archive_url(federation)
    async with running(federation.gxib):
        assert await signed_status(http, url, federation.vnmn.identity) == 200
        path.unlink()
        await refused(http, url, federation.vnmn.identity)
        path.write_text(text, encoding="utf-8")
        assert await signed_status(http, url, federation.vnmn.identity) == 200
        # An edit of the same size, made while the node runs, is seen too.
        tampered = text.replace('threat = ["CR", "EN"]', 'threat = ["CR", "VU"]')
        assert len(tampered) == len(text) and tampered != text
        path.write_text(tampered, encoding="utf-8")
        await refused(http, url, federation.vnmn.identity)
