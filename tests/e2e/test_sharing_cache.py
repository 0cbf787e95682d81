"""Rebuilding an enforced archive with the same records gives the same bytes and ETag."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from node.store.store import Store
from tests.e2e.conftest import Federation, cli
from tests.e2e.test_sharing import archive_url, signed_get
from tests.nodes import running


def _builds(home: Path) -> set[str]:
    shared = Store(home).cache() / "shared"
    return {str(p.parent.relative_to(shared)) for p in shared.rglob("dwca.zip")}


async def test_archive__a_rebuild_with_the_same_records_keeps_the_etag(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    gxib, vnmn = federation.gxib, federation.vnmn
    async with running(gxib):
        status, headers, _ = await signed_get(http, archive_url(federation), vnmn.identity)
        assert status == 200
        before = _builds(gxib.home)
        await asyncio.sleep(2.1)  # zip times have 2 s resolution: a rebuild stamped "now" differs

        # A new crosswalk changes the cache key (taxon scopes match reconciled names), so
        # the archive is rebuilt; the records it sends are the same, and so are its bytes.
        result = cli(
            "reconcile",
            "gxib-karst-checklist",
            "gxib-karst-occurrences",
            "--home",
            str(gxib.home),
        )
        assert result.exit_code == 0, result.output
        status, _, _ = await signed_get(
            http, archive_url(federation), vnmn.identity, **{"If-None-Match": headers["ETag"]}
        )
        assert status == 304
        assert _builds(gxib.home) != before  # it was rebuilt, not served from the old build
