"""A node harvests a GBIF IPT: the real RSS feed and real IPT archives, served on 127.0.0.1
by an IPT-shaped server, recorded with `fednode peer add --ipt` and harvested, exported
and refused through the CLI, as an operator would."""

from __future__ import annotations

import asyncio
import io
import json
import os
import time
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest
from click.testing import CliRunner, Result
from dwca.read import DwCAReader

from harvesters.ipt_feed import parse_feed
from harvesters.runs import RunLog
from harvesters.schedule import configured_sources
from node.cli import main
from node.core import constants
from node.core.config import CONFIG_FILE, load_config
from node.core.errors import HarvestError
from node.store.store import Store, read_parquet
from tests import nodes
from tests.harvesters.ipt_server import ARCHIVES, DATA, IptServer, Served, serve

IPT_ID = "ala-ipt"
SOURCE = f"ipt:{IPT_ID}"
RESOURCES = sorted(ARCHIVES)


async def fednode(*args: str) -> Result:
    """`fednode ARGS` in a worker thread (it runs its own event loop), as a person types it."""
    return await asyncio.to_thread(CliRunner().invoke, main, list(args))


@dataclass
class Harvesting:
    ipt: IptServer
    node: nodes.TestNode

    async def cli(self, *args: str) -> Result:
        return await fednode(*args, "--home", str(self.node.home))

    async def harvest(self) -> dict[str, object]:
        await self.cli("harvest", IPT_ID)
        runs = RunLog(self.node.home)
        try:
            return runs.last_runs(SOURCE, limit=1)[0]
        finally:
            runs.close()

    def stored(self, resource: str) -> Path:
        return Store(self.node.home).ipt_resource(IPT_ID, resource)

    def snapshots(self) -> dict[str, str]:
        return {name: os.readlink(self.stored(name)) for name in RESOURCES}


@pytest.fixture
async def harvesting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Harvesting]:
    monkeypatch.setattr(constants, "HARVEST_RETRIES", 0)  # a cut transfer fails at once
    async with serve() as ipt:
        node = nodes.make_node(tmp_path, "vnmn", "Vietnam National Museum of Nature", "VN")
        yield Harvesting(ipt, node)


@pytest.fixture
async def harvested(harvesting: Harvesting) -> Harvesting:
    added = await harvesting.cli("peer", "add", "--ipt", harvesting.ipt.url, "--id", IPT_ID)
    assert added.exit_code == 0, added.output
    run = await harvesting.harvest()
    assert run["outcome"] == "ok", run["error"]
    return harvesting


async def test_peer_add_ipt_records_it_in_node_toml(harvesting: Harvesting) -> None:
    added = await harvesting.cli("peer", "add", "--ipt", harvesting.ipt.url, "--id", IPT_ID)
    assert added.exit_code == 0, added.output
    assert "2 resource(s)" in added.output
    (ipt,) = load_config(harvesting.node.home).ipt
    assert (ipt.id, ipt.url, ipt.schedule) == (IPT_ID, harvesting.ipt.url, "every 6h")
    # Nothing about an IPT is pinned or signed: it is no partner node.
    assert load_config(harvesting.node.home).peers == ()
    again = await harvesting.cli("peer", "add", "--ipt", harvesting.ipt.url + "/", "--id", IPT_ID)
    assert again.exit_code == 0 and "already recorded" in again.output, again.output
    assert len(load_config(harvesting.node.home).ipt) == 1
    # On the schedule as a peer is, and in `fednode harvest --all`.
    assert configured_sources(load_config(harvesting.node.home)) == {SOURCE: "every 6h"}
    everything = await harvesting.cli("harvest", "--all")
    assert f"{SOURCE}: ok, 3 records" in everything.output, everything.output


async def test_peer_add_refuses_options_that_do_not_apply(harvesting: Harvesting) -> None:
    before = (harvesting.node.home / CONFIG_FILE).read_text(encoding="utf-8")
    # No agreement governs an IPT's public resources: a purpose would be declared to no one.
    purpose = await harvesting.cli(
        "peer", "add", "--ipt", harvesting.ipt.url, "--id", IPT_ID, "--purpose", "education"
    )
    assert purpose.exit_code == 2
    assert "--purpose does not apply to an IPT" in purpose.output, purpose.output
    # Stated even when it is the default's value: the operator asked for it.
    research = await harvesting.cli(
        "peer", "add", "--ipt", harvesting.ipt.url, "--purpose", "research"
    )
    assert research.exit_code == 2 and "--purpose" in research.output, research.output
    # A partner node's id comes with its pinned key; --id names IPTs only.
    named = await harvesting.cli("peer", "add", harvesting.ipt.url, "--id", "other")
    assert named.exit_code == 2
    assert "--id applies to an IPT only" in named.output, named.output
    assert (harvesting.node.home / CONFIG_FILE).read_text(encoding="utf-8") == before


async def test_harvested_rows_are_the_archives_rows(harvested: Harvesting) -> None:
    """Every core row and every non-empty value python-dwca-reader reads is stored."""
    for name, archive in ARCHIVES.items():
        table = read_parquet(harvested.stored(name))
        with DwCAReader(str(archive)) as reader:
            rows = list(reader)
        assert table.num_rows == len(rows) > 0
        stored = table.to_pylist()
        for expected, got in zip(rows, stored, strict=True):
            for term, value in expected.data.items():
                if value:
                    stored_value = got[term.rsplit("/", 1)[-1]]
                    if isinstance(stored_value, int | float):  # numbers are stored typed
                        value = type(stored_value)(value)
                    assert stored_value == value, (name, term)
            assert got["fed_source"] == IPT_ID
            assert got["fed_dataset"] == name
            assert got["fed_agreement"] is None  # public data, never a partner's


async def test_second_harvest_is_one_304_per_resource_and_rewrites_nothing(
    harvested: Harvesting,
) -> None:
    before = harvested.snapshots()
    harvested.ipt.answers.clear()
    run = await harvested.harvest()
    assert run["outcome"] == "unchanged"
    assert sorted(harvested.ipt.answers) == [(name, 304) for name in RESOURCES]
    assert harvested.snapshots() == before


async def test_an_ipt_sending_only_last_modified_is_asked_if_modified_since(
    harvesting: Harvesting,
) -> None:
    for served in harvesting.ipt.archives.values():
        served.send_etag = False
    added = await harvesting.cli("peer", "add", "--ipt", harvesting.ipt.url, "--id", IPT_ID)
    assert added.exit_code == 0, added.output
    assert (await harvesting.harvest())["outcome"] == "ok"
    before = harvesting.snapshots()
    harvesting.ipt.asked.clear()
    harvesting.ipt.answers.clear()
    assert (await harvesting.harvest())["outcome"] == "unchanged"
    assert sorted(harvesting.ipt.answers) == [(name, 304) for name in RESOURCES]
    for name, headers in harvesting.ipt.asked:
        assert "If-None-Match" not in headers
        assert headers["If-Modified-Since"] == harvesting.ipt.archives[name].last_modified
        # An IPT is not a partner: nothing is signed for it.
        assert not [h for h in headers if h.lower().startswith(("signature", "fednode-"))]
    assert harvesting.snapshots() == before


async def test_a_changed_resource_is_fetched_again(harvested: Harvesting) -> None:
    before = harvested.snapshots()
    harvested.ipt.answers.clear()
    changed = ARCHIVES["nepal-griis-gbif"].read_bytes()
    harvested.ipt.archives["global"] = Served(changed, modified=time.time())
    run = await harvested.harvest()
    assert run["outcome"] == "ok", run
    assert harvested.ipt.statuses("global") == [200]
    assert harvested.ipt.statuses("nepal-griis-gbif") == [304]
    after = harvested.snapshots()
    assert after["nepal-griis-gbif"] == before["nepal-griis-gbif"]
    assert after["global"] != before["global"]
    assert read_parquet(harvested.stored("global")).num_rows == 2  # the new archive's rows


async def test_an_ipt_dying_mid_transfer_keeps_the_last_good_snapshot(
    harvested: Harvesting,
) -> None:
    before = harvested.snapshots()
    rows = read_parquet(harvested.stored("global")).to_pylist()
    changed = ARCHIVES["nepal-griis-gbif"].read_bytes()
    harvested.ipt.archives["global"] = Served(changed, time.time(), cut_after=len(changed) // 2)
    run = await harvested.harvest()
    assert run["outcome"] == "failed"
    assert "global" in str(run["error"]) and "\n" not in str(run["error"])
    assert harvested.snapshots() == before
    assert read_parquet(harvested.stored("global")).to_pylist() == rows
    assert not list(Store(harvested.node.home).tmp().iterdir())  # the partial download is gone


async def test_a_resource_whose_eml_declares_entities_is_refused(harvested: Harvesting) -> None:
    """The licence is read from the resource's EML with the archive's safe parser: an EML
    with a DTD refuses the resource (keeping its last good snapshot), not just its licence."""
    before = harvested.snapshots()
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(ARCHIVES["nepal-griis-gbif"]) as real,
        zipfile.ZipFile(buffer, "w") as hostile,
    ):
        for member in real.infolist():
            data = real.read(member)
            if member.filename.endswith("eml.xml"):
                data = b'<?xml version="1.0"?><!DOCTYPE eml [<!ENTITY x "x">]><eml>&x;</eml>'
            hostile.writestr(member, data)
    harvested.ipt.archives["nepal-griis-gbif"] = Served(buffer.getvalue(), time.time())
    run = await harvested.harvest()
    assert run["outcome"] == "failed"
    assert "nepal-griis-gbif" in str(run["error"]) and "DTD" in str(run["error"])
    assert harvested.snapshots() == before


async def test_a_resource_the_feed_no_longer_lists_is_removed(harvested: Harvesting) -> None:
    feed = harvested.ipt.feed()
    start = feed.index(b"<item>", feed.index(b"</item>"))
    harvested.ipt.feed_override = feed[:start] + feed[feed.index(b"</item>", start) + 7 :]
    run = await harvested.harvest()
    assert run["outcome"] == "ok", run["error"]
    assert not harvested.stored("global").exists()
    assert harvested.stored("nepal-griis-gbif").exists()
    left = sorted(p.name for p in Store(harvested.node.home).ipt(IPT_ID).iterdir())
    assert [n for n in left if not n.startswith(".")] == ["nepal-griis-gbif"]
    assert not [n for n in left if n.startswith(".snap-global.")]  # its snapshot too


async def test_a_refused_item_keeps_what_was_stored_for_it(harvested: Harvesting) -> None:
    before = harvested.snapshots()
    off = harvested.ipt.feed().replace(
        f"{harvested.ipt.url}/archive.do?r=global".encode(),
        b"http://127.0.0.1:1/archive.do?r=global",
    )
    harvested.ipt.feed_override = off
    run = await harvested.harvest()
    assert run["outcome"] == "failed"
    assert "leaves the IPT's origin" in str(run["error"])
    assert harvested.snapshots() == before


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<!DOCTYPE html><html><body>IPT is down</body></html>", "HTML page"),
        (b"<rss><channel><item><title>cut", "malformed XML"),
        (b"<?xml version='1.0'?><feed xmlns='http://www.w3.org/2005/Atom'/>", "not an RSS"),
        (
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><rss>&a;</rss>',
            "DTDs and entities are not allowed",
        ),
        (b"<rss>" + b" " * constants.MAX_LISTING_BYTES + b"</rss>", "the limit is"),
    ],
    ids=["html", "malformed", "atom", "entities", "oversized"],
)
async def test_a_feed_that_is_not_rss_is_refused_keeping_every_snapshot(
    harvested: Harvesting, body: bytes, reason: str
) -> None:
    before = harvested.snapshots()
    harvested.ipt.feed_override = body
    harvested.ipt.answers.clear()
    run = await harvested.harvest()
    assert run["outcome"] == "failed"
    error = str(run["error"])
    assert reason in error and "\n" not in error, error
    assert harvested.ipt.answers == []  # no archive was asked for
    assert harvested.snapshots() == before


async def test_peer_add_refuses_an_ipt_whose_feed_is_an_html_page(
    harvesting: Harvesting,
) -> None:
    toml = (harvesting.node.home / CONFIG_FILE).read_bytes()
    harvesting.ipt.feed_override = b"<html><body>Login</body></html>"
    added = await harvesting.cli("peer", "add", "--ipt", harvesting.ipt.url, "--id", IPT_ID)
    assert added.exit_code == 1
    assert "not an IPT this node can harvest" in added.output
    assert "HTML page" in added.output
    assert (harvesting.node.home / CONFIG_FILE).read_bytes() == toml


async def test_an_ipt_id_a_peer_uses_is_refused(harvesting: Harvesting) -> None:
    toml = (harvesting.node.home / CONFIG_FILE).read_bytes()
    added = await harvesting.cli("peer", "add", "--ipt", harvesting.ipt.url, "--id", "vnmn")
    assert added.exit_code == 1
    assert "already this node's, GBIF's or a peer's id" in added.output
    assert (harvesting.node.home / CONFIG_FILE).read_bytes() == toml


async def test_export_names_the_ipt_as_the_records_source(harvested: Harvesting) -> None:
    exported = await harvested.cli("export")
    assert exported.exit_code == 0, exported.output
    records = Store(harvested.node.home).exports() / "current" / "records"
    table = ds.dataset(records, format="parquet", partitioning="hive").to_table()
    from_ipt = table.filter(pc.equal(table.column("fed_source"), IPT_ID))
    assert from_ipt.num_rows == sum(
        read_parquet(harvested.stored(name)).num_rows for name in RESOURCES
    )
    assert set(from_ipt.column("fed_dataset").to_pylist()) == set(RESOURCES)
    assert from_ipt.column("fed_agreement").null_count == from_ipt.num_rows


async def test_an_ipt_resource_is_named_to_reconcile_as_ipt_slash_resource(
    harvested: Harvesting,
) -> None:
    spec = f"{IPT_ID}/nepal-griis-gbif"
    reconciled = await harvested.cli("reconcile", spec, spec)
    assert reconciled.exit_code == 0, reconciled.output
    assert "exact 1" in reconciled.output
    unknown = await harvested.cli("reconcile", spec, f"{IPT_ID}/no-such-resource")
    assert unknown.exit_code == 1 and "<ipt>/<resource>" in unknown.output


def test_archive_links_to_another_origin_are_refused() -> None:
    feed = (DATA / "rss.xml").read_bytes()
    elsewhere = feed.replace(
        b"http://ipt.ala.org.au/archive.do?r=global", b"http://127.0.0.1:1/archive.do?r=global"
    )
    found, refused = parse_feed(elsewhere, "http://ipt.ala.org.au")
    assert [r.name for r in found] == ["nepal-griis-gbif"]
    assert len(refused) == 1 and "leaves the IPT's origin" in refused[0]
    assert found[0].guid == "9cfd5f70-968c-4690-94ef-834f01b0cea8/v2.0"


def test_the_real_feed_lists_both_resources() -> None:
    found, refused = parse_feed((DATA / "rss.xml").read_bytes(), "http://ipt.ala.org.au/")
    assert [(r.name, r.dwca_url) for r in found] == [
        ("nepal-griis-gbif", "http://ipt.ala.org.au/archive.do?r=nepal-griis-gbif"),
        ("global", "http://ipt.ala.org.au/archive.do?r=global"),
    ]
    assert refused == []
    with pytest.raises(HarvestError):
        parse_feed(json.dumps({"datasets": []}).encode(), "http://ipt.ala.org.au")
