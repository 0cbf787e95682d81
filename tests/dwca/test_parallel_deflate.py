"""Archives deflated block by block on several threads are ordinary zip members."""

from __future__ import annotations

import random
import shutil
import subprocess
import zipfile
import zlib
from pathlib import Path

import pytest

from node.dwca.deflate import BLOCK_BYTES, ParallelDeflate, deflate_in_parallel


def _text(size: int, seed: int = 13) -> bytes:
    """Record-like lines: compressible, but not trivially."""
    rng = random.Random(seed)
    names = ["Primulina tabacum", "Begonia masoniana", "Paphiopedilum micranthum"]
    lines = []
    total = 0
    while total < size:
        line = f"GX-{rng.randrange(10**9)}\t{rng.choice(names)}\t{rng.uniform(20, 26):.5f}\n"
        lines.append(line)
        total += len(line)
    return "".join(lines).encode("utf-8")[:size]


def _stream(data: bytes, piece: int, workers: int) -> bytes:
    deflate = ParallelDeflate(6, workers=workers)
    out = [deflate.compress(data[i : i + piece]) for i in range(0, len(data), piece)]
    return b"".join(out) + deflate.flush()


@pytest.mark.parametrize(
    "size", [0, 1, BLOCK_BYTES - 1, BLOCK_BYTES, BLOCK_BYTES + 1, 3 * BLOCK_BYTES + 12345]
)
def test_parallel_deflate__is_one_stream_that_inflates_to_the_data(size: int) -> None:
    data = _text(size)
    stream = _stream(data, 70_000, workers=2)
    inflater = zlib.decompressobj(-15)
    assert inflater.decompress(stream) == data
    assert inflater.eof and not inflater.unused_data


def test_parallel_deflate__same_bytes_whatever_the_batching_and_threads() -> None:
    data = _text(2 * BLOCK_BYTES + 999)
    assert _stream(data, 4096, workers=1) == _stream(data, 1_000_003, workers=3)


def test_parallel_deflate__a_reused_buffer_is_copied_before_the_threads_read_it() -> None:
    data = _text(3 * BLOCK_BYTES + 5)
    deflate = ParallelDeflate(6, workers=1)  # the later blocks wait their turn
    scratch = bytearray(data)
    out = deflate.compress(scratch)
    scratch[:] = b"x" * len(scratch)  # the caller reuses its buffer at once
    stream = out + deflate.flush()
    assert zlib.decompress(stream, -15) == data


def test_parallel_deflate__compresses_about_as_well_as_one_stream() -> None:
    data = _text(4 * BLOCK_BYTES)
    serial = zlib.compressobj(6, zlib.DEFLATED, -15)
    one = len(serial.compress(data) + serial.flush())
    assert len(_stream(data, 65_536, workers=2)) < one * 1.01


def test_parallel_deflate__zip_member_passes_crc_checks_of_zipfile_and_unzip(
    tmp_path: Path,
) -> None:
    data = _text(2 * BLOCK_BYTES + 5)
    path = tmp_path / "a.zip"
    info = zipfile.ZipInfo("occurrence.txt")
    info.compress_type = zipfile.ZIP_DEFLATED
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive,
        archive.open(info, "w", force_zip64=True) as member,
    ):
        deflate_in_parallel(member)
        assert isinstance(getattr(member, "_compressor", None), ParallelDeflate)
        for i in range(0, len(data), 50_000):
            member.write(data[i : i + 50_000])
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        info = archive.getinfo("occurrence.txt")
        assert info.compress_type == zipfile.ZIP_DEFLATED and info.file_size == len(data)
        assert archive.read("occurrence.txt") == data
    if shutil.which("unzip"):
        checked = subprocess.run(["unzip", "-t", str(path)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout
