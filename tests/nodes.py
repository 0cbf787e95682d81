"""Real nodes for tests: a home made by `fednode init`, the sample data published, and
the daemon's own app listening on a free 127.0.0.1 port."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import tomlkit
from aiohttp import web

from node.core.config import CONFIG_FILE, NodeConfig, load_config
from node.core.identity import Identity, load_identity
from node.demo import declare_sample, free_port
from node.server.app import build_app
from node.server.services import SCHEDULE_ENABLED
from node.store.home import init_home

SAMPLES = Path(__file__).resolve().parent.parent / "node" / "samples"


@dataclass
class TestNode:
    __test__ = False  # a helper, not a test class

    home: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config(self) -> NodeConfig:
        return load_config(self.home)

    @property
    def identity(self) -> Identity:
        return load_identity(self.home)

    def edit_config(self, **sections: object) -> None:
        """Append `datasets`/`peers`/`gbif` entries or set top-level tables in node.toml."""
        path = self.home / CONFIG_FILE
        document = tomlkit.parse(path.read_text(encoding="utf-8"))
        for key, value in sections.items():
            if isinstance(value, list):
                array = document.setdefault(key, tomlkit.aot())
                for item in value:
                    array.append(item)
            elif isinstance(value, dict):
                table = document.setdefault(key, tomlkit.table())
                table.update(value)
        path.write_text(tomlkit.dumps(document), encoding="utf-8")


def make_node(root: Path, node_id: str, name: str, country: str) -> TestNode:
    port = free_port()
    home = root / node_id
    init_home(home, node_id, name, url=f"http://127.0.0.1:{port}", country=country, port=port)
    return TestNode(home, port)


def add_sample_datasets(node: TestNode, sample: str, public: bool = False) -> list[str]:
    """Declare a bundled sample's datasets in the node, as the demo does."""
    return declare_sample(node.home, sample, public=public)


@contextlib.asynccontextmanager
async def running(node: TestNode, schedule: bool = False) -> AsyncIterator[web.Application]:
    """The node's app serving on its port until the block ends."""
    app = build_app(load_config(node.home), load_identity(node.home))
    app[SCHEDULE_ENABLED] = schedule
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", node.port)
    await site.start()
    try:
        yield app
    finally:
        await runner.cleanup()
