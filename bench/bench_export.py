"""Benchmark: the Parquet export of millions of records across several sources.

Builds a node home whose store holds synthetic records in the stored layout (own datasets,
two peers' harvests, two GBIF queries), exports it in a fresh process (so peak RSS is the
export's own), exports again after one source changed and again with nothing changed, and
times the typical downstream question on the result: records per family per source.

    python -m bench.bench_export [ROWS]
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from node.store.records import to_stored_layout
from node.store.store import Store, write_parquet_atomic

NODE = "gxib"
CHUNK_ROWS = 250_000  # rows normalised and stored at a time while building the store
ROOT = Path(__file__).resolve().parents[1]

# (kind, source, dataset, share of the rows)
PARTITIONS = (
    ("local", NODE, "karst-flora", 0.15),
    ("local", NODE, "herbarium-ibk", 0.15),
    ("harvested", "vnmn", "northern-flora", 0.15),
    ("harvested", "iebr", "cuc-phuong", 0.10),
    ("gbif", "gbif", "guangxi-plantae", 0.30),
    ("gbif", "gbif", "vietnam-gesneriaceae", 0.15),
)
FAMILIES = [f"Family{i:03d}aceae" for i in range(120)]
GENERA = [f"Genus{i:04d}" for i in range(1_500)]
NAMES = [f"{g} epithet{j} Author{j % 7}." for g in GENERA[:600] for j in range(5)]
PROVINCES = ["Guangxi", "Yunnan", "Guizhou", "Cao Bằng", "Hà Giang", "Lạng Sơn"]

# Peak RSS from /proc's VmHWM: unlike ru_maxrss it starts afresh at exec, so the parent's
# memory (it built the store) is not counted in the child's peak.
_CHILD = """
import json, resource, sys, time
from pathlib import Path
import pyarrow.parquet as pq
from node.core.allocator import use_steady_allocators
from node.core.config import NodeConfig
from node.export.build import export
use_steady_allocators()

def peak_mb():
    try:
        with open("/proc/self/status") as status:
            line = next(x for x in status if x.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

home, out, crosswalk = sys.argv[1:4]
config = NodeConfig(home=Path(home), id="gxib", name="bench")
table = pq.read_table(crosswalk) if crosswalk else None
before = peak_mb()
cpu = time.process_time()
start = time.perf_counter()
result = export(config, out, table)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "cpu_seconds": time.process_time() - cpu,
    "rows": result.rows, "rewritten": len(result.rewritten), "reused": len(result.reused),
    "rss_before_mb": before, "peak_rss_mb": peak_mb()}))
"""


def _pick(rng: np.random.Generator, values: list[str], size: int) -> pa.Array:
    return pc.take(pa.array(values), pa.array(rng.integers(0, len(values), size)))


def _chunk(rng: np.random.Generator, prefix: str, first: int, size: int, gbif: bool) -> pa.Table:
    """Verbatim text columns, as a DwC-A or a GBIF download delivers them."""
    ids = pa.array(np.arange(first, first + size)).cast(pa.string())
    years = rng.integers(1950, 2025, size)
    months = rng.integers(1, 13, size)
    days = rng.integers(1, 29, size)
    parts = [pa.array(v).cast(pa.string()) for v in (years, months, days)]
    padded = [parts[0], *(pc.utf8_lpad(p, 2, "0") for p in parts[1:])]
    dates = pc.binary_join_element_wise(*padded, "-")
    genus_index = rng.integers(0, len(GENERA), size)
    columns: dict[str, pa.Array] = {
        "occurrenceID": pc.binary_join_element_wise(prefix, ids, ":"),
        "catalogNumber": pc.binary_join_element_wise("IBK", ids, ""),
        "basisOfRecord": _pick(rng, ["PreservedSpecimen", "HumanObservation"], size),
        "scientificName": _pick(rng, NAMES, size),
        "kingdom": pa.array(["Plantae"] * size),
        "family": _pick(rng, FAMILIES, size),
        "genus": pc.take(pa.array(GENERA), pa.array(genus_index)),
        "countryCode": _pick(rng, ["CN", "VN"], size),
        "stateProvince": _pick(rng, PROVINCES, size),
        "locality": _pick(rng, [f"Karst hill {i}" for i in range(5_000)], size),
        "recordedBy": _pick(rng, [f"Collector {i}" for i in range(400)], size),
        "decimalLatitude": pa.array(rng.uniform(20.9, 26.4, size).round(5)).cast(pa.string()),
        "decimalLongitude": pa.array(rng.uniform(102.1, 112.1, size).round(5)).cast(pa.string()),
        "year": parts[0],
        "month": parts[1],
        "day": parts[2],
        "eventDate": dates,
    }
    if gbif:
        columns["gbifID"] = pc.binary_join_element_wise("40", ids, "")
        columns["license"] = _pick(rng, ["CC-BY-4.0", "CC0-1.0", "CC-BY-NC-4.0"], size)
    return pa.table(columns)


def build_store(home: Path, rows: int, seed: int = 7) -> None:
    """Write synthetic stored datasets: normalised, with provenance, swapped in atomically."""
    rng = np.random.default_rng(seed)
    store = Store(home)
    for kind, source, dataset, share in PARTITIONS:
        count = int(rows * share)
        provenance: dict[str, object] = {"fed_source": source, "fed_dataset": dataset}
        if kind == "harvested":
            provenance |= {
                "fed_agreement": f"{NODE}-{source}@3",
                "fed_licence": "CC-BY-NC-4.0",
                "fed_harvest_run": f"{source}-run-1",
            }
        if kind == "local":
            provenance["fed_licence"] = "CC-BY-4.0"
        if kind == "local":
            path = store.local(dataset)
        elif kind == "harvested":
            path = store.harvested(source, dataset)
        else:
            path = store.gbif(dataset)
        chunks = (
            to_stored_layout(
                _chunk(
                    rng,
                    f"{source}:{dataset}",
                    first,
                    min(CHUNK_ROWS, count - first),
                    kind == "gbif",
                ),
                provenance,
            )
            for first in range(0, count, CHUNK_ROWS)
        )
        write_parquet_atomic(path, chunks)


def _crosswalk(path: Path) -> None:
    """Names without authorship, as a checklist gives them: the canonical-name pass works."""
    verbatim = [n.rsplit(" ", 1)[0] for n in NAMES]
    pq.write_table(
        pa.table(
            {
                "verbatim_name": verbatim,
                "accepted_name": verbatim,
                "match_kind": ["exact"] * len(verbatim),
            }
        ),
        path,
    )


def _export(home: Path, out: Path, crosswalk: Path | None) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, "-c", _CHILD, str(home), str(out), str(crosswalk or "")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


def _read_floor(home: Path, rows: int) -> dict[str, Any]:
    """The floor an export is compared with: reading the same stored Parquet in batches."""
    files = sorted(home.rglob("*.parquet"))
    start, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    for path in files:
        for _ in pq.ParquetFile(path).iter_batches(batch_size=65_536):
            pass
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "case": "floor: read the stored Parquet",
        "rows": rows,
        "seconds": time.perf_counter() - start,
        "cpu_seconds": after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime,
        "peak_rss_mb": None,
        "note": f"{len(files)} files",
    }


def _size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1024**2


def run(rows: int = 3_000_000) -> list[dict[str, Any]]:
    """Result rows: case, rows, seconds, CPU seconds and peak RSS (MB) of the exporting
    process where measured, and a note. Wall time is the number that matters to a user; CPU
    time is steadier when other work shares the machine."""
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="fednode-bench-export-") as tmp:
        home, out, crosswalk = Path(tmp) / "node", Path(tmp) / "exports", Path(tmp) / "cw.parquet"
        start = time.perf_counter()
        build_store(home, rows)
        _crosswalk(crosswalk)
        results.append(
            {
                "case": "build synthetic store",
                "rows": rows,
                "seconds": time.perf_counter() - start,
                "peak_rss_mb": None,
                "note": f"{len(PARTITIONS)} stored datasets, {_size_mb(home):.0f} MB",
            }
        )
        results.append(_read_floor(home, rows))
        first = _export(home, out, crosswalk)
        results.append(
            {
                "case": "export, first",
                "rows": first["rows"],
                "seconds": first["seconds"],
                "cpu_seconds": first["cpu_seconds"],
                "peak_rss_mb": first["peak_rss_mb"],
                "note": f"{first['rewritten']} partitions written, "
                f"{_size_mb(out / 'current'):.0f} MB; process before export "
                f"{first['rss_before_mb']:.0f} MB",
            }
        )
        store = Store(home)
        count = int(rows * PARTITIONS[2][3])
        rng = np.random.default_rng(11)
        write_parquet_atomic(
            store.harvested("vnmn", "northern-flora"),
            (
                to_stored_layout(
                    _chunk(rng, "vnmn:v2", i, min(CHUNK_ROWS, count - i), False),
                    {"fed_source": "vnmn", "fed_dataset": "northern-flora"},
                )
                for i in range(0, count, CHUNK_ROWS)
            ),
        )
        for case, outcome in (
            ("export, one source changed", _export(home, out, crosswalk)),
            ("export, nothing changed", _export(home, out, crosswalk)),
        ):
            results.append(
                {
                    "case": case,
                    "rows": outcome["rows"],
                    "seconds": outcome["seconds"],
                    "cpu_seconds": outcome["cpu_seconds"],
                    "peak_rss_mb": outcome["peak_rss_mb"],
                    "note": f"{outcome['rewritten']} written, {outcome['reused']} reused",
                }
            )
        query = (
            "SELECT source, family, count(*) AS records FROM read_parquet("
            f"'{out}/current/records/**/*.parquet', hive_partitioning = true) GROUP BY ALL"
        )
        with duckdb.connect() as con:
            for label in ("cold", "warm"):
                start = time.perf_counter()
                groups = len(con.sql(query).fetchall())
                results.append(
                    {
                        "case": f"DuckDB records per family per source ({label})",
                        "rows": first["rows"],
                        "seconds": time.perf_counter() - start,
                        "peak_rss_mb": None,
                        "note": f"{groups} groups",
                    }
                )
    return results


def _table(results: list[dict[str, Any]]) -> str:
    head = f"{'case':<46} {'rows':>10} {'seconds':>8} {'CPU s':>6} {'peak RSS MB':>11}  note"
    lines = [head]
    for r in results:
        rss = f"{r['peak_rss_mb']:.0f}" if r.get("peak_rss_mb") is not None else "-"
        cpu = f"{r['cpu_seconds']:.1f}" if r.get("cpu_seconds") is not None else "-"
        lines.append(
            f"{r['case']:<46} {r['rows']:>10,} {r['seconds']:>8.2f} {cpu:>6} {rss:>11}  {r['note']}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 3_000_000
    print(_table(run(count)))
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(this process, building the store and querying: peak RSS {own:.0f} MB)")
