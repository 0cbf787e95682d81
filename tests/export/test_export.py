"""The Parquet export, read back the way downstream users read it: pyarrow, DuckDB, pandas,
polars. Stored datasets are built in a temporary node home with `to_stored_layout` and
`write_parquet_atomic`, exactly as publishing and harvesting store them."""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from node.core import constants
from node.core.config import DatasetConfig, NodeConfig
from node.core.errors import ConfigError, InvalidInput
from node.core.terms import KNOWN_TERMS
from node.export.build import ExportError, export
from node.export.schema import (
    DOCS_END,
    DOCS_PATH,
    DOCS_START,
    DWC_COLUMNS,
    EXPORT_SCHEMA,
    SCHEMA_JSON_PATH,
    TERMS_NOT_COLUMNS,
    canonical_name,
    columns_markdown,
    schema_document,
    schema_from_document,
)
from node.store.records import to_stored_layout
from node.store.store import PART_NAME, Store, write_parquet_atomic

NODE = "gxib"
T0 = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(hours=6)
T2 = T0 + dt.timedelta(hours=12)
AGREEMENT = {
    "fed_agreement": "gxib-vnmn@3",
    "fed_licence": "CC-BY-NC-4.0",
    "fed_harvest_run": "run-1",
}
CROSSWALK = pa.table(
    {
        "verbatim_name": ["Primulina eburnea", "Chirita eburnea Hance", "Begonia masoniana"],
        "accepted_name": ["Primulina eburnea", "Primulina eburnea", "Begonia masoniana"],
        "match_kind": ["exact", "synonym", "exact"],
    }
)


def _store(path: Path, columns: dict[str, list[str | None]], provenance: dict[str, str]) -> None:
    write_parquet_atomic(path, [to_stored_layout(pa.table(columns), provenance)])


def _own(store: Store) -> None:
    _store(
        store.local("karst-flora"),
        {
            "occurrenceID": ["gx-1", "gx-2", "gx-3"],
            "scientificName": [
                "Primulina eburnea (Hance) Mich.Möller & A.Weber",
                "Begonia masoniana Irmsch.",
                "Paraboea rufescens var. glabra Z.Y.Li",
            ],
            "family": ["Gesneriaceae", "Begoniaceae", "Gesneriaceae"],
            "decimalLatitude": ["22.81", "23.1", "95.2"],
            "decimalLongitude": ["108.32", "not a number", "107.9"],
            "year": ["2019", "2020", "2021"],
            "eventDate": ["2019-05-04", "2020-06", "2021"],
        },
        {"fed_source": NODE, "fed_dataset": "karst-flora"},
    )


def _peer(store: Store, families: tuple[str, str] = ("Gesneriaceae", "Begoniaceae")) -> None:
    table = to_stored_layout(
        pa.table(
            {
                "occurrenceID": ["vn-1", "vn-2"],
                "scientificName": ["Chirita eburnea Hance", "Begonia masoniana Irmsch."],
                "family": list(families),
                "decimalLatitude": ["21.9", "22.4"],
                "year": ["2022", "2023"],
                "eventDate": ["2022-03-01/2022-03-15", "2023"],
                "habitatType": ["limestone cliff", None],
            }
        ),
        {"fed_source": "vnmn", "fed_dataset": "northern-flora", **AGREEMENT},
    ).append_column("fed_vernacular_vi", pa.array(["Song bàn ngà", None]))
    write_parquet_atomic(store.harvested("vnmn", "northern-flora"), [table])


def _gbif(store: Store) -> None:
    # A GBIF query result without `family` and `eventDate`: those are null in the export.
    _store(
        store.gbif("karst-gesneriaceae"),
        {
            "gbifID": ["4011", "4012"],
            "occurrenceID": ["g-1", "g-2"],
            "scientificName": ["Primulina eburnea (Hance) Mich.Möller & A.Weber", "Unmatched x"],
            "decimalLatitude": ["24.0", "24.5"],
            "year": ["2015", "2016"],
            "license": ["CC-BY-4.0", "CC-BY-NC-4.0"],
        },
        {"fed_source": "gbif", "fed_dataset": "karst-gesneriaceae"},
    )


@pytest.fixture
def config(tmp_path: Path) -> NodeConfig:
    home = tmp_path / "node"
    store = Store(home)
    _own(store)
    _peer(store)
    _gbif(store)
    flora = DatasetConfig(
        id="karst-flora",
        title="Karst flora",
        type="occurrence",
        source="x.csv",
        licence="CC-BY-4.0",
    )
    return NodeConfig(home=home, id=NODE, name="Guangxi Institute of Botany", datasets=(flora,))


def _records(out: Path) -> str:
    return f"{out}/current/records/**/*.parquet"


def _sql(query: str) -> list[tuple]:
    with duckdb.connect() as con:
        return con.sql(query).fetchall()


def _files(out: Path) -> dict[str, os.stat_result]:
    root = (out / "current").resolve()
    return {str(p.relative_to(root)): p.stat() for p in root.rglob("*.parquet")}


def test_export__every_source_in_one_hive_dataset_read_by_pyarrow_duckdb_pandas_polars(
    config: NodeConfig, tmp_path: Path
) -> None:
    out = tmp_path / "exports"
    result = export(config, out, now=T0)

    assert result.records_path == str(out / "current" / "records")
    expected = {
        (NODE, "karst-flora", 3),
        ("vnmn", "northern-flora", 2),
        ("gbif", "karst-gesneriaceae", 2),
    }
    dataset = ds.dataset(result.records_path, format="parquet", partitioning="hive")
    counts = dataset.to_table().group_by(["source", "dataset"]).aggregate([([], "count_all")])
    assert {tuple(r.values()) for r in counts.to_pylist()} == expected
    rows = _sql(
        f"SELECT source, dataset, count(*) FROM read_parquet('{_records(out)}', "
        "hive_partitioning = true) GROUP BY ALL"
    )
    assert set(rows) == expected
    frame = pd.read_parquet(result.records_path)
    assert len(frame) == 7 and set(frame["source"].astype(str)) == {NODE, "vnmn", "gbif"}
    assert frame["decimalLatitude"].dtype == "float64"
    polars = (
        pl.scan_parquet(_records(out), hive_partitioning=True).group_by("source").len().collect()
    )
    assert dict(polars.iter_rows()) == {NODE: 3, "vnmn": 2, "gbif": 2}


def test_export__numeric_and_date_terms_are_typed_in_every_file(
    config: NodeConfig, tmp_path: Path
) -> None:
    out = tmp_path / "exports"
    export(config, out, now=T0)

    for path in (out / "current" / "records").rglob("*.parquet"):
        assert ds.dataset(path).schema.remove_metadata() == EXPORT_SCHEMA
    types = dict(
        _sql(
            "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet("
            f"'{_records(out)}', hive_partitioning = true))"
        )
    )
    assert types["decimalLatitude"] == "DOUBLE"
    assert types["year"] == "INTEGER"
    assert types["fed_issues"] == "VARCHAR[]"
    assert types["fed_event_start"] == "DATE"
    assert types["fed_generalised"] == "BOOLEAN"
    assert types["source"] == types["dataset"] == "VARCHAR"
    start, end = _sql(
        f"SELECT fed_event_start, fed_event_end FROM read_parquet('{_records(out)}', "
        "hive_partitioning = true) WHERE occurrenceID = 'vn-1'"
    )[0]
    assert (start, end) == (dt.date(2022, 3, 1), dt.date(2022, 3, 15))


def test_export__column_absent_in_a_source_is_null(config: NodeConfig, tmp_path: Path) -> None:
    out = tmp_path / "exports"
    export(config, out, now=T0)

    rows = _sql(
        f"SELECT source, count(family), count(eventDate), count(gbifID) FROM read_parquet("
        f"'{_records(out)}', hive_partitioning = true) GROUP BY ALL"
    )
    assert set(rows) == {(NODE, 3, 3, 0), ("vnmn", 2, 2, 0), ("gbif", 0, 0, 2)}


def test_export__unknown_columns_kept_as_text_and_failed_casts_kept_verbatim(
    config: NodeConfig, tmp_path: Path
) -> None:
    out = tmp_path / "exports"
    export(config, out, now=T0)

    rows = dict(
        _sql(
            f"SELECT occurrenceID, fed_extra['habitatType'] FROM read_parquet('{_records(out)}', "
            "hive_partitioning = true) WHERE source = 'vnmn'"
        )
    )
    assert rows == {"vn-1": "limestone cliff", "vn-2": None}
    longitude, verbatim, issues = _sql(
        f"SELECT decimalLongitude, fed_verbatim['decimalLongitude'], fed_issues FROM "
        f"read_parquet('{_records(out)}', hive_partitioning = true) WHERE occurrenceID = 'gx-2'"
    )[0]
    assert (longitude, verbatim, issues) == (None, "not a number", ["COORDINATE_INVALID"])
    vernacular = _sql(
        f"SELECT fed_vernacular_vi FROM read_parquet('{_records(out)}', "
        "hive_partitioning = true) WHERE occurrenceID = 'vn-1'"
    )
    assert vernacular == [("Song bàn ngà",)]


def test_export__licence_lets_users_leave_out_non_commercial_records(
    config: NodeConfig, tmp_path: Path
) -> None:
    out = tmp_path / "exports"
    export(config, out, now=T0)

    licences = dict(
        _sql(
            f"SELECT occurrenceID, fed_licence FROM read_parquet('{_records(out)}', "
            "hive_partitioning = true)"
        )
    )
    # Agreement flow licence, the node's dataset licence, GBIF's per-record licence.
    assert licences == {
        "gx-1": "CC-BY-4.0",
        "gx-2": "CC-BY-4.0",
        "gx-3": "CC-BY-4.0",
        "vn-1": "CC-BY-NC-4.0",
        "vn-2": "CC-BY-NC-4.0",
        "g-1": "CC-BY-4.0",
        "g-2": "CC-BY-NC-4.0",
    }
    dataset = ds.dataset(out / "current" / "records", partitioning="hive")
    kept = dataset.to_table(filter=~ds.field("fed_licence").isin(["CC-BY-NC-4.0"]))
    assert sorted(kept.column("occurrenceID").to_pylist()) == ["g-1", "gx-1", "gx-2", "gx-3"]


def test_export__licences_in_one_form_with_their_url_own_records_included(
    config: NodeConfig, tmp_path: Path
) -> None:
    # A peer that stored its flow's licence as a URL, and GBIF records labelled by title.
    _store(
        Store(config.home).harvested("vnmn", "checklist"),
        {"occurrenceID": ["vn-9"], "scientificName": ["Begonia masoniana Irmsch."]},
        {
            "fed_source": "vnmn",
            "fed_dataset": "checklist",
            "fed_licence": "https://www.gnu.org/licenses/old-licenses/gpl-2.0.html",
        },
    )
    out = tmp_path / "exports"
    export(config, out, now=T0)
    rows = {
        r[0]: r[1:]
        for r in _sql(
            f"SELECT occurrenceID, fed_licence, license FROM read_parquet('{_records(out)}', "
            "hive_partitioning = true)"
        )
    }
    by = "http://creativecommons.org/licenses/by/4.0/legalcode"
    assert rows["gx-1"] == ("CC-BY-4.0", by)  # own records carry their licence
    assert rows["vn-9"] == (
        "GPL-2.0-only",
        "https://www.gnu.org/licenses/old-licenses/gpl-2.0.html",
    )
    assert rows["g-2"][0] == "CC-BY-NC-4.0"
    # One form: a case-insensitive filter on the id leaves out every non-commercial record.
    kept = _sql(
        f"SELECT occurrenceID FROM read_parquet('{_records(out)}', hive_partitioning = true) "
        "WHERE fed_licence NOT ILIKE '%by-nc%' ORDER BY occurrenceID"
    )
    assert [r[0] for r in kept] == ["g-1", "gx-1", "gx-2", "gx-3", "vn-9"]


def test_export__crosswalk_matches_verbatim_then_canonical_name_and_is_written_beside(
    config: NodeConfig, tmp_path: Path
) -> None:
    out = tmp_path / "exports"
    export(config, out, CROSSWALK, now=T0)

    rows = {
        r[0]: r[1:]
        for r in _sql(
            "SELECT occurrenceID, fed_accepted_name, fed_match_kind, fed_match_on FROM "
            f"read_parquet('{_records(out)}', hive_partitioning = true)"
        )
    }
    assert rows["vn-1"] == ("Primulina eburnea", "synonym", "scientificName")
    assert rows["gx-1"] == ("Primulina eburnea", "exact", "canonical")
    assert rows["gx-2"] == ("Begonia masoniana", "exact", "canonical")
    assert rows["gx-3"] == rows["g-2"] == (None, None, None)
    crosswalk = pd.read_parquet(out / "current" / "crosswalk" / "part-0.parquet")
    assert list(crosswalk.columns) == ["verbatim_name", "accepted_name", "match_kind"]
    assert len(crosswalk) == 3


def test_export__crosswalk_with_two_accepted_names_for_one_name_is_refused(
    config: NodeConfig, tmp_path: Path
) -> None:
    ambiguous = pa.table(
        {
            "verbatim_name": ["Begonia x", "Begonia x"],
            "accepted_name": ["B. a", "B. b"],
            "match_kind": ["fuzzy", "fuzzy"],
        }
    )
    with pytest.raises(InvalidInput, match="Begonia x"):
        export(config, tmp_path / "exports", ambiguous, now=T0)
    with pytest.raises(InvalidInput, match="missing column"):
        export(config, tmp_path / "exports", ambiguous.drop_columns(["match_kind"]), now=T0)


def test_canonical_name__drops_authorship_keeps_rank_marker() -> None:
    names = pa.array(
        [
            "Primulina eburnea (Hance) Mich.Möller & A.Weber",
            "Paraboea rufescens ssp. glabra Z.Y.Li",
            "Begonia × buimontana Yamam.",
            "Camellia sp.",
            "  Primulina   eburnea ",
            "闭鞘姜",
            None,
        ]
    )
    assert canonical_name(names).to_pylist() == [
        "Primulina eburnea",
        "Paraboea rufescens subsp. glabra",
        "Begonia ×buimontana",
        "Camellia",
        "Primulina eburnea",
        None,
        None,
    ]


def test_export__manifest_lists_sources_runs_agreements_licences_counts_and_hashes(
    config: NodeConfig, tmp_path: Path
) -> None:
    out = tmp_path / "exports"
    result = export(config, out, CROSSWALK, now=T0)

    manifest = json.loads((out / "current" / "manifest.json").read_text())
    assert manifest == result.manifest
    assert json.loads((out / "current.json").read_text())["version"] == manifest["version"]
    assert manifest["schema_version"] == 1 and manifest["node"] == NODE
    assert manifest["created"] == "2026-11-23T08:00:00Z"
    assert manifest["sources"] == ["gbif", NODE, "vnmn"] and manifest["rows"] == 7
    assert manifest["agreements"] == ["gxib-vnmn@3"]
    assert {(x["licence"], x["records"]) for x in manifest["licences"]} == {
        ("CC-BY-4.0", 4),
        ("CC-BY-NC-4.0", 3),
    }
    peer = next(p for p in manifest["partitions"] if p["source"] == "vnmn")
    assert peer["harvest_runs"] == ["run-1"] and peer["agreements"] == ["gxib-vnmn@3"]
    assert peer["rows"] == 2 and peer["kind"] == "harvested"
    link = Store(config.home).harvested("vnmn", "northern-flora")
    assert peer["snapshot"] == os.readlink(link)
    version = out / manifest["version"]
    for entry in [*(f for p in manifest["partitions"] for f in p["files"]), manifest["crosswalk"]]:
        data = (version / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert len(data) == entry["bytes"]


def test_export__filter_on_source_reads_only_that_partition(
    config: NodeConfig, tmp_path: Path
) -> None:
    out = tmp_path / "exports"
    export(config, out, now=T0)

    plan = _sql(
        f"EXPLAIN SELECT count(*) FROM read_parquet('{_records(out)}', hive_partitioning = true)"
        " WHERE source = 'vnmn'"
    )[0][1]
    assert "Scanning Files: 1/3" in plan
    dataset = ds.dataset(out / "current" / "records", partitioning="hive")
    fragments = list(dataset.get_fragments(filter=ds.field("source") == "vnmn"))
    assert [Path(f.path).parent.parent.name for f in fragments] == ["source=vnmn"]


def test_export__second_export_rewrites_only_the_changed_partition(
    config: NodeConfig, tmp_path: Path
) -> None:
    out = tmp_path / "exports"
    first = export(config, out, now=T0)
    before = _files(out)
    _peer(Store(config.home), families=("Gesneriaceae", "Gesneriaceae"))  # a new harvest

    second = export(config, out, now=T1)

    assert second.rewritten == ["vnmn/northern-flora"]
    assert sorted(second.reused) == ["gbif/karst-gesneriaceae", f"{NODE}/karst-flora"]
    after = _files(out)
    for name, stat in after.items():
        if "source=vnmn" in name:
            assert name not in before  # a new build id, a new file name
        else:
            assert (stat.st_ino, stat.st_mtime_ns) == (
                before[name].st_ino,
                before[name].st_mtime_ns,
            )
    status = {p["source"]: (p["status"], p["written_in"]) for p in second.manifest["partitions"]}
    assert status == {
        NODE: ("reused", first.version),
        "gbif": ("reused", first.version),
        "vnmn": ("written", second.version),
    }
    rows = _sql(
        f"SELECT family, count(*) FROM read_parquet('{_records(out)}', hive_partitioning = true)"
        " WHERE source = 'vnmn' GROUP BY ALL"
    )
    assert rows == [("Gesneriaceae", 2)]


def test_export__new_crosswalk_rewrites_every_partition(config: NodeConfig, tmp_path: Path) -> None:
    out = tmp_path / "exports"
    export(config, out, now=T0)
    unchanged = export(config, out, now=T1)
    changed = export(config, out, CROSSWALK, now=T2)

    assert unchanged.rewritten == []
    assert len(changed.rewritten) == 3 and changed.reused == []


def test_export__failure_midway_leaves_previous_export_readable_and_intact(
    config: NodeConfig, tmp_path: Path
) -> None:
    out = tmp_path / "exports"
    first = export(config, out, now=T0)
    store = Store(config.home)
    _peer(store, families=("Gesneriaceae", "Gesneriaceae"))  # rewritten before GBIF fails
    _gbif(store)
    (store.gbif("karst-gesneriaceae") / PART_NAME).write_bytes(b"PAR1 truncated harvest")

    with pytest.raises(ExportError, match=r"gbif/karst-gesneriaceae.*previous export"):
        export(config, out, now=T1)

    assert json.loads((out / "current.json").read_text())["version"] == first.version
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("v-")) == [first.version]
    for part in first.manifest["partitions"]:
        for f in part["files"]:
            data = (out / "current" / f["path"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == f["sha256"]
    rows = _sql(
        f"SELECT source, family, count(*) FROM read_parquet('{_records(out)}', "
        "hive_partitioning = true) WHERE source = 'vnmn' GROUP BY ALL ORDER BY family"
    )
    assert rows == [("vnmn", "Begoniaceae", 1), ("vnmn", "Gesneriaceae", 1)]


def test_export__keeps_the_previous_version_and_deletes_older_ones(
    config: NodeConfig, tmp_path: Path
) -> None:
    out = tmp_path / "exports"
    versions = [export(config, out, now=t).version for t in (T0, T1, T2)]

    kept = sorted(p.name for p in out.iterdir() if p.name.startswith("v-"))
    assert kept == sorted(versions[-constants.EXPORT_VERSIONS_KEPT :])
    assert os.readlink(out / "current") == versions[-1]


def test_export__file_uri_writes_the_same_export(config: NodeConfig, tmp_path: Path) -> None:
    out = tmp_path / "exports"
    result = export(config, out.as_uri(), now=T0)

    assert result.records_path == str(out / "current" / "records")
    assert _sql(
        f"SELECT count(*) FROM read_parquet('{_records(out)}', hive_partitioning = true)"
    ) == [(7,)]


def test_export__object_store_layout_has_pointer_file_and_no_symlink(
    config: NodeConfig, tmp_path: Path
) -> None:
    # A SubTreeFileSystem is not a LocalFileSystem, so the export treats it as S3 would be
    # treated: no symbolic link, unchanged partitions copied through the file system.
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    fs = pafs.SubTreeFileSystem(str(bucket), pafs.LocalFileSystem())
    first = export(config, "fednode/gxib", now=T0, filesystem=fs)
    _peer(Store(config.home), families=("Gesneriaceae", "Gesneriaceae"))
    second = export(config, "fednode/gxib", now=T1, filesystem=fs)

    root = bucket / "fednode" / "gxib"
    assert not (root / "current").exists()
    pointer = json.loads((root / "current.json").read_text())
    assert pointer["version"] == second.version
    assert second.records_path == f"fednode/gxib/{second.version}/records"
    assert len(second.reused) == 2 and second.rewritten == ["vnmn/northern-flora"]
    assert sorted(p.name for p in root.iterdir() if p.name.startswith("v-")) == sorted(
        [first.version, second.version]
    )
    dataset = ds.dataset(second.records_path, filesystem=fs, partitioning="hive")
    assert dataset.count_rows() == 7
    assert dataset.count_rows(filter=ds.field("source") == "gbif") == 2


def test_export__large_partitions_roll_into_several_files(
    config: NodeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(constants, "EXPORT_BATCH_ROWS", 1)
    monkeypatch.setattr(constants, "EXPORT_MAX_ROWS_PER_FILE", 2)
    out = tmp_path / "exports"
    result = export(config, out, now=T0)

    own = next(p for p in result.manifest["partitions"] if p["source"] == NODE)
    assert [f["rows"] for f in own["files"]] == [2, 1]
    assert _sql(
        f"SELECT count(*) FROM read_parquet('{_records(out)}', hive_partitioning = true)"
    ) == [(7,)]


def test_export__peer_named_like_this_node_is_refused(config: NodeConfig, tmp_path: Path) -> None:
    _store(Store(config.home).harvested(NODE, "copy"), {"occurrenceID": ["x"]}, {})
    with pytest.raises(ConfigError, match="rename the peer"):
        export(config, tmp_path / "exports", now=T0)


def test_export__second_exporter_on_the_same_folder_is_refused(
    config: NodeConfig, tmp_path: Path
) -> None:
    out = tmp_path / "exports"
    out.mkdir()
    with open(out / ".export.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(ExportError, match="another export"):
            export(config, out, now=T0)


def test_export_schema__json_and_docs_match_the_code() -> None:
    document = json.loads(SCHEMA_JSON_PATH.read_text(encoding="utf-8"))
    assert document == schema_document(), "run `python -m node.export.schema`"
    assert schema_from_document(document) == EXPORT_SCHEMA
    docs = DOCS_PATH.read_text(encoding="utf-8")
    generated = docs.split(DOCS_START, 1)[1].split(DOCS_END, 1)[0]
    assert generated.strip() == columns_markdown().strip(), "run `python -m node.export.schema`"


def test_export_schema__has_a_column_for_every_known_term() -> None:
    assert set(DWC_COLUMNS) >= KNOWN_TERMS - TERMS_NOT_COLUMNS
    assert len(set(EXPORT_SCHEMA.names)) == len(EXPORT_SCHEMA.names)
    assert not {"source", "dataset"} & set(EXPORT_SCHEMA.names)  # the hive keys


def test_export__plain_folder_of_an_older_store_layout_is_identified_by_content(
    config: NodeConfig, tmp_path: Path
) -> None:
    legacy = Store(config.home).local("legacy-specimens")
    legacy.mkdir(parents=True)
    table = to_stored_layout(pa.table({"occurrenceID": ["old-1"], "family": ["Gesneriaceae"]}), {})
    pq.write_table(table, legacy / PART_NAME)
    out = tmp_path / "exports"

    first = export(config, out, now=T0)
    second = export(config, out, now=T1)

    entry = next(p for p in first.manifest["partitions"] if p["dataset"] == "legacy-specimens")
    assert entry["snapshot"].startswith("sha256:") and entry["rows"] == 1
    assert f"{NODE}/legacy-specimens" in second.reused


def test_export__empty_stored_dataset_is_an_empty_readable_partition(
    config: NodeConfig, tmp_path: Path
) -> None:
    schema = to_stored_layout(pa.table({"occurrenceID": ["x"]}), {}).schema
    write_parquet_atomic(Store(config.home).gbif("no-results"), [], schema=schema)
    out = tmp_path / "exports"
    result = export(config, out, now=T0)

    entry = next(p for p in result.manifest["partitions"] if p["dataset"] == "no-results")
    assert entry["rows"] == 0 and len(entry["files"]) == 1
    assert _sql(
        f"SELECT count(*) FROM read_parquet('{_records(out)}', hive_partitioning = true) "
        "WHERE dataset = 'no-results'"
    ) == [(0,)]


def test_export__text_in_typed_columns_of_older_data_is_cast_and_kept_verbatim(
    config: NodeConfig, tmp_path: Path
) -> None:
    raw = pa.table(
        {
            "occurrenceID": ["old-1", "old-2"],
            "decimalLatitude": ["22.5", "north"],
            "year": ["1998", "1998.5"],
        }
    )
    write_parquet_atomic(Store(config.home).harvested("vnmn", "old-harvest"), [raw])
    out = tmp_path / "exports"
    export(config, out, now=T0)

    rows = _sql(
        "SELECT occurrenceID, decimalLatitude, year, fed_verbatim FROM read_parquet("
        f"'{_records(out)}', hive_partitioning = true) WHERE dataset = 'old-harvest' ORDER BY 1"
    )
    assert rows == [
        ("old-1", 22.5, 1998, None),
        ("old-2", None, None, {"decimalLatitude": "north", "year": "1998.5"}),
    ]
