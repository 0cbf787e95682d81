"""GBIF harvests: search and download into the stored layout, and failures that keep data.

GBIF is the local replay server (`tests.gbif_replay`) answering with recorded real
responses; the harvester is the one the scheduler builds, given a client with short waits.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pyarrow as pa
import pytest

from harvesters.base import Harvester
from harvesters.gbif import (
    GbifHarvester,
    canonical_columns,
    load_account,
)
from harvesters.gbif_client import COL_XR_CHECKLIST, GbifClient, GbifLimits, translate
from node.core.config import GbifQueryConfig, NodeConfig
from node.core.errors import InvalidInput
from node.core.licences import licence_id
from node.store.store import Store, read_parquet
from tests.gbif_replay import SAMPLE_ROWS, GbifReplay, describe_fields, serve

FAST = GbifLimits(
    min_interval_s=0.0,
    timeout_s=1.0,
    backoff_base_s=0.01,
    backoff_max_s=2.0,
    poll_interval_s=0.01,
    search_page=100,
)
AMANITA = {"taxon_key": 3329049}  # the query recorded in test_search.yaml (300 records)
DOWNLOAD_KEY = "0040513-240906103802322"  # recorded in test_download_cancel.yaml
ACCOUNT = {"GBIF_USER": "gxib-node", "GBIF_PWD": "s3cret-Pa55", "GBIF_EMAIL": "data@gxib.example"}


@pytest.fixture
async def gbif() -> AsyncIterator[GbifReplay]:
    async with serve("test_search", "test_download_cancel", "test_download_describe") as replay:
        yield replay


@pytest.fixture
def account(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ACCOUNT.items():
        monkeypatch.setenv(name, value)


def harvester(
    gbif: GbifReplay,
    home: Path,
    method: str = "search",
    fmt: str = "SIMPLE_PARQUET",
    predicate: dict[str, object] | None = None,
    **limits: float,
) -> GbifHarvester:
    config = NodeConfig(
        home=home, id="gxib", name="Guangxi Institute of Botany", gbif_api_url=gbif.api_url
    )
    query = GbifQueryConfig(name="amanita", predicate=predicate or AMANITA, method=method)
    client = GbifClient.for_node(config, GbifLimits(**{**FAST.__dict__, **limits}))
    made = GbifHarvester(config, query, Store(home), client=client)
    made.download_format = fmt
    return made


def stored(home: Path) -> pa.Table:
    return read_parquet(Store(home).gbif("amanita"))


# -- search ----------------------------------------------------------------------------
async def test_search__pages_through_the_query_into_the_stored_layout(
    gbif: GbifReplay, tmp_path: Path
) -> None:
    made: Harvester = harvester(gbif, tmp_path)
    result = await made.harvest("gbif-amanita-run-1")
    assert (result.outcome, result.records, result.error) == ("ok", 300, "")
    pages = gbif.requests_to("/v1/occurrence/search")
    assert [(s.param("limit"), s.param("offset")) for s in pages] == [
        ("0", "0"),
        ("100", "0"),
        ("100", "100"),
        ("100", "200"),
    ]
    table = stored(tmp_path)
    assert table.num_rows == 300 and len(set(table["gbifID"].to_pylist())) == 300
    assert set(table["fed_source"].to_pylist()) == {"gbif"}
    assert set(table["fed_harvest_run"].to_pylist()) == {"gbif-amanita-run-1"}
    assert table["fed_dataset"].to_pylist() == table["datasetKey"].to_pylist()
    assert len(set(table["fed_dataset"].to_pylist())) == 2  # two datasets in the recording
    assert set(table["fed_licence"].to_pylist()) == {"CC-BY-4.0"}
    assert table.schema.field("decimalLatitude").type == pa.float64()
    assert table.schema.field("year").type == pa.int32()


async def test_search__gbif_issue_flags_join_the_node_flags(
    gbif: GbifReplay, tmp_path: Path
) -> None:
    await harvester(gbif, tmp_path).harvest("run-1")
    first = stored(tmp_path).slice(0, 1).to_pylist()[0]
    gbif_flags = [
        "COORDINATE_ROUNDED",
        "CONTINENT_DERIVED_FROM_COORDINATES",
        "TAXON_MATCH_TAXON_ID_IGNORED",
    ]
    assert first["issue"] == ";".join(gbif_flags)
    assert first["fed_issues"] == gbif_flags


async def test_search__refuses_a_query_beyond_the_paging_limit(
    gbif: GbifReplay, tmp_path: Path
) -> None:
    gbif.pretend_count(2_500_000, taxonKey="3329049")
    result = await harvester(gbif, tmp_path).harvest("run-1")
    assert result.outcome == "failed"
    assert "2,500,000 occurrences" in result.error
    assert 'method = "download"' in result.error
    assert len(gbif.seen) == 1  # only the count was asked
    assert not Store(tmp_path).gbif("amanita").exists()


async def test_search__a_query_matching_nothing_stores_an_empty_dataset(
    gbif: GbifReplay, tmp_path: Path
) -> None:
    assert (await harvester(gbif, tmp_path).harvest("run-1")).records == 300
    gbif.pretend_count(0, taxonKey="3329049")
    result = await harvester(gbif, tmp_path).harvest("run-2")
    assert (result.outcome, result.records) == ("ok", 0)
    table = stored(tmp_path)
    assert table.num_rows == 0 and "gbifID" in table.column_names


async def test_search__429_storm_fails_cleanly_and_keeps_the_last_good_data(
    gbif: GbifReplay, tmp_path: Path
) -> None:
    assert (await harvester(gbif, tmp_path).harvest("run-1")).outcome == "ok"
    gbif.fail(429, path="/v1/occurrence/search")
    result = await harvester(gbif, tmp_path).harvest("run-2")
    assert result.outcome == "failed"
    assert "HTTP 429" in result.error and "gave up after 4 attempts" in result.error
    assert result.detail["retries"] == 3
    table = stored(tmp_path)
    assert table.num_rows == 300
    assert set(table["fed_harvest_run"].to_pylist()) == {"run-1"}


async def test_search__a_storm_mid_harvest_leaves_no_half_written_data(
    gbif: GbifReplay, tmp_path: Path
) -> None:
    assert (await harvester(gbif, tmp_path).harvest("run-1")).outcome == "ok"
    # The count and the first page go through; every later page fails.
    gbif.fail(503, path="/v1/occurrence/search", after=2)
    result = await harvester(gbif, tmp_path).harvest("run-2")
    assert result.outcome == "failed" and "HTTP 503" in result.error
    assert set(stored(tmp_path)["fed_harvest_run"].to_pylist()) == {"run-1"}
    assert not list(Store(tmp_path).tmp().iterdir())


async def test_search__recovers_from_transient_500s(gbif: GbifReplay, tmp_path: Path) -> None:
    gbif.fail(500, path="/v1/occurrence/search", times=2)
    result = await harvester(gbif, tmp_path).harvest("run-1")
    assert (result.outcome, result.records, result.detail["retries"]) == ("ok", 300, 2)


async def test_search__persistent_500s_fail_in_words(gbif: GbifReplay, tmp_path: Path) -> None:
    gbif.fail(500, path="/v1/occurrence/search")
    result = await harvester(gbif, tmp_path).harvest("run-1")
    assert result.outcome == "failed"
    assert "GBIF answered HTTP 500" in result.error


async def test_search__a_truncated_body_every_time_fails_and_keeps_data(
    gbif: GbifReplay, tmp_path: Path
) -> None:
    assert (await harvester(gbif, tmp_path).harvest("run-1")).outcome == "ok"
    gbif.truncate(path="/v1/occurrence/search")
    result = await harvester(gbif, tmp_path).harvest("run-2")
    assert result.outcome == "failed" and "answer was cut short" in result.error
    assert set(stored(tmp_path)["fed_harvest_run"].to_pylist()) == {"run-1"}


async def test_search__a_slow_answer_beyond_the_timeout_fails(
    gbif: GbifReplay, tmp_path: Path
) -> None:
    gbif.slow(3.0, path="/v1/occurrence/search")
    result = await harvester(gbif, tmp_path, timeout_s=0.2, attempts=2).harvest("run-1")
    assert result.outcome == "failed"
    assert "did not answer within 0.2 s" in result.error


async def test_search__an_unreachable_gbif_fails_in_words(tmp_path: Path) -> None:
    async with serve() as gone:
        url = gone.api_url
    config = NodeConfig(home=tmp_path, id="gxib", name="GXIB", gbif_api_url=url)
    query = GbifQueryConfig(name="amanita", predicate=AMANITA)
    client = GbifClient.for_node(config, FAST)
    result = await GbifHarvester(config, query, Store(tmp_path), client=client).harvest("r")
    assert result.outcome == "failed"
    assert f"could not reach GBIF at {url} ([Errno 111] Connection refused)" in result.error


async def test_search__the_default_client_uses_the_node_configuration(
    gbif: GbifReplay, tmp_path: Path
) -> None:
    config = NodeConfig(home=tmp_path, id="gxib", name="GXIB", gbif_api_url=gbif.api_url)
    query = GbifQueryConfig(name="amanita", predicate=AMANITA)
    result = await GbifHarvester(config, query, Store(tmp_path)).harvest("run-1")
    assert (result.outcome, result.records) == ("ok", 300)
    first, second = gbif.seen
    assert second.at - first.at >= 0.95  # about one request a second, by default
    assert "node gxib" in first.headers["User-Agent"]


# -- download --------------------------------------------------------------------------
@pytest.mark.usefixtures("account")
async def test_download__requests_polls_fetches_and_ingests_simple_parquet(
    gbif: GbifReplay, tmp_path: Path
) -> None:
    result = await harvester(gbif, tmp_path, method="download").harvest("run-1")
    assert (result.outcome, result.records, result.error) == ("ok", SAMPLE_ROWS, "")
    assert result.detail["download_key"] == DOWNLOAD_KEY
    (post,) = gbif.requests_to("/v1/occurrence/download/request", "POST")
    body = json.loads(post.body)
    assert body["format"] == "SIMPLE_PARQUET" and body["creator"] == "gxib-node"
    assert body["predicate"] == {
        "type": "and",
        "predicates": [{"type": "equals", "key": "TAXON_KEY", "value": "3329049"}],
    }
    assert post.headers["Authorization"].startswith("Basic ")
    polls = gbif.requests_to(f"/v1/occurrence/download/{DOWNLOAD_KEY}", "GET")
    assert len(polls) == 2  # RUNNING, then SUCCEEDED
    assert len(gbif.requests_to(f"/v1/occurrence/download/request/{DOWNLOAD_KEY}.zip")) == 1
    table = stored(tmp_path)
    assert table.num_rows == SAMPLE_ROWS
    assert table["gbifID"][0].as_py() == "607759330"
    assert set(table["fed_dataset"].to_pylist()) == set(table["datasetKey"].to_pylist())
    assert table.schema.field("decimalLatitude").type == pa.float64()
    assert not list((Store(tmp_path).cache() / "gbif-downloads").iterdir())


@pytest.mark.usefixtures("account")
async def test_download__dwca_gives_the_same_records(gbif: GbifReplay, tmp_path: Path) -> None:
    parquet_home, dwca_home = tmp_path / "parquet", tmp_path / "dwca"
    assert (await harvester(gbif, parquet_home, "download").harvest("run-1")).outcome == "ok"
    result = await harvester(gbif, dwca_home, "download", fmt="DWCA").harvest("run-1")
    assert (result.outcome, result.records) == ("ok", SAMPLE_ROWS)
    posts = gbif.requests_to("/v1/occurrence/download/request", "POST")
    assert json.loads(posts[-1].body)["format"] == "DWCA"
    columns = ["gbifID", "datasetKey", "scientificName", "decimalLatitude", "year", "country"]
    dwca, simple = (
        stored(home).select(columns).sort_by("gbifID").to_pylist()
        for home in (dwca_home, parquet_home)
    )
    # A text file has no null: an empty DwC-A cell is "", a Parquet one is null.
    text = {"gbifID", "datasetKey", "scientificName", "country"}
    assert [{k: "" if v is None and k in text else v for k, v in r.items()} for r in simple] == dwca


async def test_download__credentials_file_must_not_be_readable_by_others(
    gbif: GbifReplay, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ACCOUNT:
        monkeypatch.delenv(name, raising=False)
    keys = tmp_path / "keys"
    keys.mkdir()
    secret = keys / "gbif.toml"
    secret.write_text('user = "gxib-node"\npassword = "s3cret-Pa55"\nemail = "d@gxib.example"\n')
    secret.chmod(0o644)
    result = await harvester(gbif, tmp_path, method="download").harvest("run-1")
    assert result.outcome == "failed" and "chmod 600" in result.error
    assert gbif.seen == []
    secret.chmod(0o600)
    result = await harvester(gbif, tmp_path, method="download").harvest("run-2")
    assert (result.outcome, result.records) == ("ok", SAMPLE_ROWS)


def test_download__the_password_never_shows(tmp_path: Path) -> None:
    account = load_account(tmp_path, {"GBIF_USER": "u", "GBIF_PWD": "s3cret", "GBIF_EMAIL": "e"})
    assert "s3cret" not in repr(account) and "s3cret" not in str(account)


async def test_download__without_an_account_says_how_to_give_one(
    gbif: GbifReplay, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ACCOUNT:
        monkeypatch.delenv(name, raising=False)
    result = await harvester(gbif, tmp_path, method="download").harvest("run-1")
    assert result.outcome == "failed"
    assert "GBIF_USER, GBIF_PWD, GBIF_EMAIL" in result.error and "keys/gbif.toml" in result.error


@pytest.mark.usefixtures("account")
async def test_download__refused_credentials_fail_without_the_password(
    gbif: GbifReplay, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gbif.fail(401, path="/v1/occurrence/download/request", times=1)
    with caplog.at_level(logging.DEBUG):
        result = await harvester(gbif, tmp_path, method="download").harvest("run-1")
    assert result.outcome == "failed"
    assert "refused the user name or password of 'gxib-node'" in result.error
    assert ACCOUNT["GBIF_PWD"] not in result.error + caplog.text + json.dumps(result.detail)


@pytest.mark.usefixtures("account")
async def test_download__a_request_that_may_have_reached_gbif_is_not_repeated(
    gbif: GbifReplay, tmp_path: Path
) -> None:
    gbif.slow(2.0, path="/v1/occurrence/download/request", times=1)
    result = await harvester(gbif, tmp_path, method="download", timeout_s=0.2).harvest("run-1")
    assert result.outcome == "failed" and "not sent again" in result.error
    assert len(gbif.requests_to("/v1/occurrence/download/request", "POST")) == 1


@pytest.mark.usefixtures("account")
async def test_download__a_busy_download_service_is_asked_again(
    gbif: GbifReplay, tmp_path: Path
) -> None:
    gbif.fail(420, path="/v1/occurrence/download/request", times=2)  # "Enhance Your Calm"
    result = await harvester(gbif, tmp_path, method="download").harvest("run-1")
    assert (result.outcome, result.records) == ("ok", SAMPLE_ROWS)
    assert len(gbif.requests_to("/v1/occurrence/download/request", "POST")) == 3


@pytest.mark.usefixtures("account")
async def test_download__a_killed_download_fails_and_keeps_the_last_good_data(
    gbif: GbifReplay, tmp_path: Path
) -> None:
    assert (await harvester(gbif, tmp_path).harvest("run-1")).outcome == "ok"
    gbif.download_status = "KILLED"
    result = await harvester(gbif, tmp_path, method="download").harvest("run-2")
    assert result.outcome == "failed" and f"download {DOWNLOAD_KEY} ended KILLED" in result.error
    assert set(stored(tmp_path)["fed_harvest_run"].to_pylist()) == {"run-1"}


@pytest.mark.usefixtures("account")
async def test_download__a_truncated_archive_is_fetched_again(
    gbif: GbifReplay, tmp_path: Path
) -> None:
    gbif.truncate(path="/v1/occurrence/download/request/", times=1)
    result = await harvester(gbif, tmp_path, method="download").harvest("run-1")
    assert (result.outcome, result.records, result.detail["retries"]) == ("ok", SAMPLE_ROWS, 1)


@pytest.mark.usefixtures("account")
async def test_download__a_failed_run_resumes_the_same_download(
    gbif: GbifReplay, tmp_path: Path
) -> None:
    gbif.truncate(path="/v1/occurrence/download/request/")
    first = await harvester(gbif, tmp_path, method="download").harvest("run-1")
    assert first.outcome == "failed"
    gbif.faults.clear()
    second = await harvester(gbif, tmp_path, method="download").harvest("run-2")
    assert (second.outcome, second.records) == ("ok", SAMPLE_ROWS)
    assert len(gbif.requests_to("/v1/occurrence/download/request", "POST")) == 1


@pytest.mark.usefixtures("account")
async def test_download__a_download_gbif_no_longer_knows_is_requested_anew(
    gbif: GbifReplay, tmp_path: Path
) -> None:
    gbif.fail(503, path=f"/v1/occurrence/download/{DOWNLOAD_KEY}")
    assert (await harvester(gbif, tmp_path, method="download").harvest("run-1")).outcome == "failed"
    pending = Store(tmp_path).cache() / "gbif-downloads" / "amanita.json"
    assert json.loads(pending.read_text())["key"] == DOWNLOAD_KEY
    gbif.faults.clear()
    gbif.downloads.clear()  # GBIF has erased it meanwhile: its status answers 404
    second = await harvester(gbif, tmp_path, method="download").harvest("run-2")
    assert second.outcome == "failed" and "HTTP 404" in second.error
    assert not pending.exists()
    third = await harvester(gbif, tmp_path, method="download").harvest("run-3")
    assert (third.outcome, third.records) == ("ok", SAMPLE_ROWS)
    assert len(gbif.requests_to("/v1/occurrence/download/request", "POST")) == 2


@pytest.mark.usefixtures("account")
async def test_download__an_archive_over_the_size_cap_is_refused(
    gbif: GbifReplay, tmp_path: Path
) -> None:
    result = await harvester(gbif, tmp_path, method="download", max_download_bytes=1000).harvest(
        "run-1"
    )
    assert result.outcome == "failed" and "narrow the query's predicate" in result.error
    assert gbif.requests_to(f"/v1/occurrence/download/request/{DOWNLOAD_KEY}.zip") == []


# -- predicates and records ------------------------------------------------------------
def test_translate__filters_become_search_parameters_and_a_download_predicate() -> None:
    query = translate(
        {
            "country": ["cn", "VN"],
            "basis_of_record": "PreservedSpecimen",
            "year": [1990, 2020],
            "bbox": [104.4, 20.9, 112.1, 26.4],
            "datasetKey": "d7dddbf4-2cf0-4f39-9b2a-bb099caae36c",
        }
    )
    assert query.search_params == {
        "country": ["CN", "VN"],
        "basisOfRecord": "PRESERVED_SPECIMEN",
        "year": "1990,2020",
        "decimalLongitude": "104.4,112.1",
        "decimalLatitude": "20.9,26.4",
        "datasetKey": "d7dddbf4-2cf0-4f39-9b2a-bb099caae36c",
        "checklistKey": None,
    }
    predicates = query.download_predicate["predicates"]
    assert predicates[0] == {"type": "in", "key": "COUNTRY", "values": ["CN", "VN"]}
    assert {"type": "greaterThanOrEquals", "key": "YEAR", "value": "1990"} in (
        predicates[2]["predicates"]
    )
    keys = [p.get("key") or p["predicates"][0]["key"] for p in predicates]
    assert keys == [
        "COUNTRY",
        "BASIS_OF_RECORD",
        "YEAR",
        "DATASET_KEY",
        "DECIMAL_LONGITUDE",
        "DECIMAL_LATITUDE",
    ]


def test_translate__a_clockwise_polygon_is_rewound_for_gbif() -> None:
    clockwise = "POLYGON((104.4 20.9, 104.4 26.4, 112.1 26.4, 112.1 20.9, 104.4 20.9))"
    query = translate({"geometry": clockwise})
    wkt = query.search_params["geometry"]
    assert wkt.replace(" ", "").startswith("POLYGON((104.420.9,112.120.9")
    assert query.download_predicate["predicates"] == [{"type": "within", "geometry": wkt}]


def test_translate__taxon_keys_pick_their_checklist() -> None:
    assert translate({"taxon_key": [3329049, 2683264]}).checklist_key is None
    assert translate({"taxonKey": "75F9"}).checklist_key == COL_XR_CHECKLIST
    assert (
        translate({"taxon_key": 1, "checklist_key": "abc"}).search_params["checklistKey"] == "abc"
    )


@pytest.mark.parametrize(
    ("predicate", "message"),
    [
        ({}, "no filter"),
        ({"family": "Gesneriaceae"}, "unknown filter"),
        ({"country": "China"}, "two-letter"),
        ({"bbox": [104.4, 20.9, 112.1]}, "min_lon"),
        ({"decimal_latitude": [-95, 10]}, "outside -90..90"),
        ({"year": [2020, 1990]}, "low <= high"),
        ({"geometry": "POINT(1 2)"}, "POLYGON"),
    ],
)
def test_translate__refuses_what_gbif_would_misread(
    predicate: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        translate(predicate)


async def test_harvest__an_invalid_predicate_fails_in_words(
    gbif: GbifReplay, tmp_path: Path
) -> None:
    result = await harvester(gbif, tmp_path, predicate={"family": "Gesneriaceae"}).harvest("r")
    assert result.outcome == "failed" and "predicate.family: unknown filter" in result.error
    assert gbif.seen == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://creativecommons.org/licenses/by/4.0/legalcode", "CC-BY-4.0"),
        ("https://creativecommons.org/licenses/by-nc/4.0/", "CC-BY-NC-4.0"),
        ("http://creativecommons.org/publicdomain/zero/1.0/legalcode", "CC0-1.0"),
        ("CC_BY_NC_4_0", "CC-BY-NC-4.0"),
        ("CC0_1_0", "CC0-1.0"),
        ("UNSPECIFIED", "UNSPECIFIED"),
        (None, None),
    ],
)
def test_licence_id__gbif_licences_become_spdx_ids(value: str | None, expected: str | None) -> None:
    assert licence_id(value) == expected


def test_canonical_columns__every_field_gbif_describes_keeps_its_name() -> None:
    # SIMPLE_PARQUET spells GBIF's field names in lower case (gbifid, decimallatitude, ...).
    names = list(describe_fields())
    table = pa.table({n.lower(): pa.array(["x"], pa.string()) for n in names})
    assert canonical_columns(table).column_names == names


def test_canonical_columns__lists_and_vocabulary_structs_become_text() -> None:
    concept = pa.struct([("concept", pa.string()), ("lineage", pa.list_(pa.string()))])
    table = pa.table(
        {
            "issue": pa.array([["ZERO_COORDINATE", "COUNTRY_INVALID"], []]),
            "recordedby": pa.array([["Lê Văn A", "Wei Li"], None]),
            "establishmentmeans": pa.array(
                [{"concept": "Native", "lineage": ["Native"]}, None], concept
            ),
            "gbifid": pa.array([1, 2], pa.int64()),
        }
    )
    text = canonical_columns(table).to_pydict()
    assert text["issue"] == ["ZERO_COORDINATE;COUNTRY_INVALID", None]
    assert text["recordedBy"] == ["Lê Văn A | Wei Li", None]
    assert text["establishmentMeans"] == ["Native", None]
    assert text["gbifID"] == ["1", "2"]
