"""Run one measurement in a child process and report its own peak RSS (VmHWM).

A child per measurement keeps each peak honest: memory freed by one reader cannot hide
the next reader's peak. VmHWM is read inside the child because Linux carries a parent's
ru_maxrss into its children.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence


def run_child(module: str, args: Sequence[str]) -> dict[str, object]:
    """Run `python -m module args...`; it prints one JSON object; add `peak_rss_mb`."""
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args], stdout=subprocess.PIPE, text=True
    )
    output, _ = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed with exit {process.returncode}")
    return dict(json.loads(output.strip().splitlines()[-1]))


def median_rows(runs: list[list[dict[str, object]]]) -> list[dict[str, object]]:
    """One table from repeated runs of the same steps: each number the median of its runs,
    the rest as the first run has it, and `runs` added when there was more than one."""
    if len(runs) == 1:
        return runs[0]
    merged = []
    for rows in zip(*runs, strict=True):
        row = dict(rows[0])
        for key, value in row.items():
            values = [r.get(key) for r in rows]
            if (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and all(isinstance(v, int | float) for v in values)
            ):
                middle = statistics.median(values)  # type: ignore[type-var]
                row[key] = round(middle, 2) if isinstance(middle, float) else middle
        row["runs"] = len(rows)
        merged.append(row)
    return merged


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def print_table(title: str, rows: list[dict[str, object]]) -> None:
    if not rows:
        return
    columns = list(dict.fromkeys(k for row in rows for k in row))
    cells = [[_fmt(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print(f"\n## {title}\n")
    print("| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)) + " |")
    print("| " + " | ".join("-" * w for w in widths) + " |")
    for row in cells:
        print("| " + " | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) + " |")
    sys.stdout.flush()


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def cpu_seconds() -> float:
    """CPU time of this process, every thread: on a shared machine wall time includes
    other people's work, CPU time does not."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def emit(result: dict[str, object]) -> None:
    """Child side: print the measurement, with the peak RSS, as the last stdout line."""
    print(json.dumps({**result, "peak_rss_mb": peak_rss_mb()}))


def floor(name: str, command: list[str], rows: int) -> dict[str, object]:
    """What the same bytes cost a plain tool (`cat`, `gzip`, `unzip -p`): the floor a
    step is compared with."""
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        subprocess.run(command, stdout=sink, check=True)
    seconds = time.perf_counter() - started
    return {"step": name, "rows": rows, "seconds": round(seconds, 1),
            "rows_per_s": round(rows / seconds)}  # fmt: skip
