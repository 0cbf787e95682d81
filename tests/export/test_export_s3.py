"""Exports to a real S3-compatible server (moto's, on loopback), read back by every reader."""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl
import pyarrow.dataset as ds
import pytest

from node.core.config import NodeConfig
from node.core.errors import ExportError
from node.export.build import export
from tests.export.test_export import config
from tests.s3server import KEY, REGION, SECRET, S3Server, free_port, s3_credentials, s3_server

__all__ = ["config", "s3_credentials", "s3_server"]  # fixtures, used by name

T0 = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
EXPECTED = {
    ("gxib", "karst-flora", 3),
    ("vnmn", "northern-flora", 2),
    ("gbif", "karst-gesneriaceae", 2),
}


@pytest.mark.usefixtures("s3_credentials")
def test_export_s3__read_back_by_pyarrow_polars_and_duckdb(
    config: NodeConfig, s3_server: S3Server
) -> None:
    s3_server.create_bucket("exports-readback")
    result = export(config, s3_server.uri("exports-readback/gxib"), now=T0)

    # The path printed for readers opens as it is, endpoint included, and shows no secret.
    path = f"exports-readback/gxib/{result.version}/records"
    assert result.records_path == (
        f"s3://{path}?endpoint_override={s3_server.endpoint.replace(':', '%3A')}&scheme=http"
    )
    dataset = ds.dataset(result.records_path, format="parquet", partitioning="hive")
    counts = dataset.to_table().group_by(["source", "dataset"]).aggregate([([], "count_all")])
    assert {tuple(r.values()) for r in counts.to_pylist()} == EXPECTED

    options = {
        "aws_endpoint_url": s3_server.url, "aws_access_key_id": KEY,
        "aws_secret_access_key": SECRET, "aws_region": REGION, "aws_allow_http": "true",
    }  # fmt: skip
    frame = (
        pl.scan_parquet(
            f"s3://{path}/**/*.parquet", storage_options=options, hive_partitioning=True
        )
        .group_by("source", "dataset")
        .len()
        .collect()
    )
    assert set(frame.iter_rows()) == EXPECTED

    # DuckDB reads object storage through its httpfs extension, which it downloads on first
    # use; offline it scans the same S3 dataset through Arrow.
    records = ds.dataset(path, filesystem=s3_server.filesystem(), partitioning="hive")
    with duckdb.connect() as con:
        con.register("records", records)
        rows = con.sql("SELECT source, dataset, count(*) FROM records GROUP BY ALL").fetchall()
    assert set(rows) == EXPECTED


@pytest.mark.usefixtures("s3_credentials")
def test_export_s3__a_missing_bucket_is_one_line_and_writes_nothing(
    config: NodeConfig, s3_server: S3Server
) -> None:
    with pytest.raises(ExportError) as caught:
        export(config, s3_server.uri("no-such-bucket/gxib"), now=T0)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("cannot export to s3://no-such-bucket/gxib:")
    assert "no-such-bucket" in message and SECRET not in message
    assert "no-such-bucket" not in {i.base_name for i in s3_server.filesystem().get_file_info(
        __import__("pyarrow.fs").fs.FileSelector("/"))}  # fmt: skip


@pytest.mark.usefixtures("s3_credentials")
def test_export_s3__an_unreachable_server_is_one_line(config: NodeConfig) -> None:
    endpoint = f"127.0.0.1:{free_port()}"  # nothing listens there
    uri = f"s3://exports/gxib?endpoint_override={endpoint}&scheme=http&connect_timeout=1"
    with pytest.raises(ExportError) as caught:
        export(config, uri, now=T0)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("cannot export to s3://exports/gxib:")


@pytest.mark.usefixtures("s3_credentials")
def test_export_s3__credentials_in_the_uri_are_never_printed(
    config: NodeConfig, s3_server: S3Server
) -> None:
    s3_server.create_bucket("exports-secret")
    uri = (
        f"s3://{KEY}:{SECRET}@exports-secret/gxib?endpoint_override={s3_server.endpoint}"
        "&scheme=http"
    )
    result = export(config, uri, now=T0)
    assert SECRET not in result.records_path and SECRET not in result.root
