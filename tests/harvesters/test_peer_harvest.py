"""Harvesting a partner node: what a good harvest stores and what a repeated one costs.

The partner is a real node (gxib) made by `fednode init` from the bundled sample, published,
serving its own app on 127.0.0.1; the harvesting node (vnmn) pins it, and both hold the
demo's bilateral agreement signed by both parties. Behaviours that need a peer to serve
exact bytes (a changed archive, an empty one, an oversized one) use `hostile_peer` while it
behaves.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from click.testing import CliRunner

from agreements.signing import sign
from harvesters.base import HarvestResult
from harvesters.http import client_session
from harvesters.runs import RunLog
from harvesters.schedule import Runtime, run_source
from node.cli import main
from node.core import constants
from node.demo import GPL_URL, DemoNode, agreement_text
from node.server.keys import METRICS
from node.store.store import Store, read_parquet
from tests import nodes
from tests.harvesters.hostile_peer import HostilePeer, occurrence_archive, occurrence_rows, serve

SOURCE = "peer:gxib"
OCCURRENCES = "gxib-karst-occurrences"
CHECKLIST = "gxib-karst-checklist"
PROVENANCE = ("fed_source", "fed_dataset", "fed_agreement", "fed_harvest_run", "fed_licence")
ARCHIVE_ROUTE = "/datasets/{dataset}/archive"


@dataclass
class Federation:
    """gxib, published, and a pristine copy of vnmn's home to harvest into."""

    gxib: nodes.TestNode
    vnmn_template: Path


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Federation:
    root = tmp_path_factory.mktemp("federation")
    gxib = nodes.make_node(root, "gxib", "Guangxi Institute of Botany", "CN")
    vnmn = nodes.make_node(root, "vnmn", "Vietnam National Museum of Nature", "VN")
    nodes.add_sample_datasets(gxib, "gxib")
    # vnmn declares its own datasets so that its copy of the agreement (which has flows of
    # them) is valid: the harvester takes licence and agreement from that copy.
    nodes.add_sample_datasets(vnmn, "vnmn")
    published = CliRunner().invoke(main, ["publish", "--home", str(gxib.home)])
    assert published.exit_code == 0, published.output
    keys = {"gxib": gxib.identity.public_key_text, "vnmn": vnmn.identity.public_key_text}
    # gxib shares only with partners it pinned (`fednode peer add`).
    gxib.edit_config(
        peers=[{"id": "vnmn", "url": f"http://127.0.0.1:{vnmn.port}", "key": keys["vnmn"]}]
    )
    text = agreement_text(
        DemoNode("gxib", "Guangxi Institute of Botany", "CN", gxib.home, gxib.port),
        DemoNode("vnmn", "Vietnam National Museum of Nature", "VN", vnmn.home, vnmn.port),
        keys,
    )
    text = sign(sign(text, "gxib", gxib.identity.private_key), "vnmn", vnmn.identity.private_key)
    for node in (gxib, vnmn):
        (node.home / "agreements" / "gxib-vnmn.toml").write_text(text, encoding="utf-8")
    return Federation(gxib, vnmn.home)


def harvesting_node(federation: Federation, tmp_path: Path, **peer: object) -> nodes.TestNode:
    home = Path(shutil.copytree(federation.vnmn_template, tmp_path / "vnmn"))
    node = nodes.TestNode(home, nodes.free_port())
    gxib = federation.gxib
    node.edit_config(
        peers=[
            {
                "id": "gxib",
                "url": gxib.url,
                "key": gxib.identity.public_key_text,
                "datasets": [],
                "schedule": "every 6h",
                **peer,
            }
        ]
    )
    return node


@pytest.fixture
async def runtime(federation: Federation, tmp_path: Path) -> AsyncIterator[Runtime]:
    node = harvesting_node(federation, tmp_path)
    runs = RunLog(node.home)
    try:
        async with client_session() as session:
            yield Runtime(node.config, node.identity, session, runs)
    finally:
        runs.close()


def stored(runtime: Runtime, dataset: str) -> pa.Table:
    return read_parquet(Store(runtime.config.home).harvested("gxib", dataset))


def served(app: object, status: int) -> int:
    """Archive answers with `status` the peer itself counted (its /metrics counter)."""
    value = app[METRICS].registry.get_sample_value(  # type: ignore[index]
        "fednode_http_requests_total", {"route": ARCHIVE_ROUTE, "status": str(status)}
    )
    return int(value or 0)


async def test_peer_harvest__first_harvest_stores_parquet_with_provenance(
    federation: Federation, runtime: Runtime
) -> None:
    async with nodes.running(federation.gxib):
        result = await run_source(runtime, SOURCE)

    assert (result.outcome, result.error) == ("ok", "")
    assert sorted(result.datasets) == [CHECKLIST, OCCURRENCES]
    occurrences, checklist = stored(runtime, OCCURRENCES), stored(runtime, CHECKLIST)
    assert result.records == occurrences.num_rows + checklist.num_rows
    for table, dataset, licence in (
        (occurrences, OCCURRENCES, GPL_URL),
        (checklist, CHECKLIST, GPL_URL),
    ):
        assert set(PROVENANCE) <= set(table.column_names)
        distinct = {name: pc.unique(table.column(name)).to_pylist() for name in PROVENANCE}
        assert distinct == {
            "fed_source": ["gxib"],
            "fed_dataset": [dataset],
            "fed_agreement": ["gxib-vnmn@1"],
            "fed_harvest_run": [result.run_id],
            "fed_licence": [licence],
        }
    # What arrived is what the agreement's flow lets through, not gxib's 600 originals.
    assert 0 < occurrences.num_rows < 600
    assert set(pc.unique(occurrences.column("family")).to_pylist()) <= {
        "Gesneriaceae",
        "Begoniaceae",
    }
    assert occurrences.schema.field("decimalLatitude").type == pa.float64()
    recorded = runtime.runs.last_runs(SOURCE, limit=1)[0]
    assert (recorded["run_id"], recorded["outcome"], recorded["records"]) == (
        result.run_id,
        "ok",
        result.records,
    )


async def test_peer_harvest__unchanged_reharvest_costs_one_304_per_dataset(
    federation: Federation, runtime: Runtime
) -> None:
    async with nodes.running(federation.gxib) as app:
        first = await run_source(runtime, SOURCE)
        links = {
            d: os.readlink(Store(runtime.config.home).harvested("gxib", d)) for d in first.datasets
        }
        sent_before = served(app, 200)

        again = await run_source(runtime, SOURCE)

        assert (served(app, 200), served(app, 304)) == (sent_before, len(first.datasets))
    assert (again.outcome, again.records, again.error) == ("unchanged", 0, "")
    assert again.detail["unchanged_datasets"] == 2
    assert links == {
        d: os.readlink(Store(runtime.config.home).harvested("gxib", d)) for d in first.datasets
    }
    assert pc.unique(stored(runtime, OCCURRENCES).column("fed_harvest_run")).to_pylist() == [
        first.run_id
    ]
    runs = runtime.runs.last_runs(SOURCE)
    assert [(r["run_id"], r["outcome"]) for r in runs] == [
        (again.run_id, "unchanged"),
        (first.run_id, "ok"),
    ]


async def test_peer_harvest__only_the_datasets_node_toml_names(
    federation: Federation, tmp_path: Path
) -> None:
    node = harvesting_node(federation, tmp_path, datasets=[CHECKLIST])
    runs = RunLog(node.home)
    try:
        async with client_session() as session, nodes.running(federation.gxib):
            result = await run_source(Runtime(node.config, node.identity, session, runs), SOURCE)
    finally:
        runs.close()
    assert (result.outcome, result.datasets) == ("ok", [CHECKLIST])
    assert not Store(node.home).harvested("gxib", OCCURRENCES).exists()


# -- exact bytes from a peer that behaves ------------------------------------------------
@dataclass
class Plain:
    peer: HostilePeer
    runtime: Runtime

    async def harvest(self) -> HarvestResult:
        return await run_source(self.runtime, SOURCE)

    @property
    def path(self) -> Path:
        return Store(self.runtime.config.home).harvested("gxib", "occ")


@pytest.fixture
async def plain(tmp_path: Path) -> AsyncIterator[Plain]:
    async with serve() as peer:
        node = nodes.make_node(tmp_path, "vnmn", "Vietnam National Museum of Nature", "VN")
        node.edit_config(peers=[peer.peer_config()])
        runs = RunLog(node.home)
        try:
            async with client_session() as session:
                yield Plain(peer, Runtime(node.config, node.identity, session, runs))
        finally:
            runs.close()


async def test_peer_harvest__changed_archive_replaces_the_snapshot(plain: Plain) -> None:
    first_offer = plain.peer.offer("occ", occurrence_archive(occurrence_rows(20)))
    await plain.harvest()
    old_snapshot = os.readlink(plain.path)
    plain.peer.offer("occ", occurrence_archive(occurrence_rows(25, start=100)))

    result = await plain.harvest()

    assert (result.outcome, result.records) == ("ok", 25)
    conditional = plain.peer.requests_to("/datasets/occ/archive")[-1]
    assert conditional.headers["If-None-Match"] == first_offer.etag
    assert conditional.status == 200
    assert read_parquet(plain.path).column("occurrenceID")[0].as_py() == "urn:catalog:GXIB:000100"
    assert not (plain.path.parent / old_snapshot).exists()


async def test_peer_harvest__lost_local_copy_is_fetched_again_not_304(plain: Plain) -> None:
    plain.peer.offer("occ", occurrence_archive(occurrence_rows(20)))
    await plain.harvest()
    shutil.rmtree(plain.path.parent)

    result = await plain.harvest()

    assert (result.outcome, result.records) == ("ok", 20)
    assert "If-None-Match" not in plain.peer.requests_to("/datasets/occ/archive")[-1].headers


async def test_peer_harvest__archive_without_records_stores_an_empty_dataset(
    plain: Plain,
) -> None:
    plain.peer.offer("occ", occurrence_archive(occurrence_rows(20)))
    await plain.harvest()
    plain.peer.offer("occ", occurrence_archive([]))  # e.g. the agreement now filters all out

    result = await plain.harvest()

    assert (result.outcome, result.records, result.error) == ("ok", 0, "")
    table = read_parquet(plain.path)
    assert table.num_rows == 0
    assert set(PROVENANCE) <= set(table.column_names)


async def test_peer_harvest__archive_over_the_size_cap_is_refused_unread(
    plain: Plain, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = occurrence_archive(occurrence_rows(500))
    monkeypatch.setattr(constants, "MAX_ARCHIVE_BYTES", len(body) - 1)
    plain.peer.offer("occ", body)

    result = await plain.harvest()

    assert result.outcome == "failed"
    assert f"peer announces {len(body):,} bytes; the limit is {len(body) - 1:,}" in result.error
    assert len(plain.peer.requests_to("/datasets/occ/archive")) == 1  # not retried
    assert not plain.path.exists()
