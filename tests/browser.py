"""Headless Chromium for tests that look at a rendered page.

Debian's `chromium` is used when present; as root with apt it is installed (with a CJK
font, so Chinese names are drawn rather than boxes) by `.ci/install-chromium`; otherwise
the test is skipped with the reason.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest

INSTALL_SCRIPT = Path(__file__).resolve().parent.parent / ".ci" / "install-chromium"
DEBIAN_CHROMIUM = Path("/usr/bin/chromium")
INSTALL_TIMEOUT_S = 900  # 180 MB of packages on a slow mirror
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


def _installed() -> Path | None:
    if DEBIAN_CHROMIUM.exists():
        return DEBIAN_CHROMIUM
    found = shutil.which("chromium")
    return Path(found) if found else None


def _has_cjk_font() -> bool:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return False
    result = subprocess.run([fc_list, ":lang=zh"], capture_output=True, text=True, check=False)
    return bool(result.stdout.strip())


def chromium() -> Path:
    """The Chromium executable, installed now if this machine allows; else skip the test."""
    found = _installed()
    if found and _has_cjk_font():
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        if found:  # no CJK font only spoils the picture, not the test
            return found
        pytest.skip(
            "chromium is not installed and cannot be installed here (needs root and apt-get): "
            f"run {INSTALL_SCRIPT} as root or install Debian's chromium package"
        )
    result = subprocess.run(
        [str(INSTALL_SCRIPT)],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        check=False,
    )
    found = _installed()
    if found is None:
        pytest.skip(
            f"{INSTALL_SCRIPT} did not install chromium (exit {result.returncode}): "
            f"{(result.stderr or result.stdout).strip()[-500:]}"
        )
    return found


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
