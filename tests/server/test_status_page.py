"""The status page at `GET /`, served by a real node on 127.0.0.1 and read two ways: as
HTML over aiohttp, and as a page Chromium renders (screenshot and DOM).

The node (gxib) has published the Guangxi sample, declares one more dataset whose title
carries markup, pins a partner at a port nothing listens on (its one harvest failed), and
holds three agreements with vnmn: one countersigned by vnmn over HTTP (active), one
awaiting vnmn's signature, one expired. vnmn harvested gxib and an unsigned client was
refused, so the audit log has an agreement, an export and a denial.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import csv
import datetime as dt
import re
import shutil
from dataclasses import dataclass
from html import escape, unescape
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner

from agreements.signing import sign
from node.cli import main
from node.publish.versions import VersionInfo, list_versions
from tests.browser import chromium, png_size, run_headless
from tests.nodes import SAMPLES, add_sample_datasets, free_port, make_node, running
from tests.nodes import TestNode as Node

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CHECKLIST = "gxib-karst-checklist"
OCCURRENCES = "gxib-karst-occurrences"
MARKUP_DATASET = "gxib-orchid-drafts"
MARKUP_TITLE = 'Orchid drafts <script>alert("title")</script> & <b>notes</b>'
TODAY = dt.date.today()
GPL_URL = "https://www.gnu.org/licenses/old-licenses/gpl-2.0.html"


@dataclass(frozen=True)
class Terms:
    id: str
    title: str
    dataset: str
    licence: str
    valid_from: dt.date
    valid_until: dt.date
    signed_by: tuple[str, ...]


YEAR = dt.timedelta(days=365)
ACTIVE = Terms(  # vnmn countersigns it over HTTP while gxib serves
    "gxib-vnmn", "Guangxi - Northern Vietnam karst occurrences", OCCURRENCES,
    "CC-BY-NC-4.0", TODAY - YEAR, TODAY + YEAR, ("gxib",),
)  # fmt: skip
AWAITING = Terms(
    "gxib-vnmn-names", "Guangxi checklist names for VNMN", CHECKLIST,
    GPL_URL, TODAY, TODAY + YEAR, ("gxib",),
)  # fmt: skip
EXPIRED = Terms(
    "gxib-vnmn-pilot", "Karst pilot exchange", OCCURRENCES,
    "CC-BY-NC-4.0", dt.date(2023, 1, 1), dt.date(2024, 12, 31), ("gxib", "vnmn"),
)  # fmt: skip


@dataclass(frozen=True)
class Scene:
    gxib: Node
    vnmn: Node
    dead_url: str  # the pinned partner address nothing answers on
    harvest_output: str  # what `fednode harvest` printed for the failed run
    versions: dict[str, VersionInfo]


def _cli(*args: str | Path, exit_code: int = 0) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == exit_code, result.output
    return result.output


def _agreement(gxib: Node, vnmn: Node, terms: Terms) -> str:
    """The agreement's TOML, signed by the parties `terms` names."""
    text = f"""\
id = "{terms.id}"
version = 1
title = "{terms.title}"
valid_from = {terms.valid_from.isoformat()}
valid_until = {terms.valid_until.isoformat()}

[parties.gxib]
name = "Guangxi Institute of Botany"
url = "{gxib.url}"
key = "{gxib.identity.public_key_text}"

[parties.vnmn]
name = "Vietnam National Museum of Nature"
url = "{vnmn.url}"
key = "{vnmn.identity.public_key_text}"

[[flows]]
from = "gxib"
to = "vnmn"
datasets = ["{terms.dataset}"]
licence = "{terms.licence}"
attribution = "Guangxi Institute of Botany (GXIB)"
purposes = ["research"]

[signatures]
"""
    for party in terms.signed_by:
        text = sign(text, party, (gxib if party == "gxib" else vnmn).identity.private_key)
    return text


async def _traffic(gxib: Node, vnmn: Node, agreement_copy: Path) -> None:
    """While gxib serves: vnmn countersigns and harvests; an unsigned client is refused."""
    async with running(gxib):
        await asyncio.to_thread(
            _cli, "agreement", "sign", agreement_copy, "--home", vnmn.home, "--send", "gxib"
        )
        await asyncio.to_thread(_cli, "harvest", "gxib", "--home", vnmn.home)
        async with aiohttp.ClientSession() as session:
            url = f"{gxib.url}/datasets/{OCCURRENCES}/archive"
            async with session.get(url) as response:
                assert response.status == 404


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Scene:
    root = tmp_path_factory.mktemp("status-page")
    gxib = make_node(root, "gxib", "Guangxi Institute of Botany", "CN")
    vnmn = make_node(root, "vnmn", "Vietnam National Museum of Nature", "VN")
    add_sample_datasets(gxib, "gxib")
    gxib.edit_config(
        datasets=[
            {
                "id": MARKUP_DATASET,
                "title": MARKUP_TITLE,
                "type": "checklist",
                "source": "sources/checklist.csv",
                "mapping": "sources/checklist.mapping.toml",
                "licence": "CC-BY-4.0",
            }
        ]
    )
    for dataset_id in (CHECKLIST, OCCURRENCES):
        _cli("publish", dataset_id, "--home", gxib.home)

    dead_url = f"http://127.0.0.1:{free_port()}"
    gxib.edit_config(
        peers=[
            {
                "id": "vnmn",
                "url": dead_url,
                "key": vnmn.identity.public_key_text,
                "schedule": "every 6h",
            }
        ]
    )
    harvest_output = _cli("harvest", "vnmn", "--home", gxib.home, exit_code=1)
    vnmn.edit_config(
        peers=[
            {
                "id": "gxib",
                "url": gxib.url,
                "key": gxib.identity.public_key_text,
                "schedule": "every 6h",
            }
        ]
    )

    agreements = gxib.home / "agreements"
    agreements.mkdir(exist_ok=True)
    for terms in (ACTIVE, AWAITING, EXPIRED):
        (agreements / f"{terms.id}.toml").write_text(_agreement(gxib, vnmn, terms), "utf-8")
    agreement_copy = vnmn.home / "agreements" / f"{ACTIVE.id}.toml"
    agreement_copy.parent.mkdir(exist_ok=True)
    shutil.copy(agreements / f"{ACTIVE.id}.toml", agreement_copy)

    # The HTTP steps run on their own loop, away from the loop pytest gives each test.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _traffic(gxib, vnmn, agreement_copy)).result()
    versions = {d: list_versions(gxib.config, d)[-1] for d in (CHECKLIST, OCCURRENCES)}
    return Scene(gxib, vnmn, dead_url, harvest_output, versions)


async def _get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, response.content_type, await response.text()


def _text(html: str) -> str:
    """The page's words: tags dropped, entities decoded, whitespace collapsed."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def _gesneriad_names() -> set[str]:
    """Each 苣苔 (gesneriad) of the gxib sample as "<scientific name> <Chinese name>"."""
    with (SAMPLES / "gxib" / "checklist.csv").open(encoding="utf-8", newline="") as f:
        return {
            f"{row['SPECIES_FULL']} {row['SPECIES_CN']}"
            for row in csv.DictReader(f)
            if row["SPECIES_CN"].endswith("苣苔")
        }


def _assert_words(text: str, scene: Scene) -> None:
    """What a member of staff must be able to read on the page, each fact in its row."""
    assert scene.versions[OCCURRENCES].records == 600  # the sample's synthetic occurrences
    for dataset_id, v in scene.versions.items():
        kind = "checklist" if dataset_id == CHECKLIST else "occurrence"
        assert f"{v.title} {dataset_id} {kind} {v.version} {v.records:,} GPL-2.0-only" in text
    assert f"{MARKUP_TITLE} {MARKUP_DATASET} checklist not published" in text
    shown = [name for name in _gesneriad_names() if name in text]
    assert shown, "no gesneriad (苣苔) shown with its Chinese name"

    refused = f"Cannot connect to host {scene.dead_url.removeprefix('http://')}"
    assert refused in scene.harvest_output, scene.harvest_output
    assert (
        f"peer:vnmn {scene.dead_url} every 6h failed "
        "the run failed; the last good data is still in place 0"
    ) in text
    assert refused in text, "the failed run's error is not on the page"

    until = ACTIVE.valid_until.isoformat()
    assert f"{ACTIVE.id}@1 {ACTIVE.title} active active until {until}" in text
    awaiting = "awaiting signature awaiting the signature of vnmn"
    assert f"{AWAITING.id}@1 {AWAITING.title} {awaiting}" in text
    assert f"{EXPIRED.id}@1 {EXPIRED.title} expired expired after 2024-12-31" in text

    assert "agreement vnmn gxib-vnmn@1 countersigned by vnmn" in text
    assert f"export vnmn gxib-vnmn@1 {OCCURRENCES} " in text and "sent 600, total 600" in text
    assert f"denied 127.0.0.1 {OCCURRENCES} " in text  # unverified: known by address
    assert "{" not in text.split("Recent audit entries", 1)[1]  # counts in words, not a dict


async def test_status_page__shows_datasets_sources_agreements_and_audit(scene: Scene) -> None:
    async with running(scene.gxib):
        status, content_type, html = await _get(f"{scene.gxib.url}/")
    assert status == 200 and content_type == "text/html"
    text = _text(html)
    _assert_words(text, scene)
    assert '<span lang="zh">' in html  # Chinese names are marked for the right font
    assert "Guangxi Institute of Botany" in text and scene.gxib.identity.fingerprint in text


async def test_status_page__escapes_markup_in_a_dataset_title(scene: Scene) -> None:
    async with running(scene.gxib):
        _, _, html = await _get(f"{scene.gxib.url}/")
    assert "<script" not in html
    assert "<b>notes" not in html
    assert escape(MARKUP_TITLE) in html
    assert MARKUP_TITLE in _text(html)


async def test_status_page__renders_in_headless_chromium(scene: Scene) -> None:
    browser = chromium()
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "status-page.png"
    screenshot.unlink(missing_ok=True)
    async with running(scene.gxib):
        url = f"{scene.gxib.url}/"
        await run_headless(browser, f"--screenshot={screenshot}", "--window-size=1280,1600", url)
        dom = (await run_headless(browser, "--dump-dom", url)).decode("utf-8")
    assert screenshot.stat().st_size > 50_000  # a page of tables, not a blank or error page
    assert png_size(screenshot) == (1280, 1600)
    text = _text(dom)
    _assert_words(text, scene)
    assert MARKUP_TITLE in text
    assert "<script" not in dom


async def test_status_page__renders_for_a_node_with_nothing_yet(tmp_path: Path) -> None:
    node = make_node(tmp_path, "fresh", "Fresh Herbarium", "VN")
    async with running(node):
        status, _, html = await _get(f"{node.url}/")
    assert status == 200
    text = _text(html)
    assert "Fresh Herbarium" in text
    assert text.count("None yet.") == 4  # datasets, sources, agreements, audit
