"""`python -m bench [--quick]`: run every benchmark in one go and print one table each.

`--quick` uses small sizes (a smoke run, seconds); the default sizes are the ones the
README's tables report. The soak runs one minute; `--soak-full` runs it for ten.
"""

from __future__ import annotations

import argparse
import importlib
import time

from bench.measure import median_rows, print_table

SCALES = (1_000_000, 5_000_000)  # rows for publish, validate, enforce, harvest and export

# (module, title, full-size kwargs, quick kwargs)
SUITES = (
    (
        "bench.bench_reader",
        "Reading a DwC-A (occurrence core, 20 terms)",
        {"sizes": (1_000_000, 3_000_000)},
        {"sizes": (100_000,)},
    ),
    (
        "bench.bench_publish",
        "fednode publish of an institutional CSV",
        {"rows": 1_000_000},
        {"rows": 50_000},
    ),
    (
        "bench.bench_enforce",
        "Enforcing an agreement flow (every rule kind)",
        {"rows": 1_000_000},
        {"rows": 50_000},
    ),
    (
        "bench.bench_reconcile",
        "Reconciling Guangxi (6,343) against Flora of China (74,068)",
        {},
        {},
    ),
    (
        "bench.bench_harvest",
        "Harvesting a peer over loopback",
        {"rows": 1_000_000},
        {"rows": 50_000},
    ),
    ("bench.bench_export", "Parquet export across sources", {"rows": 3_000_000}, {"rows": 100_000}),
    (
        "bench.bench_soak",
        "Soak: one node, 20 partners harvesting every 3 s (RSS and fds)",
        {"seconds": 60},
        {"seconds": 15},
    ),
)
SOAK_FULL_S = 600  # --soak-full: ten minutes
# A step of a few seconds peaks wherever its threads' allocations happen to meet: the same
# 1M-row export peaked anywhere from 377 to 405 MB. Sizes up to this many rows are run
# three times and each number is the median, so "20M within 10 % of 1M" compares steady
# states, not a lucky run with an unlucky one.
REPEATED_UP_TO_ROWS = 1_000_000
REPEATS = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--only", nargs="*", help="module names, e.g. bench_reader")
    parser.add_argument(
        "--rows", nargs="*", type=int, default=list(SCALES),
        help="row counts for the steps that scale (default: 1M and 5M)",
    )  # fmt: skip
    parser.add_argument("--20m", dest="huge", action="store_true", help="add 20M rows (long)")
    parser.add_argument(
        "--soak-full", action="store_true", help="run the soak for 10 minutes, not 1"
    )
    args = parser.parse_args()
    scales = [*args.rows, *([20_000_000] if args.huge else [])]
    for module_name, title, full, quick in SUITES:
        if args.only and module_name.split(".")[-1] not in args.only:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            print(f"\n## {title}\n\nskipped: {exc}")
            continue
        started = time.perf_counter()
        kwargs = quick if args.quick else full
        if args.soak_full and module_name == "bench.bench_soak":
            kwargs = {"seconds": SOAK_FULL_S}
        if args.quick or "rows" not in full:
            rows = module.run(**kwargs)
        else:
            # Every size side by side: memory that stays flat shows as one peak RSS.
            scaled = getattr(module, "scaled", module.run)
            rows = []
            for size in scales:
                repeats = REPEATS if size <= REPEATED_UP_TO_ROWS else 1
                rows += median_rows([scaled(rows=size) for _ in range(repeats)])
        print_table(f"{title} ({time.perf_counter() - started:.0f} s)", rows)


if __name__ == "__main__":
    main()
