"""Purpose restriction over real HTTP: a request declares
its purpose in the signed `Fednode-Purpose` header, a flow that lists `purposes` grants only
those, every refusal is audited, and every export names the purpose it was made for.

The demo agreement's flow #1 (gxib -> vnmn, the occurrences) allows research and
conservation; flow #2 (gxib -> vnmn, the checklist) lists no purposes.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import tomlkit

from harvesters.runs import RunLog
from node.core.config import CONFIG_FILE, load_config
from node.core.constants import PURPOSE_HEADER
from node.demo import GPL_URL
from node.wire.auth import sign_headers
from tests.e2e.conftest import AGREEMENT_REF, PURPOSE, Federation, cli
from tests.nodes import TestNode, make_node, running

OCCURRENCES = "gxib-karst-occurrences"  # flow #1: purposes research, conservation
CHECKLIST = "gxib-karst-checklist"  # flow #2: no purposes
FLOW_1_PURPOSES = "flow #1 gxib -> vnmn allows purposes research, conservation"


def archive_url(federation: Federation, dataset: str = OCCURRENCES) -> str:
    return f"{federation.gxib.url}/datasets/{dataset}/archive"


async def get(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str]
) -> tuple[int, dict[str, Any] | bytes]:
    """Status and body: the JSON error for a refusal, the archive bytes otherwise."""
    async with http.get(url, headers=headers) as response:
        if response.content_type == "application/json":
            return response.status, dict(await response.json())
        return response.status, await response.read()


def audit(node: TestNode, event: str) -> list[dict[str, Any]]:
    """`fednode audit --json --event EVENT`, oldest first."""
    result = cli("audit", "--home", str(node.home), "--json", "--event", event)
    assert result.exit_code == 0, result.output
    return sorted(json.loads(result.output), key=lambda entry: entry["seq"])


def set_peer_purpose(node: TestNode, peer_id: str, purpose: str) -> None:
    """Edit `purpose` of one [[peers]] block, as an administrator would in node.toml."""
    path = node.home / CONFIG_FILE
    document = tomlkit.parse(path.read_text(encoding="utf-8"))
    for peer in document["peers"]:  # type: ignore[union-attr]
        if peer["id"] == peer_id:
            peer["purpose"] = purpose
    path.write_text(tomlkit.dumps(document), encoding="utf-8")


@pytest.mark.parametrize("purpose", ["research", "conservation"])
async def test_archive__allowed_purpose_is_served_and_audited(
    federation: Federation, http: aiohttp.ClientSession, purpose: str
) -> None:
    url = archive_url(federation)
    headers = sign_headers("GET", url, federation.vnmn.identity, purpose=purpose)
    assert headers[PURPOSE_HEADER] == purpose
    async with running(federation.gxib):
        status, body = await get(http, url, headers)
    assert status == 200, body
    (export,) = audit(federation.gxib, "export")
    assert (export["peer"], export["agreement"], export["dataset"]) == (
        "vnmn",
        AGREEMENT_REF,
        OCCURRENCES,
    )
    assert export["detail"] == f"purpose: {purpose}"
    shown = cli("audit", "--home", str(federation.gxib.home))
    assert shown.exit_code == 0, shown.output
    assert f"purpose: {purpose}" in shown.output
    assert cli("audit", "verify", "--home", str(federation.gxib.home)).exit_code == 0


@pytest.mark.parametrize(
    ("purpose", "declared"),
    [(None, "none"), ("commercial", "'commercial'")],
    ids=["undeclared", "not-allowed"],
)
async def test_archive__purpose_the_flow_does_not_list_is_403_and_audited(
    federation: Federation, http: aiohttp.ClientSession, purpose: str | None, declared: str
) -> None:
    url = archive_url(federation)
    headers = sign_headers("GET", url, federation.vnmn.identity, purpose=purpose)
    async with running(federation.gxib):
        status, body = await get(http, url, headers)
        eml_url = f"{federation.gxib.url}/datasets/{OCCURRENCES}/eml"
        eml_headers = sign_headers("GET", eml_url, federation.vnmn.identity, purpose=purpose)
        eml_status, _ = await get(http, eml_url, eml_headers)
    assert status == 403
    assert isinstance(body, dict) and body["error"] == "forbidden"
    assert body["detail"].startswith(f"{FLOW_1_PURPOSES}; this request declares {declared}")
    assert PURPOSE_HEADER in body["detail"], "says how to declare one"
    assert eml_status == 403, "the flow's EML comes from the archive it would not send"
    assert audit(federation.gxib, "export") == []
    denied = audit(federation.gxib, "denied")
    assert [(d["peer"], d["agreement"], d["dataset"]) for d in denied] == [
        ("vnmn", AGREEMENT_REF, OCCURRENCES)
    ] * 2
    assert denied[0]["detail"] == body["detail"]


@pytest.mark.parametrize("sent", ["conservation", "commercial"])
async def test_archive__purpose_altered_after_signing_is_401(
    federation: Federation, http: aiohttp.ClientSession, sent: str
) -> None:
    url = archive_url(federation)
    headers = sign_headers("GET", url, federation.vnmn.identity, purpose="research")
    headers[PURPOSE_HEADER] = sent
    async with running(federation.gxib):
        status, body = await get(http, url, headers)
    assert status == 401
    assert isinstance(body, dict) and body["error"] == "unauthenticated"
    assert "bad request signature" in body["detail"]
    assert audit(federation.gxib, "export") == []


async def test_archive__purpose_header_the_signature_does_not_cover_is_401(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    # Signed without a purpose, one added on the way: the signature no longer vouches for
    # everything that decides the grant.
    url = archive_url(federation)
    headers = {**sign_headers("GET", url, federation.vnmn.identity), PURPOSE_HEADER: "research"}
    async with running(federation.gxib):
        status, body = await get(http, url, headers)
    assert status == 401
    assert isinstance(body, dict)
    assert '"fednode-purpose" was not covered' in body["detail"]


async def test_archive__malformed_purpose_is_400(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    url = archive_url(federation)
    async with running(federation.gxib):
        status, body = await get(http, url, {PURPOSE_HEADER: "research, commercial"})
    assert status == 400
    assert isinstance(body, dict)
    assert "must be one lower-case word" in body["detail"]


@pytest.mark.parametrize("purpose", [None, "commercial", "research"])
async def test_archive__flow_without_purposes_accepts_any_or_none(
    federation: Federation, http: aiohttp.ClientSession, purpose: str | None
) -> None:
    url = archive_url(federation, CHECKLIST)
    headers = sign_headers("GET", url, federation.vnmn.identity, purpose=purpose)
    async with running(federation.gxib):
        status, body = await get(http, url, headers)
    assert status == 200, body
    (export,) = audit(federation.gxib, "export")
    assert export["dataset"] == CHECKLIST
    assert export["detail"] == (f"purpose: {purpose}" if purpose else None)


async def test_archive__flow_without_purposes_after_the_agreement_drops_them(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    text = federation.agreement_text()
    assert text.count('purposes = ["research", "conservation"]\n') == 2
    federation.install_agreement(text.replace('purposes = ["research", "conservation"]\n', ""))
    url = archive_url(federation)
    async with running(federation.gxib):
        undeclared, _ = await get(http, url, sign_headers("GET", url, federation.vnmn.identity))
        other = sign_headers("GET", url, federation.vnmn.identity, purpose="commercial")
        declared, _ = await get(http, url, other)
    assert (undeclared, declared) == (200, 200)


async def test_archive__public_flow_checks_an_anonymous_declared_purpose(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    public_flow = f"""
[[flows]]
from = "gxib"
to = "public"
datasets = ["{CHECKLIST}"]
licence = "{GPL_URL}"
attribution = "Guangxi Institute of Botany (GXIB)"
purposes = ["conservation"]

[signatures]
"""
    text = federation.agreement_text().replace("\n[signatures]\n", public_flow)
    federation.install_agreement(text)
    url = archive_url(federation, CHECKLIST)
    async with running(federation.gxib):
        allowed, _ = await get(http, url, {PURPOSE_HEADER: "conservation"})
        undeclared, none_body = await get(http, url, {})
        wrong, wrong_body = await get(http, url, {PURPOSE_HEADER: "research"})
    assert allowed == 200
    assert (undeclared, wrong) == (403, 403)
    assert isinstance(none_body, dict) and isinstance(wrong_body, dict)
    assert none_body["detail"].startswith(
        "flow #5 gxib -> public allows purposes conservation; this request declares none"
    )
    assert "declares 'research'" in wrong_body["detail"]
    (export,) = audit(federation.gxib, "export")
    assert (export["peer"], export["detail"]) == ("anonymous", "purpose: conservation")
    denied = audit(federation.gxib, "denied")
    assert [d["peer"] for d in denied] == ["127.0.0.1"] * 2  # first in full, then a summary
    assert sum(d["counts"]["refused.purpose"] for d in denied) == 2


async def harvest_gxib(federation: Federation) -> tuple[int, str, dict[str, Any]]:
    """`fednode harvest gxib` on vnmn (in a thread: it runs its own event loop)."""
    result = await asyncio.to_thread(cli, "harvest", "gxib", "--home", str(federation.vnmn.home))
    runs = RunLog(federation.vnmn.home)
    try:
        (last,) = runs.last_runs("peer:gxib", limit=1)
    finally:
        runs.close()
    return result.exit_code, result.output, last


async def test_harvest__sends_the_configured_purpose(federation: Federation) -> None:
    assert federation.vnmn.config.peer("gxib").purpose == PURPOSE
    set_peer_purpose(federation.vnmn, "gxib", "conservation")
    async with running(federation.gxib):
        exit_code, output, last = await harvest_gxib(federation)
    assert exit_code == 0, output
    assert (last["outcome"], last["error"]) == ("ok", "")
    exports = audit(federation.gxib, "export")
    assert {e["dataset"] for e in exports} == {OCCURRENCES, CHECKLIST}
    assert {e["detail"] for e in exports} == {"purpose: conservation"}


async def test_harvest__purpose_the_flow_does_not_list_fails_with_the_reason(
    federation: Federation,
) -> None:
    set_peer_purpose(federation.vnmn, "gxib", "commercial")
    async with running(federation.gxib):
        exit_code, output, last = await harvest_gxib(federation)
    expected = f"{FLOW_1_PURPOSES}; this request declares 'commercial'"
    assert exit_code == 1
    assert expected in output
    assert last["outcome"] == "failed"
    assert expected in str(last["error"])
    assert any(expected in d["detail"] for d in audit(federation.gxib, "denied"))


async def test_peer_add__writes_the_purpose_given(federation: Federation, tmp_path: Path) -> None:
    iebr = make_node(
        tmp_path / "new", "iebr", "Institute of Ecology and Biological Resources", "VN"
    )
    home = str(iebr.home)
    refused = cli("peer", "add", federation.gxib.url, "--purpose", "Commercial use", "--home", home)
    assert refused.exit_code == 1
    assert "--purpose 'Commercial use' must be one lower-case word" in refused.output
    async with running(federation.gxib):
        added = await asyncio.to_thread(
            cli, "peer", "add", federation.gxib.url, "--purpose", "conservation", "--home", home
        )
    assert added.exit_code == 0, added.output
    assert load_config(iebr.home).peer("gxib").purpose == "conservation"
