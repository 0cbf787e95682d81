"""Enforcement speed: one flow with every rule kind over a million synthetic records.

Beside it, the same rules written as a plain per-record Python loop (rows converted to
dicts and back), run on a tenth of the records and scaled up, which is what vectorising
with pyarrow.compute buys. Run alone with `python -m bench.bench_enforce [ROWS]`.

`streamed(rows)` measures enforcement as the node serves it: a stored Parquet read in
batches and enforced batch by batch, in a child process for an honest peak RSS, beside
the floor of reading the same Parquet in the same batches.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agreements.enforce import enforce
from agreements.model import Agreement, Flow
from agreements.parse import parse_agreement
from agreements.signing import public_key_to_text, sign
from bench.bench_reader import WORK
from bench.measure import cpu_seconds, emit, run_child
from node.core.dates import parse_event_date
from node.core.licences import licence_url
from node.store.records import to_stored_layout

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
DATASET = "gxib-karst-flora"
NAIVE_FRACTION = 10  # the per-record loop runs on rows / 10 and is scaled up
FAMILIES = ["Gesneriaceae", "Orchidaceae", "Begoniaceae", "Lauraceae", "Urticaceae"]
THREATS = [
    "CR", "EN", "VU", "NT", "LC", "EN B1ab(iii)", "极危", "濒危（EN）", "Appendix II",
    *[None] * 15,
]  # fmt: skip

FLOW = """
[[flows]]
from = "gxib"
to = "vnmn"
datasets = ["gxib-karst-flora"]
licence = "CC-BY-NC-4.0"
attribution = "Guangxi Institute of Botany (GXIB)"
taxa = { include = ["Gesneriaceae", "Orchidaceae", "Begoniaceae"], exclude = ["Genus7"] }
region = { countries = ["CN", "VN"], bbox = [104.4, 20.9, 112.1, 26.4] }
basis_of_record = ["PreservedSpecimen", "HumanObservation"]
embargo_days = 365
withhold = ["recordedBy", "recordNumber"]
keep = ["habitat"]
opaque_ids = true

[[flows.sensitive]]
threat = ["CR"]
action = "withhold"

[[flows.sensitive]]
threat = ["EN", "VU"]
action = "generalise"
grid_degrees = 0.1
clear = ["locality", "verbatimLocality"]

[[flows.sensitive]]
names = "protected.csv"
names_sha256 = "{digest}"
action = "generalise"
grid_degrees = 0.01
clear = ["locality"]
"""


def synthetic_records(rows: int, seed: int = 2026) -> pa.Table:
    """Karst-flora-like records: 5 families, 60 genera, 3,000 names, dates 2010-2026."""
    rng = random.Random(seed)
    names = [f"Genus{g} species{s} Author" for g in range(60) for s in range(50)]
    family_of = {f"Genus{g}": FAMILIES[g % len(FAMILIES)] for g in range(60)}
    picked = rng.choices(names, k=rows)
    days = [(dt.date(2010, 1, 1) + dt.timedelta(days=d)).isoformat() for d in range(6000)]

    def pool(values: list[str | None]) -> list[str | None]:
        return rng.choices(values, k=rows)

    lat = [f"{rng.uniform(20.0, 27.0):.5f}" for _ in range(1000)] + [None]
    lon = [f"{rng.uniform(103.0, 113.0):.5f}" for _ in range(1000)] + [None]
    text = {
        "occurrenceID": [f"gxib:{i}" for i in range(rows)],
        "basisOfRecord": pool(["PreservedSpecimen", "HUMAN_OBSERVATION", "FossilSpecimen"]),
        "family": [family_of[n.split()[0]] for n in picked],
        "genus": [n.split()[0] for n in picked],
        "scientificName": picked,
        "countryCode": pool(["CN", "CN", "VN", "LA"]),
        "decimalLatitude": pool(lat),
        "decimalLongitude": pool(lon),
        "coordinateUncertaintyInMeters": pool(["30", "100", "1000", None]),
        "eventDate": pool([*days[::7], None]),
        "modified": pool([*days[::3], None]),
        "iucnRedListCategory": pool(THREATS),
        "recordedBy": pool(["Wen F.", "Xu W.B.", "Averyanov L.", "Pan B."]),
        "recordNumber": pool([str(n) for n in range(5000)]),
        "locality": pool([f"limestone hill {n}" for n in range(500)]),
        "verbatimLocality": pool([f"karst cave {n}" for n in range(500)]),
        "verbatimCoordinates": pool([None, "23°27'N 106°47'E"]),
        "verbatimEventDate": pool([None, "20/11/2025", "May 2019", "spring"]),
        "identifiedBy": pool(["Wen F.", "Wu L.", None]),
        "occurrenceRemarks": pool([None, "leg. Xu W.B.", "GPS 23.45612 106.78921"]),
        "habitat": pool([None, "limestone cliff", "near 23.45612, 106.78921"]),
    }
    return to_stored_layout(pa.table({k: pa.array(v, pa.string()) for k, v in text.items()}))


def bench_agreement(folder: Path) -> Agreement:
    names = "".join(f"Genus{g} species{s}\n" for g in range(0, 60, 3) for s in range(0, 50, 5))
    (folder / "protected.csv").write_text(names)
    digest = hashlib.sha256(names.encode()).hexdigest()
    keys = {"gxib": Ed25519PrivateKey.generate(), "vnmn": Ed25519PrivateKey.generate()}
    text = 'id = "gxib-vnmn"\nversion = 3\ntitle = "bench"\n'
    text += "valid_from = 2026-01-01\nvalid_until = 2028-12-31\n"
    for party, key in keys.items():
        pinned = public_key_to_text(key.public_key())
        text += f'[parties.{party}]\nname = "{party}"\nurl = "https://{party}.example"\n'
        text += f'key = "{pinned}"\n'
    text += FLOW.replace("{digest}", digest)
    for party, key in keys.items():
        text = sign(text, party, key)
    return parse_agreement(text, "bench.toml", base_dir=folder)


def naive_enforce(table: pa.Table, agreement: Agreement, flow: Flow) -> pa.Table:
    """The same rules, one record at a time: the baseline vectorising is measured against."""
    cutoff = NOW.date() - dt.timedelta(days=flow.embargo_days or 0)
    include = {n.lower() for n in flow.taxa.include}
    exclude = {n.lower() for n in flow.taxa.exclude}
    basis = {b.replace("_", "").lower() for b in flow.basis_of_record}
    names_rule = flow.sensitive[2]
    listed = names_rule.names.names if names_rule.names else frozenset()
    min_lon, min_lat, max_lon, max_lat = flow.region.bbox or (-180, -90, 180, 90)
    out = []
    for row in table.to_pylist():
        if (row["basisOfRecord"] or "").replace("_", "").lower() not in basis:
            continue
        taxa = {(row[t] or "").lower() for t in ("family", "genus")}
        words = (row["scientificName"] or "").lower().split()
        taxa |= {" ".join(words[:k]) for k in (1, 2)}
        if not taxa & include or taxa & exclude:
            continue
        lat, lon = row["decimalLatitude"], row["decimalLongitude"]
        if row["countryCode"] not in flow.region.countries or lat is None or lon is None:
            continue
        if not (min_lon <= lon <= max_lon and min_lat <= lat <= max_lat):
            continue
        when = parse_event_date(row["modified"])[1] or row["fed_event_end"]
        if when is None or when > cutoff:
            continue
        threat = row["iucnRedListCategory"]
        if threat == "CR":
            continue
        grid = 0.1 if threat in ("EN", "VU") else 0.01 if taxa & listed else None
        if grid:
            scale = round(1 / grid)
            row["decimalLatitude"] = round(lat * scale) / scale
            row["decimalLongitude"] = round(lon * scale) / scale
            row["locality"] = ""
            row["fed_generalised"] = True
        for name in flow.withhold:
            row[name] = f"withheld under agreement {agreement.ref}"
        row["license"] = licence_url(flow.licence)
        row["rightsHolder"] = flow.attribution
        row["fed_agreement"] = agreement.ref
        out.append(row)
    return pa.Table.from_pylist(out)


def run(rows: int = 1_000_000) -> list[dict[str, object]]:
    """Rows for the results table: vectorised enforcement, then the per-record loop."""
    table = synthetic_records(rows)
    with tempfile.TemporaryDirectory() as folder:
        agreement = bench_agreement(Path(folder))
    flow = agreement.flows[0]
    red_list = {f"Genus{g} species{s}": "CR" for g in range(1, 60, 7) for s in range(0, 50, 9)}
    options: dict[str, object] = {"red_list": red_list, "pseudonym_key": b"bench" * 6}
    enforce(table.slice(0, 1000), agreement, flow, NOW, DATASET, **options)  # warm up kernels
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        out, report = enforce(table, agreement, flow, NOW, DATASET, **options)
        timings.append(time.perf_counter() - start)
    seconds = min(timings)
    sample = table.slice(0, rows // NAIVE_FRACTION)
    start = time.perf_counter()
    naive_out = naive_enforce(sample, agreement, flow)
    naive_seconds = (time.perf_counter() - start) * NAIVE_FRACTION
    cores = f"{os.cpu_count()} cores, {pa.cpu_count()} Arrow threads"
    return [
        {
            "benchmark": "enforce: every rule kind (pyarrow.compute)",
            "records": rows,
            "sent": out.num_rows,
            "generalised": report.generalised,
            "seconds": round(seconds, 3),
            "records_per_s": round(rows / seconds),
            "note": f"best of 3; {cores}",
        },
        {
            "benchmark": "enforce: same rules, per-record Python loop",
            "records": rows,
            "sent": naive_out.num_rows * NAIVE_FRACTION,
            "generalised": None,
            "seconds": round(naive_seconds, 3),
            "records_per_s": round(rows / naive_seconds),
            "note": f"measured on {len(sample):,} records, scaled x{NAIVE_FRACTION}",
        },
    ]


STREAM_CHUNK_ROWS = 100_000  # synthetic records generated once and repeated with new ids
STREAM_BATCH_ROWS = 100_000  # what the server enforces at a time (ENFORCE_BATCH_ROWS)


def stored_parquet(rows: int) -> Path:
    """A stored-layout Parquet of `rows` records, built from one repeated chunk."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"enforce-{rows}.parquet"
    if path.exists():
        return path
    chunk = synthetic_records(min(rows, STREAM_CHUNK_ROWS))
    ids = chunk.column_names.index("occurrenceID")
    tmp = path.with_suffix(".tmp")
    with pq.ParquetWriter(tmp, chunk.schema, compression="zstd") as writer:
        for start in range(0, rows, STREAM_CHUNK_ROWS):
            part = chunk.slice(0, min(STREAM_CHUNK_ROWS, rows - start))
            renamed = pc.binary_join_element_wise(f"gxib:{start}:", part["occurrenceID"], "")
            writer.write_table(part.set_column(ids, "occurrenceID", renamed))
    tmp.rename(path)
    return path


def _stream_child(mode: str, path: str) -> None:
    import pyarrow.parquet as pq

    from node.store.store import parquet_batches

    with tempfile.TemporaryDirectory() as folder:
        agreement = bench_agreement(Path(folder))
    flow = agreement.flows[0]
    red_list = {f"Genus{g} species{s}": "CR" for g in range(1, 60, 7) for s in range(0, 50, 9)}
    started, cpu, rows, sent = time.perf_counter(), cpu_seconds(), 0, 0
    for batch in parquet_batches(pq.ParquetFile(path), STREAM_BATCH_ROWS):
        table = pa.Table.from_batches([batch])
        rows += table.num_rows
        if mode == "enforce":
            out, _ = enforce(
                table, agreement, flow, NOW, DATASET, red_list, pseudonym_key=b"b" * 30
            )
            sent += out.num_rows
    seconds = time.perf_counter() - started
    step = "enforce, streamed as served" if mode == "enforce" else "floor: read the same Parquet"
    emit(
        {
            "benchmark": step,
            "records": rows,
            "seconds": round(seconds, 1),
            "records_per_s": round(rows / seconds),
            "cpu_s": round(cpu_seconds() - cpu, 1),
        }
    )


def streamed(rows: int) -> list[dict[str, object]]:
    """Enforcement batch by batch from a stored Parquet, and reading it alone (the floor)."""
    path = str(stored_parquet(rows))
    return [
        run_child("bench.bench_enforce", ["--stream", "enforce", path]),
        run_child("bench.bench_enforce", ["--stream", "read", path]),
    ]


def scaled(rows: int) -> list[dict[str, object]]:
    """What `make bench` prints per size: streamed with its floor; in memory up to 1M."""
    return [*streamed(rows), *(run(rows) if rows <= 1_000_000 else [])]


def print_table(results: list[dict[str, object]]) -> None:
    columns = list(results[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in results)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for result in results:
        print("  ".join(str(result[c]).ljust(widths[c]) for c in columns))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--stream"]:
        _stream_child(sys.argv[2], sys.argv[3])
    else:
        print_table(run(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000))
