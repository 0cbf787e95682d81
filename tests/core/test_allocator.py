"""Arrow's allocator: jemalloc for the node's processes, unless the operator chose one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from node.core.allocator import POOL_ENV

_SHOW = (
    "import pyarrow as pa\n"
    "from node.core.allocator import use_jemalloc\n"
    "print(use_jemalloc(), pa.default_memory_pool().backend_name)\n"
)


def _pools(env: dict[str, str]) -> str:
    clean = {k: v for k, v in os.environ.items() if k != POOL_ENV}
    done = subprocess.run(
        [sys.executable, "-c", _SHOW], env={**clean, **env}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _has_jemalloc() -> bool:
    try:
        pa.jemalloc_memory_pool()
    except NotImplementedError:
        return False
    return True


@pytest.mark.skipif(not _has_jemalloc(), reason="this pyarrow has no jemalloc")
def test_use_jemalloc__becomes_arrows_default_pool() -> None:
    assert _pools({}) == "jemalloc jemalloc"


def test_use_jemalloc__leaves_the_operators_choice() -> None:
    assert _pools({POOL_ENV: "system"}) == "system system"


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
    clean = {k: v for k, v in os.environ.items() if k != POOL_ENV}
    done = subprocess.run(
        [sys.executable, "-c", code, f"{tmp_path}/node"], env=clean, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "jemalloc"
