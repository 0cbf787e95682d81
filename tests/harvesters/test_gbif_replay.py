"""The replay server answers as GBIF did, and the GBIF client behaves well against it.

GBIF is replaced only by `tests.gbif_replay` (recorded real answers on 127.0.0.1); pygbif is
pointed at it through its base URL, nothing else is patched.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import pytest
import requests

from harvesters.gbif_client import GbifClient, GbifLimits, configure_pygbif, translate
from harvesters.gbif_names import GbifNameMatcher
from node.core.errors import HarvestError
from tests.gbif_replay import GbifReplay, load_cassette, serve

FAST = GbifLimits(min_interval_s=0.0, timeout_s=1.0, backoff_base_s=0.02, backoff_max_s=5.0)
AMANITA = translate({"taxon_key": 3329049}).search_params  # test_search.yaml's query


@pytest.fixture
async def gbif() -> AsyncIterator[GbifReplay]:
    async with serve(
        "test_search",
        "test_download_describe",
        "test_name_backbone",
        "test_name_backbone_multiple_matches",
    ) as replay:
        yield replay


async def get(url: str, **params: str) -> requests.Response:
    """A plain request from a worker thread: the server runs on this test's event loop."""
    return await asyncio.to_thread(requests.get, url, params=params, timeout=5)


def client(gbif: GbifReplay, **limits: float) -> GbifClient:
    settings = {**FAST.__dict__, **limits}
    return GbifClient(gbif.api_url, limits=GbifLimits(**settings))


# -- the replay server -----------------------------------------------------------------
async def test_replay__serves_the_recorded_search_page(gbif: GbifReplay) -> None:
    recorded = json.loads(load_cassette("test_search")[0].body)
    response = await get(
        gbif.api_url + "occurrence/search", taxonKey="3329049", limit="300", offset="0"
    )
    assert response.status_code == 200
    assert response.json()["results"] == recorded["results"]
    assert response.headers["Content-Type"] == "application/json"


async def test_replay__slices_the_recorded_page_for_limit_and_offset(gbif: GbifReplay) -> None:
    recorded = json.loads(load_cassette("test_search")[0].body)["results"]
    page = await client(gbif).search(AMANITA, limit=100, offset=250)
    assert page["results"] == recorded[250:300]
    assert (page["count"], page["endOfRecords"]) == (300, True)


async def test_replay__answers_404_for_what_was_not_recorded(gbif: GbifReplay) -> None:
    response = await get(gbif.api_url + "occurrence/search", taxonKey="1")
    assert response.status_code == 404
    assert response.json()["error"] == "not recorded"


async def test_replay__counts_requests_and_spends_faults(gbif: GbifReplay) -> None:
    gbif.fail(500, path="/v1/occurrence/search", times=1)
    url = gbif.api_url + "occurrence/search"
    statuses = [(await get(url, taxonKey="3329049", limit="1")).status_code for _ in range(2)]
    assert statuses == [500, 200]
    assert len(gbif.requests_to("/v1/occurrence/search")) == 2


# -- configuring pygbif ----------------------------------------------------------------
def test_pygbif__importing_it_through_the_client_leaves_logging_alone() -> None:
    probe = (
        "import importlib, logging\n"
        "from harvesters.gbif_client import import_pygbif\n"
        "root = logging.getLogger()\n"
        "pygbif = import_pygbif()\n"
        "print(len(root.handlers), root.level)\n"
        "importlib.reload(pygbif)  # what a bare `import pygbif` does\n"
        "print(len(root.handlers), root.level)\n"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    ours, bare = run.stdout.splitlines()
    assert ours.split() == ["0", str(logging.WARNING)]
    # pygbif on its own adds a handler and sets INFO on the host's root logger.
    assert bare.split() == ["1", str(logging.INFO)]


async def test_pygbif__requests_go_to_the_configured_base_url_with_the_node_agent(
    gbif: GbifReplay,
) -> None:
    await client(gbif).search(AMANITA, limit=1, offset=0)
    (seen,) = gbif.requests_to("/v1/occurrence/search")
    assert seen.headers["User-Agent"].startswith("fednode/")
    assert "pygbif/" in seen.headers["User-Agent"]
    assert seen.param("taxonKey") == "3329049"
    # Numeric keys are Backbone keys: pygbif 0.7's COL default must not be sent.
    assert seen.param("checklistKey") is None


async def test_pygbif__base_url_follows_the_last_configuration(gbif: GbifReplay) -> None:
    pygbif = configure_pygbif("https://api.gbif.org/v1", "probe")
    assert pygbif.occurrences.search.__globals__["gbif_baseurl"] == "https://api.gbif.org/v1/"
    await client(gbif).search(AMANITA, limit=0, offset=0)
    assert pygbif.occurrences.search.__globals__["gbif_baseurl"] == gbif.api_url


# -- pacing and retries ----------------------------------------------------------------
async def test_client__keeps_the_minimum_interval_between_requests(gbif: GbifReplay) -> None:
    paced = client(gbif, min_interval_s=0.2)
    await paced.search(AMANITA, limit=1, offset=0)  # warms the worker thread
    for offset in (0, 100, 200):
        await paced.search(AMANITA, limit=100, offset=offset)
    times = [s.at for s in gbif.seen]
    # Seen by the server, so request latency jitters each gap by a few milliseconds.
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.17
    assert times[-1] - times[0] >= 0.58


async def test_client__429_storm_backs_off_exponentially_then_fails_in_words(
    gbif: GbifReplay,
) -> None:
    gbif.fail(429, path="/v1/occurrence/search")
    storm = client(gbif, backoff_base_s=0.1, attempts=4)
    with pytest.raises(HarvestError) as failure:
        await storm.search(AMANITA, limit=10, offset=0)
    assert "HTTP 429" in failure.value.detail
    assert "gave up after 4 attempts" in failure.value.detail
    times = [s.at for s in gbif.seen]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) == 3 and storm.retries == 3
    # Half of each step is fixed: 0.05-0.1, 0.1-0.2, 0.2-0.4 s.
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1 and gaps[2] >= 0.2


async def test_client__honours_retry_after(gbif: GbifReplay) -> None:
    gbif.fail(429, path="/v1/occurrence/search", times=1, retry_after="1")
    page = await client(gbif).search(AMANITA, limit=5, offset=0)
    assert len(page["results"]) == 5
    first, second = gbif.seen
    assert second.at - first.at >= 1.0


async def test_client__gives_up_at_once_when_retry_after_exceeds_a_run(gbif: GbifReplay) -> None:
    gbif.fail(429, path="/v1/occurrence/search", retry_after="3600")
    with pytest.raises(HarvestError, match="asked to wait 3600 s"):
        await client(gbif).search(AMANITA, limit=5, offset=0)
    assert len(gbif.seen) == 1


async def test_client__retries_a_truncated_body(gbif: GbifReplay) -> None:
    gbif.truncate(path="/v1/occurrence/search", times=1)
    answers = client(gbif)
    page = await answers.search(AMANITA, limit=50, offset=0)
    assert len(page["results"]) == 50 and answers.retries == 1


async def test_client__times_out_a_slow_answer(gbif: GbifReplay) -> None:
    gbif.slow(2.0, path="/v1/occurrence/search")
    started = time.monotonic()
    with pytest.raises(HarvestError, match=r"did not answer within 0.2 s; gave up after 2"):
        await client(gbif, timeout_s=0.2, attempts=2).search(AMANITA, limit=5, offset=0)
    assert time.monotonic() - started < 1.5


async def test_client__does_not_retry_a_bad_request(gbif: GbifReplay) -> None:
    gbif.fail(400, path="/v1/occurrence/search")
    with pytest.raises(HarvestError, match="HTTP 400"):
        await client(gbif).search(AMANITA, limit=5, offset=0)
    assert len(gbif.seen) == 1


async def test_client__describes_a_download_format(gbif: GbifReplay) -> None:
    described = await client(gbif).describe_download_format("simpleCsv")
    names = [f["name"] for f in described["fields"]]
    assert names[:2] == ["gbifID", "datasetKey"] and "issue" in names


# -- name matching ---------------------------------------------------------------------
async def test_names__an_exact_backbone_match_is_kept(gbif: GbifReplay) -> None:
    match = await GbifNameMatcher(client(gbif)).match("Helianthus  annuus")
    assert match is not None
    assert (match["usageKey"], match["matchType"], match["family"]) == (
        9206251,
        "EXACT",
        "Asteraceae",
    )
    (seen,) = gbif.requests_to("/v1/species/match")
    assert seen.param("name") == "Helianthus annuus"


async def test_names__no_confident_match_is_none(gbif: GbifReplay) -> None:
    assert await GbifNameMatcher(client(gbif)).match("Aso") is None


async def test_names__the_synchronous_matcher_works_outside_the_loop(gbif: GbifReplay) -> None:
    matcher = GbifNameMatcher(client(gbif))
    match = await asyncio.to_thread(matcher, "Helianthus annuus")
    assert match is not None and match["canonicalName"] == "Helianthus annuus"
    with pytest.raises(RuntimeError, match=r"await matcher\.match"):
        matcher("Helianthus annuus")
