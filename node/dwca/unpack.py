"""Unpack an untrusted archive, enforcing every safety cap while streaming.

python-dwca-reader extracts `..` members, accepts hundreds of thousands of members and
expands zip bombs in memory, so archives never reach it unchecked: this module is the only
place an archive from outside is opened.
"""

from __future__ import annotations

import io
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from node.core import constants
from node.core.errors import ArchiveTooLarge, InvalidArchive, UnsafeArchive


def _safe_member_path(name: str) -> PurePosixPath:
    """Refuse absolute, drive-letter, backslash-escaped and `..` paths (zip-slip)."""
    normalised = name.replace("\\", "/")
    path = PurePosixPath(normalised)
    if path.is_absolute() or (len(normalised) > 1 and normalised[1] == ":"):
        raise UnsafeArchive(f"archive member {name!r} has an absolute path; refusing to unpack")
    if any(part == ".." for part in path.parts):
        raise UnsafeArchive(f"archive member {name!r} points outside the archive (..)")
    return path


class _Budget:
    """Counts unpacked bytes against the ratio and absolute caps while copying."""

    def __init__(self, packed_bytes: int) -> None:
        self.limit = min(
            max(packed_bytes, 1) * constants.MAX_UNPACK_RATIO, constants.MAX_UNPACKED_BYTES
        )
        self.used = 0

    def spend(self, nbytes: int, member: str) -> None:
        self.used += nbytes
        if self.used > self.limit:
            raise UnsafeArchive(
                f"archive expands beyond {self.limit:,} bytes while unpacking {member!r} "
                f"(more than {constants.MAX_UNPACK_RATIO}x its packed size): refusing a "
                "possible zip bomb"
            )


def _copy(
    source: IO[bytes], target: Path, budget: _Budget, member: str, limit: int | None = None
) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(target, "xb") as out:
        while chunk := source.read(constants.UNPACK_CHUNK_BYTES):
            budget.spend(len(chunk), member)
            written += len(chunk)
            if limit is not None and written > limit:
                raise UnsafeArchive(_xml_too_large(member, limit))
            out.write(chunk)


def _xml_too_large(member: str, limit: int) -> str:
    return (
        f"archive member {member!r} is larger than {limit:,} bytes; XML members (meta.xml, "
        "EML) are read whole, so larger ones are refused"
    )


def _check_count(count: int) -> None:
    if count > constants.MAX_ARCHIVE_MEMBERS:
        raise UnsafeArchive(
            f"archive has {count:,} members; a Darwin Core archive has a handful "
            f"(limit {constants.MAX_ARCHIVE_MEMBERS:,})"
        )


class _BudgetStream(io.RawIOBase):
    """A zip member read straight into the parser, still counted against the caps."""

    def __init__(self, source: IO[bytes], budget: _Budget, member: str) -> None:
        self._source = source
        self._budget = budget
        self._member = member

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            data = self._source.read(len(buffer))
        except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
            raise InvalidArchive(
                f"member {self._member!r} is corrupt or truncated ({exc})"
            ) from exc
        self._budget.spend(len(data), self._member)
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._source.close()
        super().close()


@dataclass
class Unpacked:
    """An unpacked archive. Large zip members stay in the zip and are streamed on demand
    (a zero-byte placeholder marks them on disk), which saves writing and re-reading the
    data files: reading then costs little more than decompressing."""

    root: Path
    zip_path: Path | None = None
    lazy: dict[Path, str] = field(default_factory=dict)
    budget: _Budget | None = None

    def open_binary(self, path: Path) -> IO[bytes]:
        member = self.lazy.get(Path(path))
        if member is None or self.zip_path is None or self.budget is None:
            return open(path, "rb")
        archive = zipfile.ZipFile(self.zip_path)
        try:
            source = archive.open(member)
        except (zipfile.BadZipFile, OSError, NotImplementedError) as exc:
            archive.close()
            raise InvalidArchive(f"member {member!r} cannot be read ({exc})") from exc
        return io.BufferedReader(_BudgetStream(source, self.budget, member), 1024**2)


def _unzip(path: Path, dest: Path, budget: _Budget, lazy: dict[Path, str]) -> None:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidArchive(f"{path.name}: not a readable zip file ({exc})") from exc
    with archive:
        infos = archive.infolist()
        _check_count(len(infos))
        for info in infos:
            member = _safe_member_path(info.filename)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise UnsafeArchive(f"archive member {info.filename!r} is a symbolic link")
            if info.is_dir():
                continue
            target = dest.joinpath(*member.parts)
            is_xml = info.filename.lower().endswith(".xml")
            if is_xml and info.file_size > constants.MAX_XML_BYTES:
                # Checked before a byte is written; `_copy` checks again as it writes,
                # since the size a zip declares is the sender's word.
                raise UnsafeArchive(_xml_too_large(info.filename, constants.MAX_XML_BYTES))
            if info.file_size >= constants.STREAM_MEMBER_MIN_BYTES and not is_xml:
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.exists():
                    raise UnsafeArchive(f"archive member {info.filename!r} appears twice")
                target.touch()
                lazy[target] = info.filename
                continue
            try:
                with archive.open(info) as source:
                    limit = constants.MAX_XML_BYTES if is_xml else None
                    _copy(source, target, budget, info.filename, limit)
            except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
                if isinstance(exc, FileExistsError):
                    raise UnsafeArchive(f"archive member {info.filename!r} appears twice") from exc
                raise InvalidArchive(
                    f"{path.name}: member {info.filename!r} is corrupt or truncated ({exc})"
                ) from exc
            except NotImplementedError as exc:
                raise InvalidArchive(f"{path.name}: {info.filename!r}: {exc}") from exc


def _untar(path: Path, dest: Path, budget: _Budget) -> None:
    try:
        archive = tarfile.open(path, "r:*")  # noqa: SIM115  (closed by the `with` below)
    except (tarfile.TarError, OSError) as exc:
        raise InvalidArchive(f"{path.name}: not a readable tar archive ({exc})") from exc
    count = 0
    with archive:
        try:
            for info in archive:
                count += 1
                _check_count(count)
                member = _safe_member_path(info.name)
                if info.issym() or info.islnk():
                    raise UnsafeArchive(f"archive member {info.name!r} is a link")
                if info.isdir():
                    continue
                if not info.isfile():
                    raise UnsafeArchive(f"archive member {info.name!r} is not a regular file")
                source = archive.extractfile(info)
                if source is None:
                    continue
                with source:
                    _copy(source, dest.joinpath(*member.parts), budget, info.name)
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            if isinstance(exc, FileExistsError):
                raise UnsafeArchive("archive member appears twice") from exc
            raise InvalidArchive(f"{path.name}: corrupt or truncated tar ({exc})") from exc


def _walk_no_links(folder: Path) -> Iterator[Path]:
    for entry in sorted(folder.rglob("*")):
        if entry.is_symlink():
            raise UnsafeArchive(f"{entry}: links are not allowed inside an archive folder")
        if entry.is_file():
            yield entry


def _packed_size(path: Path) -> int:
    if path.is_dir():
        return sum(f.stat().st_size for f in _walk_no_links(path))
    return path.stat().st_size


def archive_root(folder: Path) -> Path:
    """The folder holding meta.xml or the data: archives are often wrapped in one sub-folder."""
    current = folder
    for _ in range(3):
        entries = [e for e in current.iterdir() if not e.name.startswith(("__MACOSX", "."))]
        if len(entries) == 1 and entries[0].is_dir():
            current = entries[0]
            continue
        break
    return current


def safe_unpack(path: Path, dest: Path) -> Unpacked:
    """Unpack a zip or tar(.gz) into `dest` (a folder is used in place)."""
    path = Path(path)
    if not path.exists():
        raise InvalidArchive(f"{path}: no such file or folder")
    packed = _packed_size(path)
    if packed > constants.MAX_ARCHIVE_BYTES:
        raise ArchiveTooLarge(
            f"{path.name}: {packed:,} bytes exceeds the {constants.MAX_ARCHIVE_BYTES:,}-byte limit"
        )
    if path.is_dir():
        # A folder on the node's own disk is read in place; only links are refused.
        _check_count(sum(1 for _ in _walk_no_links(path)))
        return Unpacked(archive_root(path))
    budget = _Budget(packed)
    dest.mkdir(parents=True, exist_ok=True)
    lazy: dict[Path, str] = {}
    try:
        if zipfile.is_zipfile(path):
            _unzip(path, dest, budget, lazy)
        elif tarfile.is_tarfile(path):
            _untar(path, dest, budget)
        elif path.name.lower().endswith(CONTAINER_SUFFIXES):
            raise InvalidArchive(
                f"{path.name}: named like an archive but is not a zip or tar file{_html_hint(path)}"
            )
        else:
            # A bare data file (no container) is a valid one-file "simple" archive.
            _copy_bare(path, dest, budget)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    if lazy:
        return Unpacked(archive_root(dest), path, lazy, budget)
    return Unpacked(archive_root(dest))


def _copy_bare(path: Path, dest: Path, budget: _Budget) -> None:
    with open(path, "rb") as source:
        head = source.read(4096)
    if b"\x00" in head:
        raise InvalidArchive(f"{path.name}: neither a zip, a tar archive nor a text data file")
    if looks_like_html(head):
        raise InvalidArchive(f"{path.name}: {HTML_REASON}")
    with open(path, "rb") as source:
        _copy(source, dest / path.name, budget, path.name)


CONTAINER_SUFFIXES = (".zip", ".tgz", ".tar.gz", ".tar")
HTML_REASON = "an HTML page (an error or login page saved in place of the data), not data"
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body")


def looks_like_html(head: bytes) -> bool:
    """A web page or XML document where a data file was expected.

    A download that failed is often saved under the data's name; read as a one-column
    table it would otherwise pass as an archive of nothing.
    """
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return start.startswith(_HTML_STARTS) or b"<html" in start[:1024]


def _html_hint(path: Path) -> str:
    with open(path, "rb") as source:
        return f" ({HTML_REASON})" if looks_like_html(source.read(4096)) else ""
