"""Reading a large Darwin Core archive: our reader against python-dwca-reader and the floor.

Generates a synthetic occurrence archive of N rows x 20 terms (about 215 bytes a row) in
`bench/.work/`, then measures in separate processes: our reader into Arrow batches,
python-dwca-reader iterating `row.data`, and a plain `zipfile` read of the same bytes.
"""

from __future__ import annotations

import argparse
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from bench.measure import emit, print_table, run_child

WORK = Path(__file__).parent / ".work"
TERMS = [
    "occurrenceID",
    "basisOfRecord",
    "scientificName",
    "kingdom",
    "family",
    "genus",
    "specificEpithet",
    "taxonRank",
    "countryCode",
    "stateProvince",
    "county",
    "locality",
    "decimalLatitude",
    "decimalLongitude",
    "coordinateUncertaintyInMeters",
    "eventDate",
    "year",
    "recordedBy",
    "recordNumber",
    "iucnRedListCategory",
]


def _meta_xml() -> str:
    fields = "\n".join(
        f'    <field index="{i}" term="http://rs.tdwg.org/dwc/terms/{t}"/>'
        for i, t in enumerate(TERMS)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<archive xmlns="http://rs.tdwg.org/dwc/text/" metadata="eml.xml">\n'
        '  <core encoding="UTF-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n" '
        'fieldsEnclosedBy="" ignoreHeaderLines="1" '
        'rowType="http://rs.tdwg.org/dwc/terms/Occurrence">\n'
        "    <files><location>occurrence.txt</location></files>\n"
        '    <id index="0"/>\n' + fields + "\n  </core>\n</archive>\n"
    )


def synthetic_table(start: int, rows: int, seed: int = 7) -> pa.Table:
    rng = np.random.default_rng(seed + start)
    genera = np.array(
        [
            "Primulina",
            "Begonia",
            "Paphiopedilum",
            "Chirita",
            "Aspidistra",
            "Impatiens",
            "Elatostema",
            "Lysionotus",
        ]
    )
    epithets = np.array(
        [
            "eburnea",
            "longgangensis",
            "hirsutum",
            "fimbrisepala",
            "tonkinensis",
            "napoensis",
            "debaoensis",
            "pauciflora",
            "guangxiensis",
        ]
    )
    families = {
        "Primulina": "Gesneriaceae",
        "Chirita": "Gesneriaceae",
        "Lysionotus": "Gesneriaceae",
        "Begonia": "Begoniaceae",
        "Paphiopedilum": "Orchidaceae",
        "Aspidistra": "Asparagaceae",
        "Impatiens": "Balsaminaceae",
        "Elatostema": "Urticaceae",
    }
    g = genera[rng.integers(0, len(genera), rows)]
    e = epithets[rng.integers(0, len(epithets), rows)]
    ids = np.arange(start, start + rows)
    year = rng.integers(1950, 2026, rows)
    month = rng.integers(1, 13, rows)
    day = rng.integers(1, 29, rows)
    columns = {
        "occurrenceID": [f"urn:catalog:GXIB:bench:{i:09d}" for i in ids],
        "basisOfRecord": np.where(rng.random(rows) < 0.7, "PreservedSpecimen", "HumanObservation"),
        "scientificName": np.char.add(np.char.add(g, " "), e),
        "kingdom": np.full(rows, "Plantae"),
        "family": np.vectorize(families.get)(g),
        "genus": g,
        "specificEpithet": e,
        "taxonRank": np.full(rows, "species"),
        "countryCode": np.full(rows, "CN"),
        "stateProvince": np.full(rows, "Guangxi"),
        "county": np.array(["Longzhou", "Napo", "Jingxi", "Debao"])[rng.integers(0, 4, rows)],
        "locality": [f"limestone hill {i % 997} km from village" for i in ids],
        "decimalLatitude": np.round(rng.uniform(21.5, 25.5, rows), 5).astype(str),
        "decimalLongitude": np.round(rng.uniform(105.5, 110.5, rows), 5).astype(str),
        "coordinateUncertaintyInMeters": rng.integers(10, 5000, rows).astype(str),
        "eventDate": [f"{y}-{m:02d}-{d:02d}" for y, m, d in zip(year, month, day, strict=True)],
        "year": year.astype(str),
        "recordedBy": np.array(["Collector A", "Collector B", "Collector C"])[
            rng.integers(0, 3, rows)
        ],
        "recordNumber": [f"GX{i:07d}" for i in ids],
        "iucnRedListCategory": np.array(["LC", "NT", "VU", "EN", "CR"])[rng.integers(0, 5, rows)],
    }
    return pa.table({k: pa.array(np.asarray(v).astype(str)) for k, v in columns.items()})


def make_archive(rows: int) -> Path:
    """Build (once) a zip DwC-A with `rows` occurrences; reused across runs."""
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"occurrence-{rows}.zip"
    if path.exists():
        return path
    data = WORK / f"occurrence-{rows}.txt"
    options = pacsv.WriteOptions(delimiter="\t", quoting_style="none", include_header=True)
    chunk = 250_000
    with pa.OSFile(str(data), "wb") as sink:
        writer = None
        for start in range(0, rows, chunk):
            table = synthetic_table(start, min(chunk, rows - start))
            if writer is None:
                writer = pacsv.CSVWriter(sink, table.schema, write_options=options)
            writer.write_table(table)
        assert writer is not None
        writer.close()
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("meta.xml", _meta_xml())
        archive.writestr(
            "eml.xml", "<eml:eml xmlns:eml='https://eml.ecoinformatics.org/eml-2.2.0'/>"
        )
        archive.write(data, "occurrence.txt")
    tmp.rename(path)
    data.unlink()
    return path


def _child(method: str, path: str) -> None:
    # Imports happen before the clock starts: the table compares reading, not start-up.
    from dwca.read import DwCAReader

    from node.dwca.reader import open_archive

    started = time.perf_counter()
    rows = 0
    if method == "fednode":
        with open_archive(Path(path)) as archive:
            for batch in archive.iter_batches():
                rows += batch.num_rows
    elif method == "python-dwca-reader":
        with DwCAReader(path) as reader:
            for row in reader:
                _ = row.data
                rows += 1
    elif method == "zipfile":
        with zipfile.ZipFile(path) as archive, archive.open("occurrence.txt") as member:
            # The block size fednode reads in: a fair floor under the same allocators.
            while chunk := member.read(1024**2):
                rows += chunk.count(b"\n")
        rows -= 1  # header line
    seconds = time.perf_counter() - started
    emit(
        {
            "reader": method,
            "rows": rows,
            "seconds": round(seconds, 2),
            "rows_per_s": round(rows / seconds),
        }
    )


def run(
    sizes: tuple[int, ...] = (1_000_000, 3_000_000), reference: bool = True
) -> list[dict[str, object]]:
    results = []
    for rows in sizes:
        path = make_archive(rows)
        unpacked = sum(i.file_size for i in zipfile.ZipFile(path).infolist())
        methods = ["zipfile", "fednode"]
        if reference and rows == sizes[0]:
            methods.append("python-dwca-reader")
        for method in methods:
            result = run_child("bench.bench_reader", ["--child", method, str(path)])
            result["archive_rows"] = rows
            result["unpacked_mb"] = round(unpacked / 1024**2)
            results.append(result)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "PATH"))
    parser.add_argument("--rows", type=int, nargs="*", default=[1_000_000, 3_000_000])
    args = parser.parse_args(argv)
    if args.child:
        _child(*args.child)
        return
    print_table("Reading a DwC-A (occurrence core, 20 terms)", run(tuple(args.rows)))


if __name__ == "__main__":
    main(sys.argv[1:])
