"""Memory for a node that streams millions of rows: allocators that give freed batches back.

Streaming frees each batch before the next is read, so peak memory depends on how soon the
allocators hand freed pages back, and on that more than on the number of rows:

- Arrow's buffers. pyarrow's default on Linux, mimalloc, kept them: the export of 5M rows
  held 462 MB at its peak with 95 MB of live Arrow data, and a 1M-row publish 540 MB.
  jemalloc returns them (362 MB and 465 MB) at the same speed.
- Everything else (Parquet's encoders, Python's bytes for each page written, DuckDB): glibc
  malloc raises its mmap threshold to the largest block freed (up to 32 MiB), then keeps
  blocks of that size in its arenas. A fixed 64 KiB threshold, and trimming whatever is free
  at the top of the heap, took the export of 20M rows from 467–489 MB to 434–438 MB. It
  costs speed where Python allocates large blocks: each 1 MiB block read from a zip member
  becomes a fresh mapping, and reading a 1M-row archive takes 1.8 s instead of 0.8 s. A
  4 MiB threshold gave that back (and a 20M-row export in 29 s instead of 34 s), but the
  export then peaked at 450 MB against 396 MB at 1M rows: memory that grows with the run.

An operator's `ARROW_DEFAULT_MEMORY_POOL` or `MALLOC_*_` variables still decide; builds
without jemalloc (Windows) or without glibc keep their defaults.
"""

from __future__ import annotations

import contextlib
import ctypes
import os

import pyarrow as pa

POOL_ENV = "ARROW_DEFAULT_MEMORY_POOL"
GLIBC_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
MMAP_THRESHOLD_BYTES = 64 * 1024
_M_TRIM_THRESHOLD = -1  # glibc <malloc.h>
_M_MMAP_THRESHOLD = -3


def use_steady_allocators() -> str:
    """jemalloc for Arrow, a fixed mmap threshold for glibc, unless told otherwise; return
    what is in use, e.g. "jemalloc, glibc tuned"."""
    if not os.environ.get(POOL_ENV):
        # A pyarrow built without jemalloc (Windows) raises NotImplementedError.
        with contextlib.suppress(NotImplementedError):
            pa.set_memory_pool(pa.jemalloc_memory_pool())
    used = pa.default_memory_pool().backend_name
    return f"{used}, glibc tuned" if _tune_glibc_malloc() else used


def release_unused() -> None:
    """Give back what a finished stream freed, before a step that allocates its own (the
    version diff's DuckDB): its peak then adds to the memory in use, not to the memory kept.
    """
    pa.default_memory_pool().release_unused()
    if is_glibc():
        ctypes.CDLL(None).malloc_trim(0)


def is_glibc() -> bool:
    try:
        return bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (ValueError, OSError):  # not glibc
        return False


def _tune_glibc_malloc() -> bool:
    if any(os.environ.get(name) for name in GLIBC_ENV) or not is_glibc():
        return False
    mallopt = ctypes.CDLL(None).mallopt
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, 0)
    )
