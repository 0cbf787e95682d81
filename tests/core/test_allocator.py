"""Allocators for the node's processes: jemalloc for Arrow and a steady glibc malloc,
unless the operator chose otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from node.core.allocator import GLIBC_ENV, POOL_ENV, is_glibc

_SHOW = (
    "import pyarrow as pa\n"
    "from node.core.allocator import use_steady_allocators\n"
    "print(use_steady_allocators())\n"
)


def _run(code: str, env: dict[str, str], *args: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != POOL_ENV and k not in GLIBC_ENV}
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env={**clean, **env}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def _has_jemalloc() -> bool:
    try:
        pa.jemalloc_memory_pool()
    except NotImplementedError:
        return False
    return True


@pytest.mark.skipif(not (_has_jemalloc() and is_glibc()), reason="no jemalloc or no glibc")
def test_use_steady_allocators__jemalloc_for_arrow_and_glibc_tuned() -> None:
    assert _run(_SHOW, {}) == "jemalloc, glibc tuned"


def test_use_steady_allocators__leaves_the_operators_choice() -> None:
    chosen = {POOL_ENV: "system", "MALLOC_MMAP_THRESHOLD_": "131072"}
    assert _run(_SHOW, chosen) == "system"


@pytest.mark.skipif(not _has_jemalloc(), reason="this pyarrow has no jemalloc")
def test_fednode_commands__allocate_with_jemalloc(tmp_path: Path) -> None:
    code = (
        "import pyarrow as pa, sys\n"
        "from node.cli import main\n"
        "try:\n"
        "    main(['init', '--home', sys.argv[1], '--id', 'gxib', '--name', 'GXIB'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(pa.default_memory_pool().backend_name)\n"
    )
    assert _run(code, {}, f"{tmp_path}/node") == "jemalloc"


@pytest.mark.skipif(not is_glibc(), reason="not glibc")
def test_release_unused__gives_back_freed_holes_in_the_heap() -> None:
    """Blocks freed between blocks still in use stay in glibc's heap: trimming only gives
    back its top. A finished stream leaves such holes; the diff after it should not pay."""
    code = (
        "from node.core.allocator import release_unused, use_steady_allocators\n"
        "use_steady_allocators()\n"
        "def rss():\n"
        "    with open('/proc/self/status') as f:\n"
        "        return next(int(x.split()[1]) // 1024 for x in f if x.startswith('VmRSS:'))\n"
        "blocks = [bytes(32 * 1024 - 64) for _ in range(8192)]  # 256 MiB, under the threshold\n"
        "held = rss()\n"
        "kept = blocks[::64]  # one in 64 stays in use\n"
        "del blocks\n"
        "before = rss()\n"
        "release_unused()\n"
        "print(held, before, rss())\n"
    )
    held, before, released = map(int, _run(code, {}).split())
    assert before > held - 64  # the holes stay resident
    assert released < before - 128
