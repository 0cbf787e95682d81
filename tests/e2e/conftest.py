"""A published two-node federation on loopback: gxib (Guangxi) and vnmn (northern Vietnam).

Both homes are made by `fednode init`, declare the bundled samples, publish them with
`fednode publish`, pin each other as peers and hold the demo's bilateral agreement signed
by both parties (`fednode agreement sign`). That costs ~2 s, so it is built once per
session and copied for each test: tests may then edit agreements, the audit table and
the nonce cache freely. The copies keep the template's ports, so one test at a time
serves them.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner, Result

from node.cli import main
from node.demo import DemoNode, agreement_text
from tests.nodes import TestNode, add_sample_datasets, make_node

AGREEMENT_ID = "gxib-vnmn"
AGREEMENT_REF = "gxib-vnmn@1"
AGREEMENT_FILE = f"{AGREEMENT_ID}.toml"
NAMES = {"gxib": "Guangxi Institute of Botany", "vnmn": "Vietnam National Museum of Nature"}
COUNTRIES = {"gxib": "CN", "vnmn": "VN"}
PURPOSE = "research"  # one of the purposes the demo agreement's flows allow


def cli(*args: str) -> Result:
    """`fednode ARGS` in-process, as a person types it; the caller checks the exit code."""
    return CliRunner().invoke(main, list(args))


@dataclass(frozen=True)
class Federation:
    gxib: TestNode
    vnmn: TestNode

    def nodes(self) -> list[tuple[str, TestNode]]:
        return [("gxib", self.gxib), ("vnmn", self.vnmn)]

    def node(self, node_id: str) -> TestNode:
        return dict(self.nodes())[node_id]

    def agreement_path(self, node_id: str) -> Path:
        return self.node(node_id).home / "agreements" / AGREEMENT_FILE

    def agreement_text(self) -> str:
        """The demo's agreement between these two nodes, unsigned."""
        demo = {
            node_id: DemoNode(node_id, NAMES[node_id], COUNTRIES[node_id], node.home, node.port)
            for node_id, node in self.nodes()
        }
        keys = {node_id: node.identity.public_key_text for node_id, node in self.nodes()}
        return agreement_text(demo["gxib"], demo["vnmn"], keys)

    def install_agreement(self, text: str, signers: Sequence[str] = ("gxib", "vnmn")) -> str:
        """Sign `text` in turn on each signer's node, then put the result in both homes."""
        draft = self.agreement_path(signers[0] if signers else "gxib")
        draft.write_text(text, encoding="utf-8")
        for signer in signers:
            copy = self.agreement_path(signer)
            if copy != draft:
                shutil.copy(draft, copy)
            result = cli("agreement", "sign", str(copy), "--home", str(self.node(signer).home))
            assert result.exit_code == 0, result.output
            draft = copy
        signed = draft.read_text(encoding="utf-8")
        for node_id in ("gxib", "vnmn"):
            self.agreement_path(node_id).write_text(signed, encoding="utf-8")
        return signed


def _peer_entry(node_id: str, node: TestNode) -> dict[str, object]:
    """What `fednode peer add` writes to node.toml after checking /.well-known/fednode."""
    return {
        "id": node_id,
        "url": node.url,
        "key": node.identity.public_key_text,
        "datasets": [],
        "schedule": "every 6h",
        "purpose": PURPOSE,
    }


@pytest.fixture(scope="session")
def federation_template(tmp_path_factory: pytest.TempPathFactory) -> Federation:
    root = tmp_path_factory.mktemp("federation")
    gxib = make_node(root, "gxib", NAMES["gxib"], COUNTRIES["gxib"])
    vnmn = make_node(root, "vnmn", NAMES["vnmn"], COUNTRIES["vnmn"])
    for node_id, node in (("gxib", gxib), ("vnmn", vnmn)):
        add_sample_datasets(node, node_id, public=False)
        result = cli("publish", "--home", str(node.home))
        assert result.exit_code == 0, result.output
    gxib.edit_config(peers=[_peer_entry("vnmn", vnmn)])
    vnmn.edit_config(peers=[_peer_entry("gxib", gxib)])
    federation = Federation(gxib, vnmn)
    federation.install_agreement(federation.agreement_text())
    return federation


@pytest.fixture
def federation(tmp_path: Path, federation_template: Federation) -> Federation:
    """A private copy of the published, agreed federation for one test."""
    copies = []
    for node in (federation_template.gxib, federation_template.vnmn):
        home = tmp_path / node.home.name
        shutil.copytree(node.home, home)
        copies.append(TestNode(home, node.port))
    return Federation(*copies)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


def utc_today() -> dt.date:
    """Audit times are UTC, so `--since` compares against the UTC date."""
    return dt.datetime.now(dt.UTC).date()
