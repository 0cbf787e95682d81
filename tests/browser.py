"""Headless Chromium for tests that look at a rendered page.

Debian's `chromium` is used when present, else one on PATH. Installing it is the test
setup's job (scripts/test-setup.sh, run by `make test`), never the suite's: a test without
a browser is skipped, with the reason and how to get one.
"""

from __future__ import annotations

import asyncio
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest

SETUP_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "test-setup.sh"
DEBIAN_CHROMIUM = Path("/usr/bin/chromium")
RUN_TIMEOUT_S = 60  # one page, no JavaScript: seconds normally

# Headless on a machine without internet: without the background-networking flags
# Chromium waits on update and sync servers it cannot reach.
HEADLESS_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def chromium() -> Path:
    """The Chromium executable; the test is skipped, saying how to get one, without it."""
    if DEBIAN_CHROMIUM.exists():
        return DEBIAN_CHROMIUM
    found = shutil.which("chromium")
    if found is None:
        pytest.skip(
            f"chromium is not installed: run {SETUP_SCRIPT} as root on Debian "
            "(or `make test`), or install this system's chromium package"
        )
    return Path(found)


async def run_headless(executable: Path, *args: str) -> bytes:
    """Run Chromium headless with a fresh profile; its stdout, or a failure with stderr."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        process = await asyncio.create_subprocess_exec(
            str(executable),
            *HEADLESS_FLAGS,
            f"--user-data-dir={profile}",
            *args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT_S)
        except TimeoutError:
            process.kill()
            await process.wait()
            pytest.fail(f"chromium {' '.join(args)} did not finish within {RUN_TIMEOUT_S} s")
    if process.returncode != 0:
        pytest.fail(
            f"chromium {' '.join(args)} exited {process.returncode}: {stderr.decode()[-2000:]}"
        )
    return stdout


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (PNG spec 11.2.2)."""
    header = path.read_bytes()[:24]
    if len(header) < 24 or header[:8] != b"\x89PNG\r\n\x1a\n" or header[12:16] != b"IHDR":
        raise AssertionError(f"{path} is not a PNG file")
    width, height = struct.unpack(">II", header[16:24])
    return int(width), int(height)
