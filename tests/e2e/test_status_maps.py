"""The status page's maps and chart after a real export: vnmn harvests gxib over HTTP,
then gxib's page shows, per active flow, what the served archive held, and the records
sent per partner per month from the audit log; read as HTML and rendered by Chromium."""

from __future__ import annotations

import asyncio
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import aiohttp

from node.store.audit import EXPORT, AuditEntry, AuditLog
from node.store.state import connect
from tests.browser import chromium, png_size, run_headless
from tests.e2e.conftest import Federation, cli
from tests.nodes import running

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
SVG = "{http://www.w3.org/2000/svg}"
OCCURRENCES = "gxib-karst-occurrences"


async def _export_then_page(federation: Federation) -> str:
    """vnmn harvests gxib (two flows, two archives), then gxib's status page."""
    async with running(federation.gxib):
        result = await asyncio.to_thread(
            cli, "harvest", "gxib", "--home", str(federation.vnmn.home)
        )
        assert result.exit_code == 0, result.output
        url = f"{federation.gxib.url}/"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            assert response.status == 200
            return await response.text()


def _figures(html: str) -> list[ET.Element]:
    return [ET.fromstring(svg) for svg in re.findall(r"<svg .*?</svg>", html, re.S)]


def _exports(federation: Federation) -> list[AuditEntry]:
    conn = connect(federation.gxib.home)
    try:
        return AuditLog(conn).entries(event=EXPORT)
    finally:
        conn.close()


async def test_status_page__maps_what_the_last_export_sent(federation: Federation) -> None:
    html = await _export_then_page(federation)
    figures = _figures(html)
    title = f"flow #1 gxib -> vnmn, {OCCURRENCES}: what vnmn last received"
    occurrence_map = next(f for f in figures if f.findtext(f"{SVG}title") == title)
    cells = [r for r in occurrence_map.iter(f"{SVG}rect") if r.get("class") == "cell"]
    points = [c for c in occurrence_map.iter(f"{SVG}circle") if c.get("class") == "exact"]
    assert len(points) == 429
    assert sum(int(c.get("data-records", "0")) for c in cells) == 27
    assert {(c.get("width"), c.get("height")) for c in cells} == {("0.1", "0.1")}
    exports = [e for e in _exports(federation) if e.dataset == OCCURRENCES]
    assert len(exports) == 1
    # The map is of the archive the audit log records as sent.
    sha = exports[0].archive_sha256 or ""
    assert f"Archive {sha[:12]}" in html and f"audit entry #{exports[0].seq}" in html
    # The checklist flow has nothing to map, and says so.
    assert "gxib-karst-checklist" in html and "No coordinates to map." in html


async def test_status_page__charts_records_sent_per_partner_per_month(
    federation: Federation,
) -> None:
    html = await _export_then_page(federation)
    exports = _exports(federation)
    chart = next(f for f in _figures(html) if f.get("class") == "sent-chart")
    bars = [r for r in chart.iter(f"{SVG}rect") if r.get("class") == "bar"]
    month = exports[0].time[:7]
    assert [(b.get("data-month"), b.get("data-partner")) for b in bars] == [(month, "vnmn")]
    assert int(bars[0].get("data-sent", "0")) == sum(e.counts["sent"] for e in exports)
    assert f"<td>{month}</td><td>vnmn</td>" in html  # the same numbers as a table


async def test_status_page__maps_render_in_headless_chromium(federation: Federation) -> None:
    browser = chromium()
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "status-page-maps.png"
    screenshot.unlink(missing_ok=True)
    await _export_then_page(federation)
    async with running(federation.gxib):
        url = f"{federation.gxib.url}/"
        await run_headless(browser, f"--screenshot={screenshot}", "--window-size=1280,2600", url)
        dom = (await run_headless(browser, "--dump-dom", url)).decode("utf-8")
    assert png_size(screenshot) == (1280, 2600)
    assert screenshot.stat().st_size > 100_000
    assert "<script" not in dom
    assert dom.count('class="cell"') > 0 and dom.count('class="exact"') == 429
    assert 'class="sent-chart"' in dom
