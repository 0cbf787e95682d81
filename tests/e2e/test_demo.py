"""`fednode demo` end to end: two daemons as processes, real HTTP, every step's evidence."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
from dwca.read import DwCAReader


def test_demo__runs_the_whole_federation_and_keeps_the_homes(tmp_path: Path) -> None:
    root = tmp_path / "fed"
    done = subprocess.run(
        [sys.executable, "-m", "node", "demo", "--dir", str(root), "--keep"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "published version 1.0, 258 records" in out
    assert "state: active" in out
    assert "vnmn <- peer:gxib: ok" in out and "gxib <- peer:vnmn: ok" in out
    assert "unchanged, 0 records" in out  # the second harvest cost one 304
    assert "HTTP 404" in out  # an unsigned request is told nothing about what exists
    assert "The audit log is intact" in out
    assert out.count("daemon stopped (exit 0)") == 2

    # What vnmn received obeys the agreement: scope, withheld collectors, generalisation.
    received = pq.read_table(
        root / "vnmn" / "store" / "harvested" / "gxib" / "gxib-karst-occurrences" / "part-0.parquet"
    )
    assert set(received.column("family").to_pylist()) <= {"Gesneriaceae", "Begoniaceae"}
    assert set(received.column("recordedBy").to_pylist()) == {
        "withheld under agreement gxib-vnmn@1"
    }
    for row in received.filter(received.column("fed_generalised")).to_pylist():
        assert row["iucnRedListCategory"] in ("CR", "EN")
        assert round(row["decimalLatitude"] * 10) == row["decimalLatitude"] * 10
        assert row["locality"] == ""
    assert set(received.column("fed_agreement").to_pylist()) == {"gxib-vnmn@1"}

    # The published archive reads back with python-dwca-reader, every record.
    versions = root / "gxib" / "store" / "archives" / "gxib-karst-checklist"
    archive = next(versions.glob("*/dwca.zip"))
    with DwCAReader(str(archive)) as reader:
        rows = list(reader)
        names = [
            ext.data.get("http://rs.tdwg.org/dwc/terms/vernacularName")
            for row in rows
            for ext in row.extensions
        ]
    assert len(rows) == 258
    assert len([n for n in names if n]) == 258

    # The export answers a downstream question in DuckDB.
    records = root / "gxib" / "store" / "exports" / "current" / "records"
    sources = duckdb.sql(
        f"SELECT DISTINCT source FROM read_parquet('{records}/**/*.parquet', "
        "hive_partitioning=true)"
    ).fetchall()
    assert {s for (s,) in sources} == {"gxib", "vnmn"}
