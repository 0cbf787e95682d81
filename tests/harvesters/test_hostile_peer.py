"""A compromised or impostor partner against the node that harvests it.

The peer is `hostile_peer` on a real 127.0.0.1 port; the harvesting node (vnmn) is a real
home made by `fednode init`. Every case is refused or harmless: the run says why, the last
good copy stays, and the node's own home is untouched, checked by hashing every file of it
before and after (the harvested peer's folder and the bookkeeping database excepted where
the case lets the peer change them legitimately).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agreements.signing import sign
from harvesters.http import client_session
from harvesters.runs import RunLog
from harvesters.schedule import Runtime
from node.core import constants
from node.core.identity import load_identity
from node.demo import GPL_URL, DemoNode, agreement_text
from node.store.agreement_book import AgreementBook
from node.store.store import Store, read_parquet
from tests import nodes
from tests.harvesters.harvesting import ARCHIVE, DATASET, SOURCE, Harvesting, Waits
from tests.harvesters.hostile_peer import (
    HostilePeer,
    gzip_bomb,
    large_xml_member_archive,
    occurrence_archive,
    occurrence_rows,
    serve,
    wide_archive,
)

ROOT = Path(__file__).resolve().parents[2]
PEER_FOLDER = "store/harvested/gxib"
BOOKKEEPING = ("state.sqlite", "store/tmp", "store/locks")


def home_digest(home: Path, skip: tuple[str, ...] = (PEER_FOLDER, *BOOKKEEPING)) -> dict[str, str]:
    """Every file, folder and link of the home by relative path, with a digest of each."""
    digests = {}
    for path in sorted(home.rglob("*")):
        relative = path.relative_to(home).as_posix()
        if any(relative == s or relative.startswith((s + "/", s + "-")) for s in skip):
            continue
        if path.is_symlink():
            digests[relative] = "link:" + os.readlink(path)
        elif path.is_file():
            digests[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            digests[relative] = "folder"
    return digests


def own_dataset(home: Path) -> Path:
    """A stand-in for the node's own published records, which a peer must never reach."""
    folder = Store(home).local("own-orchids")
    folder.mkdir(parents=True)
    (folder / "part-0.parquet").write_bytes(b"the node's own records")
    return folder


# -- ids as paths ------------------------------------------------------------------------
HOSTILE_IDS = [
    "../../../keys",
    "../../local/own-orchids",
    "../../../../outside",
    ".",
    "..",
    "/etc",
    "Keys",
    "ok\n",
    "x" * 70,
]


async def test_peer_harvest__dataset_ids_that_are_paths_are_refused_and_touch_nothing(
    harvesting: Harvesting,
) -> None:
    home = harvesting.node.home
    own_dataset(home)
    await harvesting.first_good_harvest()
    before = home_digest(home)
    outside = sorted(p.name for p in home.parent.iterdir())
    archive = occurrence_archive(occurrence_rows(5))
    for dataset_id in HOSTILE_IDS:
        harvesting.peer.offer(dataset_id, archive)
    harvesting.peer.offer(DATASET, occurrence_archive(occurrence_rows(12)))

    result = await harvesting.harvest()

    harvesting.assert_failed(result, "is not a valid id")
    assert result.error.count("is not a valid id") == len(HOSTILE_IDS)
    assert result.datasets == [DATASET] and result.records == 12
    assert read_parquet(harvesting.dataset_path).num_rows == 12
    assert home_digest(home) == before
    assert sorted(p.name for p in home.parent.iterdir()) == outside
    assert sorted(p.name for p in (home / PEER_FOLDER).iterdir() if not p.name.startswith(".")) == [
        DATASET
    ]
    assert load_identity(home).public_key_text == harvesting.node.identity.public_key_text
    assert not harvesting.peer.requests_to("/datasets/."), "a refused id was requested"


def test_store_peer_dataset__an_escaping_path_is_refused_even_with_a_valid_looking_id(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path)
    (tmp_path / "store" / "harvested").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    # The peer's folder itself replaced by a link out of the store: nothing under it is used.
    (tmp_path / "store" / "harvested" / "gxib").symlink_to(tmp_path / "elsewhere")

    with pytest.raises(Exception, match="is not inside"):
        store.peer_dataset("gxib", "karst-occurrences")
    with pytest.raises(Exception, match="not a valid id"):
        store.peer_folder("../gxib")


# -- pruning -------------------------------------------------------------------------------
async def test_peer_harvest__a_dataset_the_peer_stops_listing_is_pruned_from_its_folder_only(
    harvesting: Harvesting,
) -> None:
    home = harvesting.node.home
    own_dataset(home)
    harvesting.peer.offer("karst-checklist", occurrence_archive(occurrence_rows(4)))
    harvesting.peer.offer(DATASET, occurrence_archive(occurrence_rows(40)))
    assert (await harvesting.harvest()).records == 44
    folder = home / PEER_FOLDER
    # Something planted in the peer's folder pointing at the node's keys: pruning removes
    # the link itself and never follows it.
    (folder / "planted-link").symlink_to(home / "keys")
    before = home_digest(home)
    del harvesting.peer.offers["karst-checklist"]

    result = await harvesting.harvest()

    assert (result.outcome, result.error) == ("ok", "")
    assert sorted(result.detail["pruned_datasets"]) == ["karst-checklist", "planted-link"]
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [DATASET]
    assert len([p for p in folder.iterdir() if p.name.startswith(".snap-")]) == 1
    assert home_digest(home) == before
    assert (home / "keys" / "node.key").is_file()
    assert harvesting.runs.held(SOURCE, "karst-checklist") is None
    assert harvesting.runs.validators(SOURCE, "karst-checklist") == ("", "")


async def test_peer_harvest__a_listing_over_the_dataset_cap_is_refused_and_nothing_pruned(
    harvesting: Harvesting, monkeypatch: pytest.MonkeyPatch
) -> None:
    before, snapshot = await harvesting.first_good_harvest()
    monkeypatch.setattr(constants, "MAX_LISTED_DATASETS", 3)
    harvesting.peer.offers.pop(DATASET)
    for n in range(4):
        harvesting.peer.offer(f"other-{n}", occurrence_archive(occurrence_rows(2)))

    result = await harvesting.harvest()

    harvesting.assert_failed(result, "lists 4 datasets; the limit is 3")
    harvesting.assert_last_good_kept(before, snapshot)


# -- the listing: size, encoding, time, redirects ---------------------------------------
@pytest.fixture(scope="module")
def gigabyte_gzip_listing() -> bytes:
    return gzip_bomb(1024**3)


async def test_peer_harvest__a_gzip_listing_is_refused_unread(
    harvesting: Harvesting, gigabyte_gzip_listing: bytes
) -> None:
    before, snapshot = await harvesting.first_good_harvest()
    harvesting.peer.listing_body = gigabyte_gzip_listing
    harvesting.peer.listing_headers = {"Content-Encoding": "gzip"}

    result = await harvesting.harvest()

    harvesting.assert_failed(result, "Content-Encoding: gzip", "refused unread")
    listings = [s for s in harvesting.peer.seen if s.path == "/datasets"]
    assert len(listings) == 2  # the good harvest's, then one: refused, not retried
    assert listings[-1].headers.get("Accept-Encoding") == "identity"
    harvesting.assert_last_good_kept(before, snapshot)


async def test_peer_harvest__an_oversized_listing_is_cut_off_at_the_cap(
    harvesting: Harvesting,
) -> None:
    before, snapshot = await harvesting.first_good_harvest()
    harvesting.peer.listing_body = b" " * (constants.MAX_LISTING_BYTES + 1)

    result = await harvesting.harvest()

    harvesting.assert_failed(result, f"the limit is {constants.MAX_LISTING_BYTES:,}")
    harvesting.assert_last_good_kept(before, snapshot)


async def test_peer_harvest__a_listing_that_never_comes_ends_at_the_deadline(
    harvesting: Harvesting, monkeypatch: pytest.MonkeyPatch
) -> None:
    before, snapshot = await harvesting.first_good_harvest()
    monkeypatch.setattr(constants, "METADATA_TIMEOUT_S", 5.0)
    monkeypatch.setattr(constants, "METADATA_DEADLINE_S", 1.0)
    harvesting.peer.listing_delay_s = 30

    started = time.monotonic()
    result = await harvesting.harvest()

    assert time.monotonic() - started < 5
    harvesting.assert_failed(result, "no complete answer within 1 s")
    harvesting.assert_last_good_kept(before, snapshot)


@pytest.mark.parametrize("where", ["listing", "archive"])
async def test_peer_harvest__redirects_are_not_followed(harvesting: Harvesting, where: str) -> None:
    before, snapshot = await harvesting.first_good_harvest()
    # Say to this node's own loopback-only status page, carrying the signed headers.
    target = f"{harvesting.node.url}/status.json"
    if where == "listing":
        harvesting.peer.listing_redirect = target
    else:
        harvesting.peer.offer(DATASET, occurrence_archive(occurrence_rows(3)), redirect_to=target)

    async with nodes.running(harvesting.node):
        result = await harvesting.harvest()

    harvesting.assert_failed(result, "HTTP 302")
    if where == "archive":
        assert "redirects are not followed" in result.error
    harvesting.assert_last_good_kept(before, snapshot)


async def test_peer_harvest__a_slow_trickle_ends_at_the_download_deadline(
    harvesting: Harvesting, monkeypatch: pytest.MonkeyPatch
) -> None:
    before, snapshot = await harvesting.first_good_harvest()
    monkeypatch.setattr(constants, "DOWNLOAD_DEADLINE_S", 1.5)
    body = occurrence_archive(occurrence_rows(2_000, start=50))
    harvesting.peer.offer(DATASET, body, chunk_bytes=1024, chunk_delay_s=0.2)

    started = time.monotonic()
    result = await harvesting.harvest()

    assert time.monotonic() - started < 6
    harvesting.assert_failed(result, "no complete answer within 2 s")
    harvesting.assert_last_good_kept(before, snapshot)


# -- the archive response ------------------------------------------------------------------
async def test_peer_harvest__an_encoded_archive_is_refused_once_not_retried(
    harvesting: Harvesting,
) -> None:
    before, snapshot = await harvesting.first_good_harvest()
    harvesting.peer.offer(
        DATASET, occurrence_archive(occurrence_rows(9)), headers={"Content-Encoding": "gzip"}
    )

    result = await harvesting.harvest()

    harvesting.assert_failed(result, "Content-Encoding: gzip", "refused unread")
    assert len(harvesting.peer.requests_to(ARCHIVE)) == 2  # the good harvest, then one
    harvesting.assert_last_good_kept(before, snapshot)


async def test_peer_harvest__a_304_to_a_first_request_is_not_unchanged(
    harvesting: Harvesting,
) -> None:
    harvesting.peer.offer(DATASET, occurrence_archive(occurrence_rows(3)), always_304=True)

    result = await harvesting.harvest()

    harvesting.assert_failed(result, "304 Not Modified to a request that was not conditional")
    assert not harvesting.dataset_path.exists()
    assert harvesting.runs.validators(SOURCE, DATASET) == ("", "")


async def test_peer_harvest__a_new_etag_on_the_same_bytes_costs_no_reprocessing(
    harvesting: Harvesting,
) -> None:
    before, snapshot = await harvesting.first_good_harvest()
    offer = harvesting.peer.offers[DATASET]
    harvesting.peer.offer(DATASET, offer.body, etag_text='"another-tag"')

    result = await harvesting.harvest()

    assert (result.outcome, result.records) == ("unchanged", 0)
    harvesting.assert_last_good_kept(before, snapshot)
    assert harvesting.runs.validators(SOURCE, DATASET)[0] == '"another-tag"'


# -- the signed statement ------------------------------------------------------------------
async def test_peer_harvest__an_unbound_archive_without_a_statement_is_refused(
    harvesting: Harvesting,
) -> None:
    before, snapshot = await harvesting.first_good_harvest()
    harvesting.peer.offer(DATASET, occurrence_archive(occurrence_rows(7)), statement=False)

    result = await harvesting.harvest()

    harvesting.assert_failed(result, "no Fednode-Statement header")
    harvesting.assert_last_good_kept(before, snapshot)


async def test_peer_harvest__an_older_version_is_refused_as_a_rollback(
    harvesting: Harvesting,
) -> None:
    harvesting.peer.offer(DATASET, occurrence_archive(occurrence_rows(40)), version="1.3")
    assert (await harvesting.harvest()).outcome == "ok"
    before, snapshot = read_parquet(harvesting.dataset_path), os.readlink(harvesting.dataset_path)
    # The archive of version 1.2, correctly signed when it was current, served again.
    harvesting.peer.offer(DATASET, occurrence_archive(occurrence_rows(30)), version="1.2")

    result = await harvesting.harvest()

    harvesting.assert_failed(result, "older than version 1.3 held here", "rollback")
    harvesting.assert_last_good_kept(before, snapshot)
    assert harvesting.runs.held(SOURCE, DATASET)[0] == "1.3"  # type: ignore[index]


@pytest.mark.parametrize(
    ("claim", "words"),
    [
        ({"stated_dataset": "karst-checklist"}, "statement is for dataset 'karst-checklist'"),
        ({"stated_recipient": "other"}, "names another recipient"),
        ({"version": "latest"}, "is not a version number"),
    ],
)
async def test_peer_harvest__a_statement_that_does_not_fit_the_request_is_refused(
    harvesting: Harvesting, claim: dict[str, str], words: str
) -> None:
    before, snapshot = await harvesting.first_good_harvest()
    if claim.get("stated_recipient") == "other":
        claim = {"stated_recipient": HostilePeer().public_key_text}
    harvesting.peer.offer(DATASET, occurrence_archive(occurrence_rows(8)), **claim)

    result = await harvesting.harvest()

    harvesting.assert_failed(result, words)
    harvesting.assert_last_good_kept(before, snapshot)


# -- licence and agreement come from this node's own copy of the signed agreement --------
AGREED = "gxib-karst-occurrences"


@dataclass
class Agreed:
    harvesting: Harvesting
    ref: str
    sha256: str
    licence: str

    def offer(self, **claims: object) -> None:
        terms: dict[str, object] = {
            "agreement": self.ref,
            "agreement_sha256": self.sha256,
            "licence": self.licence,
            "recipient_party": "vnmn",
        }
        self.harvesting.peer.offer(
            AGREED, occurrence_archive(occurrence_rows(6)), **{**terms, **claims}
        )


@pytest.fixture
async def agreed(tmp_path: Path, quick_retries: None) -> AsyncIterator[Agreed]:
    """vnmn holding the demo agreement, signed by itself and by the hostile peer's key."""
    async with serve() as peer:
        node = nodes.make_node(tmp_path, "vnmn", "Vietnam National Museum of Nature", "VN")
        nodes.add_sample_datasets(node, "vnmn")
        node.edit_config(peers=[peer.peer_config()])
        keys = {"gxib": peer.public_key_text, "vnmn": node.identity.public_key_text}
        text = agreement_text(
            DemoNode("gxib", "Guangxi Institute of Botany", "CN", tmp_path / "gxib", 1),
            DemoNode("vnmn", "Vietnam National Museum of Nature", "VN", node.home, node.port),
            keys,
        )
        text = sign(sign(text, "gxib", peer.key), "vnmn", node.identity.private_key)
        (node.home / "agreements" / "gxib-vnmn.toml").write_text(text, encoding="utf-8")
        (agreement,) = AgreementBook(node.config).active()
        flow = agreement.flow_for("gxib", "vnmn", AGREED)
        assert flow is not None
        runs = RunLog(node.home)
        try:
            async with client_session() as session:
                waits = Waits()
                runtime = Runtime(node.config, node.identity, session, runs, sleep=waits)
                yield Agreed(
                    Harvesting(peer, node, runtime, waits),
                    agreement.ref,
                    agreement.sha256,
                    flow.licence,
                )
        finally:
            runs.close()


def _stored_terms(agreed: Agreed) -> set[tuple[str, str]]:
    table = read_parquet(Store(agreed.harvesting.node.home).harvested("gxib", AGREED))
    pairs = zip(
        table.column("fed_licence").to_pylist(),
        table.column("fed_agreement").to_pylist(),
        strict=True,
    )
    return set(pairs)


async def test_peer_harvest__licence_is_the_agreements_whatever_the_headers_say(
    agreed: Agreed,
) -> None:
    agreed.offer(headers={"Fednode-Licence": "CC0-1.0", "Fednode-Agreement": "none@9"})

    result = await agreed.harvesting.harvest()

    assert (result.outcome, result.error) == ("ok", "")
    assert agreed.licence == GPL_URL
    assert _stored_terms(agreed) == {(agreed.licence, agreed.ref)}


@pytest.mark.parametrize(
    ("claims", "words"),
    [
        ({"licence": "CC0-1.0"}, "labels it CC0-1.0, but agreement"),
        ({"agreement_sha256": "0" * 64}, "differs from this node's"),
        ({"agreement": "gxib-vnmn@7"}, "does not hold as an active signed agreement"),
        ({"recipient_party": "someone"}, "names party 'someone'"),
    ],
)
async def test_peer_harvest__a_signed_relabelling_is_refused_against_the_own_agreement(
    agreed: Agreed, claims: dict[str, str], words: str
) -> None:
    agreed.offer()
    assert (await agreed.harvesting.harvest()).outcome == "ok"
    path = Store(agreed.harvesting.node.home).harvested("gxib", AGREED)
    snapshot = os.readlink(path)
    agreed.offer(**claims)
    agreed.harvesting.peer.offers[AGREED].body = occurrence_archive(occurrence_rows(9))

    result = await agreed.harvesting.harvest()

    assert result.outcome == "failed" and words in result.error, result.error
    assert os.readlink(path) == snapshot
    assert _stored_terms(agreed) == {(agreed.licence, agreed.ref)}


# -- memory --------------------------------------------------------------------------------
# Peak RSS of a `fednode harvest` process may grow at most this much over the same command
# harvesting a small good archive, whatever the peer sends.
MEMORY_BOUND_MB = 100
_MEASURE = (
    "import atexit, resource, sys\n"
    "atexit.register(lambda: sys.stderr.write("
    "f'MAXRSS_KB {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\\n'))\n"
    "sys.argv = ['fednode', *sys.argv[1:]]\n"
    "from node.cli.group import main\n"
    "main()\n"
)


async def _harvest_rss_mb(home: Path) -> tuple[float, str]:
    """Peak RSS (MB) of a `fednode harvest gxib` child process, and its stdout."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _MEASURE,
        "harvest",
        "gxib",
        "--home",
        str(home),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    lines = [line for line in stderr.decode().splitlines() if line.startswith("MAXRSS_KB ")]
    assert lines, stderr.decode()
    return int(lines[-1].split()[1]) / 1024, stdout.decode()


@pytest.fixture(scope="module")
def gigabyte_xml_archive() -> bytes:
    return large_xml_member_archive(1024**3)


@pytest.mark.parametrize("attack", ["gzip-listing", "wide-archive", "large-xml-member"])
async def test_peer_harvest__memory_stays_bounded_whatever_the_peer_sends(
    harvesting: Harvesting,
    attack: str,
    gigabyte_gzip_listing: bytes,
    gigabyte_xml_archive: bytes,
) -> None:
    home = harvesting.node.home
    harvesting.peer.offer(DATASET, occurrence_archive(occurrence_rows(40)))
    baseline, out = await _harvest_rss_mb(home)
    assert "ok, 40 records" in out, out
    before = home_digest(home)
    if attack == "gzip-listing":
        harvesting.peer.listing_body = gigabyte_gzip_listing
        harvesting.peer.listing_headers = {"Content-Encoding": "gzip"}
        words = "Content-Encoding: gzip"
    elif attack == "wide-archive":
        harvesting.peer.offer(DATASET, wide_archive(500_000))
        words = "500,000 columns; the limit is 1,024"
    else:
        harvesting.peer.offer(DATASET, gigabyte_xml_archive)
        words = f"'extra.xml' is larger than {constants.MAX_XML_BYTES:,} bytes"

    peak, out = await _harvest_rss_mb(home)

    assert "failed" in out and words in out, out
    assert peak - baseline < MEMORY_BOUND_MB, f"{attack}: {baseline:.0f} -> {peak:.0f} MB"
    assert home_digest(home) == before
    assert not list(Store(home).tmp().iterdir()), "the harvest left files in store/tmp"
    print(f"{attack}: peak RSS {peak:.0f} MB, baseline {baseline:.0f} MB")
