"""The status page in the reader's language: Accept-Language, the switch, the catalogues,
dataset titles per language, and Chromium drawing each language's characters.

The node is the Vietnamese sample (vnmn), whose checklist has a title in English,
Vietnamese and Chinese in its node.toml entry (node/samples/vnmn/datasets.toml).
"""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import aiohttp
import pytest
from babel.messages.pofile import read_po

from node.server.status_language import LOCALE_DIR, negotiate
from tests.browser import chromium, png_size, run_headless
from tests.nodes import TestNode as Node
from tests.nodes import add_sample_datasets, make_node, running

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
HEADINGS = {  # the catalogues' words for the section headings
    "en": ("Datasets", "Harvested sources", "Agreements", "Recent audit entries"),
    "zh": ("数据集", "已采集的数据源", "协议", "最近的审计记录"),
    "vi": ("Bộ dữ liệu", "Nguồn dữ liệu đã thu thập", "Thỏa thuận", "Nhật ký kiểm toán gần đây"),
}
TITLES = {
    "en": "Checklist of Vietnamese protected and medicinal plants",
    "zh": "越南受保护植物与药用植物名录",
    "vi": "Danh lục thực vật được bảo vệ và cây thuốc Việt Nam",
}


@pytest.fixture(scope="module")
def vnmn(tmp_path_factory: pytest.TempPathFactory) -> Node:
    node = make_node(tmp_path_factory.mktemp("lang"), "vnmn", "Bảo tàng Thiên nhiên Việt Nam", "VN")
    add_sample_datasets(node, "vnmn")
    return node


async def _get(url: str, accept_language: str | None = None) -> tuple[str, str]:
    headers = {"Accept-Language": accept_language} if accept_language else {}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        assert response.status == 200
        return response.headers.get("Content-Language", ""), await response.text()


def _text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_negotiate__switch_then_weights_then_english() -> None:
    assert negotiate("vi-VN,vi;q=0.9,en-US;q=0.8") == "vi"
    assert negotiate("en-US,en;q=0.9,zh-CN;q=0.8") == "en"
    assert negotiate("fr-FR, zh-Hans;q=0.5, vi;q=0.4") == "zh"
    assert negotiate("zh;q=0.5, vi;q=0.5") == "zh"  # equal weights: the reader's order
    assert negotiate("vi;q=0, fr") == "en"  # q=0 means "not this one"
    assert negotiate("vi", chosen="zh") == "zh" and negotiate("vi", chosen="xx") == "vi"
    assert negotiate(None) == negotiate("") == "en"


@pytest.mark.parametrize("language", ["zh", "vi"])
def test_catalogues__translate_every_message_of_the_template(language: str) -> None:
    with open(LOCALE_DIR / "status.pot", "rb") as handle:
        template = {m.id for m in read_po(handle) if m.id}
    path = LOCALE_DIR / language / "LC_MESSAGES" / "status.po"
    with open(path, "rb") as handle:
        catalogue = {m.id: m.string for m in read_po(handle, locale=language) if m.id}
    assert set(catalogue) == template
    assert all(catalogue.values()), [k for k, v in catalogue.items() if not v]


@pytest.mark.parametrize(
    ("accept_language", "query", "language"),
    [
        ("vi-VN,vi;q=0.9,en;q=0.5", "", "vi"),
        ("zh-CN,zh;q=0.9", "", "zh"),
        ("fr-FR", "", "en"),
        ("vi-VN", "?lang=zh", "zh"),  # the switch wins over the browser's setting
    ],
)
async def test_status_page__speaks_the_readers_language(
    vnmn: Node, accept_language: str, query: str, language: str
) -> None:
    async with running(vnmn):
        content_language, html = await _get(f"{vnmn.url}/{query}", accept_language)
    assert content_language == language
    assert f'<html lang="{language}">' in html
    text = _text(html)
    assert all(heading in text for heading in HEADINGS[language])
    others = [h for code, words in HEADINGS.items() if code != language for h in words]
    assert not any(f" {h} " in f" {text} " for h in others if h != "Datasets" or language != "en")
    assert TITLES[language] in text  # the dataset's title in the reader's language
    for code in ("zh", "vi", "en"):  # the switch offers the other two
        assert (f'href="?lang={code}"' in html) == (code != language)


def _page(body: str, language: str) -> str:
    return (
        f'<!doctype html><html lang="{language}"><meta charset="utf-8">'
        f'<body style="font:32px sans-serif;margin:8px">{body}</body></html>'
    )


async def _shot(browser: Path, html: str, path: Path) -> bytes:
    source = path.with_suffix(".html")
    source.write_text(html, encoding="utf-8")
    await run_headless(browser, f"--screenshot={path}", "--window-size=640,80", source.as_uri())
    return path.read_bytes()


@pytest.mark.parametrize("language", ["zh", "vi", "en"])
async def test_status_page__drawn_in_chromium_in_each_language(vnmn: Node, language: str) -> None:
    browser = chromium()
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / f"status-page-{language}.png"
    screenshot.unlink(missing_ok=True)
    async with running(vnmn):
        url = f"{vnmn.url}/?lang={language}"
        await run_headless(browser, f"--screenshot={screenshot}", "--window-size=1280,1200", url)
        dom = (await run_headless(browser, "--dump-dom", url)).decode("utf-8")
    assert png_size(screenshot) == (1280, 1200) and screenshot.stat().st_size > 30_000
    assert f'<html lang="{language}">' in dom
    assert all(heading in _text(dom) for heading in HEADINGS[language])
    if language == "en":
        return
    # Drawn, not boxes: the heading rendered with the fonts Chromium finds must differ from
    # the same number of characters no font has (private-use code points: .notdef boxes).
    heading = HEADINGS[language][0]
    drawn = await _shot(browser, _page(heading, language), ARTIFACTS / f"glyphs-{language}.png")
    boxes = "".join(chr(0xE000 + i) if c != " " else " " for i, c in enumerate(heading))
    tofu = await _shot(browser, _page(boxes, language), ARTIFACTS / f"boxes-{language}.png")
    assert drawn != tofu
