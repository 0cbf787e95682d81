"""Fixtures of the peer-harvest tests: a hostile peer and a real node harvesting it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from harvesters.http import client_session
from harvesters.runs import RunLog
from harvesters.schedule import Runtime
from node.core import constants
from tests import nodes
from tests.harvesters.harvesting import RETRIES, Harvesting, Waits
from tests.harvesters.hostile_peer import serve


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fewer attempts per request; the waits between them are injected (Waits), not slept."""
    monkeypatch.setattr(constants, "HARVEST_RETRIES", RETRIES)


@pytest.fixture
async def harvesting(tmp_path: Path, quick_retries: None) -> AsyncIterator[Harvesting]:
    async with serve() as peer:
        node = nodes.make_node(tmp_path, "vnmn", "Vietnam National Museum of Nature", "VN")
        node.edit_config(peers=[peer.peer_config()])
        runs = RunLog(node.home)
        try:
            async with client_session() as session:
                waits = Waits()
                runtime = Runtime(node.config, node.identity, session, runs, sleep=waits)
                yield Harvesting(peer, node, runtime, waits)
        finally:
            runs.close()
