"""The surface GBIF tools and catalogues read, over real HTTP on two published nodes:
landing pages, kept versions, the DCAT feed, the IPT inventory and the RSS channel.

gxib's checklist is made public; its occurrences stay shared with vnmn alone. Whatever a
stranger asks, the occurrences' title, counts and versions never reach it; a partner gets
an older version through its agreement, enforced as the latest is.
"""

from __future__ import annotations

import json
import re

import aiohttp
import pytest
import rdflib
import tomlkit
from rdflib import namespace as ns

from node.core.config import CONFIG_FILE
from node.dwca.reader import open_archive
from node.publish.versions import list_versions
from node.server.api.dataset_page import wants_html
from node.server.api.datasets import feed_language
from node.store.state import connect
from tests.e2e.conftest import Federation, cli
from tests.e2e.test_sharing import signed_get
from tests.nodes import running

PUBLIC = "gxib-karst-checklist"
PARTNER_ONLY = "gxib-karst-occurrences"
PARTNER_ONLY_TITLE = "SYNTHETIC occurrences of Guangxi karst plants"


def _make_public(federation: Federation, dataset_id: str) -> None:
    path = federation.gxib.home / CONFIG_FILE
    document = tomlkit.parse(path.read_text(encoding="utf-8"))
    for entry in document["datasets"]:  # type: ignore[union-attr]
        if entry["id"] == dataset_id:
            entry["public"] = True
    path.write_text(tomlkit.dumps(document), encoding="utf-8")


def _second_version(federation: Federation) -> None:
    """Every gxib dataset gets version 2.0; 1.0 stays kept."""
    result = cli("publish", "--major", "--home", str(federation.gxib.home))
    assert result.exit_code == 0, result.output


@pytest.fixture
def surface(federation: Federation) -> Federation:
    _make_public(federation, PUBLIC)
    _second_version(federation)
    return federation


async def _get(
    http: aiohttp.ClientSession, url: str, federation: Federation, partner: bool, **headers: str
) -> tuple[int, str, bytes]:
    if partner:
        status, got, body = await signed_get(http, url, federation.vnmn.identity, **headers)
        return status, got.get("Content-Type", ""), body
    async with http.get(url, headers=headers) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.read()


def _links(base: str, body: bytes) -> set[str]:
    text = body.decode("utf-8", errors="replace").replace("&amp;", "&")
    return set(re.findall(re.escape(base) + r"""[^\s"'<>]*""", text))


ADVERTISING = ("/datasets", "/rss", "/dcat", "/inventory/dataset", "/", "/.well-known/fednode")


@pytest.mark.parametrize("partner", [False, True], ids=["stranger", "partner"])
async def test_every_link_the_node_advertises_resolves(
    surface: Federation, http: aiohttp.ClientSession, partner: bool
) -> None:
    base = surface.gxib.url
    seen: set[str] = set()
    queue = [base + path for path in ADVERTISING]
    async with running(surface.gxib):
        while queue:
            url = queue.pop()
            if url in seen or "{" in url:  # /.well-known/fednode lists URL templates
                continue
            seen.add(url)
            for accept in ("application/json", "text/html"):
                status, kind, body = await _get(http, url, surface, partner, Accept=accept)
                assert status != 404, f"{url} ({accept}) is advertised but 404"
                assert status == 200, f"{url}: {status} {body[:200]!r}"
                if "zip" not in kind:
                    queue.extend(_links(base, body) - seen)
    pages = {u for u in seen if re.search(r"/datasets/[^/?]+$", u)}
    old = {u for u in seen if u.endswith("?version=1.0")}
    assert f"{base}/datasets/{PUBLIC}" in pages
    assert f"{base}/datasets/{PUBLIC}/archive?version=1.0" in old
    assert f"{base}/dcat" in seen and f"{base}/inventory/dataset" in seen
    assert (f"{base}/datasets/{PARTNER_ONLY}" in pages) is partner
    assert len(seen) >= (16 if partner else 10)


async def _public_views(
    surface: Federation, http: aiohttp.ClientSession, partner: bool
) -> tuple[bytes, bytes]:
    base = surface.gxib.url
    async with running(surface.gxib):
        dcat_status, kind, dcat = await _get(http, f"{base}/dcat", surface, partner)
        inv_status, _, inventory = await _get(http, f"{base}/inventory/dataset", surface, partner)
    assert (dcat_status, inv_status) == (200, 200)
    assert kind.startswith("text/turtle")
    return dcat, inventory


@pytest.mark.parametrize("partner", [False, True], ids=["stranger", "partner"])
async def test_dcat_and_inventory_list_only_public_datasets(
    surface: Federation, http: aiohttp.ClientSession, partner: bool
) -> None:
    dcat, inventory = await _public_views(surface, http, partner)
    for body in (dcat, inventory):
        text = body.decode("utf-8")
        assert PARTNER_ONLY not in text and PARTNER_ONLY_TITLE not in text
    graph = rdflib.Graph().parse(data=dcat.decode("utf-8"), format="turtle")
    datasets = set(graph.subjects(ns.RDF.type, ns.DCAT.Dataset))
    assert datasets == {rdflib.URIRef(f"{surface.gxib.url}/datasets/{PUBLIC}")}
    (page,) = datasets
    (distribution,) = graph.objects(page, ns.DCAT.distribution)
    assert str(graph.value(distribution, ns.DCAT.downloadURL)).endswith(f"/{PUBLIC}/archive")
    assert str(graph.value(page, ns.DCTERMS.language)) == "zh"
    assert graph.value(distribution, ns.DCTERMS.license) is not None
    (resource,) = json.loads(inventory)["registeredResources"]
    assert resource["type"] == "CHECKLIST" and resource["version"] == "2.0"
    assert resource["dwca"] == f"{surface.gxib.url}/datasets/{PUBLIC}/archive"
    assert (
        resource["records"]
        == resource["recordsByExtension"]["http://rs.tdwg.org/dwc/terms/Taxon"]
        > 0
    )
    assert set(resource) >= {"title", "lastPublished", "eml", "recordsByExtension"}


async def test_the_inventory_counts_every_row_type_of_a_public_archive(
    surface: Federation, http: aiohttp.ClientSession, tmp_path: object
) -> None:
    async with running(surface.gxib):
        _, _, inventory = await _get(
            http, f"{surface.gxib.url}/inventory/dataset", surface, partner=False
        )
        (resource,) = json.loads(inventory)["registeredResources"]
        async with http.get(resource["dwca"]) as response:
            assert response.status == 200
            body = await response.read()
    path = f"{tmp_path}/public.zip"
    with open(path, "wb") as handle:
        handle.write(body)
    with open_archive(path) as archive:
        served = {
            data.row_type: archive.read_table(data).num_rows
            for data in (archive.core, *archive.extensions)
        }
    # The IPT counts each row type the archive holds, the core and every extension.
    assert len(served) > 1 and all(served.values()), served
    assert resource["recordsByExtension"] == served


async def test_with_nothing_public_the_catalogues_are_empty_even_for_a_partner(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    dcat, inventory = await _public_views(federation, http, partner=True)
    graph = rdflib.Graph().parse(data=dcat.decode("utf-8"), format="turtle")
    assert not set(graph.subjects(ns.RDF.type, ns.DCAT.Dataset))
    assert len(set(graph.subjects(ns.RDF.type, ns.DCAT.Catalog))) == 1
    assert json.loads(inventory) == {"registeredResources": []}


def _record_count(body: bytes, tmp: str) -> int:
    path = f"{tmp}/archive.zip"
    with open(path, "wb") as handle:
        handle.write(body)
    with open_archive(path) as archive:
        return archive.read_table().num_rows


async def test_a_partner_gets_a_kept_version_enforced_and_audited(
    surface: Federation, http: aiohttp.ClientSession, tmp_path: object
) -> None:
    base = f"{surface.gxib.url}/datasets/{PARTNER_ONLY}"
    whole = surface.gxib.config
    async with running(surface.gxib):
        old, old_headers, old_body = await signed_get(
            http, f"{base}/archive?version=1.0", surface.vnmn.identity
        )
        new, new_headers, new_body = await signed_get(
            http, f"{base}/archive", surface.vnmn.identity
        )
        eml_status, _, eml = await signed_get(
            http, f"{base}/eml?version=1.0", surface.vnmn.identity
        )
        missing, _, missing_body = await signed_get(
            http, f"{base}/archive?version=1.7", surface.vnmn.identity
        )
        async with http.get(f"{base}/archive?version=1.0") as response:
            stranger, stranger_body = response.status, await response.read()
        async with http.get(f"{base}?version=1.0") as response:
            stranger_page = response.status
    assert (old, new, eml_status) == (200, 200, 200)
    assert old_headers["Fednode-Dataset-Version"] == "1.0"
    assert new_headers["Fednode-Dataset-Version"] == "2.0"
    assert old_headers["Fednode-Agreement"] == new_headers["Fednode-Agreement"]
    assert b"Shared with vnmn under agreement" in eml
    # Enforced like the latest: the same records, and fewer than the dataset holds.
    sent_old = _record_count(old_body, str(tmp_path))
    assert sent_old == _record_count(new_body, str(tmp_path))
    kept = {v.version: v.records for v in list_versions(whole, PARTNER_ONLY)}
    assert set(kept) == {"1.0", "2.0"}
    assert 0 < sent_old < kept["1.0"]
    # An unknown version is the very answer a stranger gets for a dataset not for it.
    assert missing == stranger == stranger_page == 404
    assert json.loads(missing_body)["error"] == json.loads(stranger_body)["error"] == "not_found"
    conn = connect(surface.gxib.home)
    try:
        entries = [
            json.loads(row[0])
            for row in conn.execute("SELECT entry FROM audit WHERE event = 'export'")
        ]
    finally:
        conn.close()
    # The EML leaves no export entry; each archive's entry names the version it carried.
    assert sorted(e["dataset_version"] for e in entries) == ["1.0", "2.0"]
    assert {e["peer"] for e in entries} == {"vnmn"}


async def test_rss_channel_language_is_the_datasets_language(
    surface: Federation, http: aiohttp.ClientSession
) -> None:
    async with running(surface.gxib), http.get(f"{surface.gxib.url}/rss") as response:
        body = await response.text()
    assert "<language>zh</language>" in body
    assert feed_language(["zh", "vi"]) == "en" and feed_language(["vi", "vi"]) == "vi"


def test_content_negotiation_prefers_what_the_client_ranks_higher() -> None:
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    assert wants_html(browser)
    assert not wants_html(None) and not wants_html("*/*")
    assert not wants_html("application/json")
    assert not wants_html("text/html;q=0.5, application/json")
    assert wants_html("application/json;q=0.4, text/html")


def _ids(body: bytes, tmp: str) -> set[str]:
    path = f"{tmp}/ids.zip"
    with open(path, "wb") as handle:
        handle.write(body)
    with open_archive(path) as archive:
        return set(archive.read_table().column("occurrenceID").to_pylist())


async def test_an_older_version_is_enforced_from_its_own_records_not_the_latest(
    federation: Federation, http: aiohttp.ClientSession, tmp_path: object
) -> None:
    url = f"{federation.gxib.url}/datasets/{PARTNER_ONLY}/archive"
    async with running(federation.gxib):
        status, _, first = await signed_get(http, url, federation.vnmn.identity)
    assert status == 200
    sent_then = _ids(first, str(tmp_path))
    source = federation.gxib.home / "sources" / "occurrences.csv"
    lines = source.read_bytes().splitlines(keepends=True)
    source.write_bytes(b"".join(lines[:-300]))  # version 1.1 drops half the records
    result = cli("publish", PARTNER_ONLY, "--home", str(federation.gxib.home))
    assert result.exit_code == 0, result.output
    snapshots = federation.gxib.home / "store" / "cache" / "versions" / PARTNER_ONLY
    (snapshots / "0.9-of-a-pruned-version").mkdir(parents=True)
    async with running(federation.gxib):
        old, headers, old_body = await signed_get(
            http, f"{url}?version=1.0", federation.vnmn.identity
        )
        new, _, new_body = await signed_get(http, url, federation.vnmn.identity)
    assert (old, new, headers["Fednode-Dataset-Version"]) == (200, 200, "1.0")
    assert _ids(old_body, str(tmp_path)) == sent_then  # what 1.0 gave when it was the latest
    assert _ids(new_body, str(tmp_path)) < sent_then
    # One snapshot of 1.0's records is cached; those of versions no longer kept are gone.
    assert [p.name.split("-")[0] for p in snapshots.iterdir()] == ["1.0"]


async def test_a_stranger_cannot_tell_a_partner_only_dataset_from_none(
    surface: Federation, http: aiohttp.ClientSession
) -> None:
    base = f"{surface.gxib.url}/datasets"
    answers = []
    async with running(surface.gxib):
        for dataset in (PARTNER_ONLY, "no-such-dataset"):
            for path in ("", "/v1.0", "/eml?version=1.0", "/archive?version=2.0"):
                for accept in ("text/html", "application/json"):
                    async with http.get(f"{base}/{dataset}{path}", headers={"Accept": accept}) as r:
                        body = (await r.text()).replace(dataset, "ID")
                        answers.append((dataset, r.status, body))
    assert {status for _, status, _ in answers} == {404}
    assert len({body for _, _, body in answers}) == 1
    assert not any(PARTNER_ONLY_TITLE in body for _, _, body in answers)


async def test_the_landing_page_speaks_the_readers_language(
    surface: Federation, http: aiohttp.ClientSession
) -> None:
    url = f"{surface.gxib.url}/datasets/{PUBLIC}"
    async with running(surface.gxib):
        async with http.get(url, headers={"Accept": "text/html", "Accept-Language": "vi"}) as r:
            language, html = r.headers["Content-Language"], await r.text()
        async with http.get(url) as r:
            page = await r.json()
    assert language == "vi" and '<html lang="vi">' in html
    assert "Các phiên bản" in html and "Siêu dữ liệu (EML)" in html
    assert [v["version"] for v in page["versions"]] == ["2.0", "1.0"]
    assert page["versions"][1]["archive"].endswith(f"/{PUBLIC}/archive?version=1.0")
    assert page["versions"][1]["records"] == page["records"] > 0  # public: whole counts
    assert page["abstract"] and page["language"] == "zh"
