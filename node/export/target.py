"""The export root on any pyarrow file system: durable writes, one exporter, atomic swaps."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pyarrow as pa
import pyarrow.fs as pafs

from node.core.errors import ExportError


class HashedSink:
    """A write-only file that hashes what passes through, so no file is read back."""

    def __init__(self, stream: Any, local: Path | None) -> None:
        self._stream, self._local = stream, local
        self._digest = hashlib.sha256()
        self._bytes = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self._digest.update(data)
        self._bytes += len(data)
        self._stream.write(data)
        return len(data)

    def tell(self) -> int:
        return self._bytes

    def flush(self) -> None:
        self._stream.flush()

    def writable(self) -> bool:
        return True

    def close(self) -> dict[str, Any]:
        if not self.closed:
            self._stream.flush()
            if self._local is not None:
                os.fsync(self._stream.fileno())
            self._stream.close()
            self.closed = True
        return {"bytes": self._bytes, "sha256": self._digest.hexdigest()}


class Target:
    """The export root on a pyarrow file system; local roots also get fsync, links, a lock."""

    def __init__(
        self, fs: pafs.FileSystem, root: str, display: str, reader_query: str = ""
    ) -> None:
        self.fs, self.root, self.display = fs, root.rstrip("/"), display.rstrip("/")
        self.reader_query = reader_query
        self.local = Path(self.root) if isinstance(fs, pafs.LocalFileSystem) else None
        try:
            fs.create_dir(self.root, recursive=True)
        except (OSError, pa.ArrowException) as exc:
            raise ExportError(f"cannot export to {self.display}: {one_line(exc)}") from exc

    def path(self, relative: str) -> str:
        return f"{self.root}/{relative}"

    def make_dir(self, relative: str) -> None:
        self.fs.create_dir(self.path(relative), recursive=True)

    def open_hashed(self, relative: str) -> HashedSink:
        if "/" in relative:
            self.make_dir(relative.rsplit("/", 1)[0])
        if self.local is not None:
            return HashedSink(open(self.local / relative, "wb"), self.local)
        return HashedSink(self.fs.open_output_stream(self.path(relative)), None)

    def size(self, relative: str) -> int | None:
        info = self.fs.get_file_info(self.path(relative))
        return info.size if info.type == pafs.FileType.File else None

    def link_or_copy(self, source: str, dest: str) -> None:
        """Reuse an unchanged file: a hard link (same bytes, same mtime), else a copy."""
        self.make_dir(dest.rsplit("/", 1)[0])
        if self.local is not None:
            try:
                os.link(self.local / source, self.local / dest)
            except OSError:
                shutil.copy2(self.local / source, self.local / dest)
        else:
            self.fs.copy_file(self.path(source), self.path(dest))

    def read_text(self, relative: str) -> str:
        with self.fs.open_input_stream(self.path(relative)) as stream:
            return stream.read().decode("utf-8")

    def write_text(self, relative: str, text: str) -> None:
        sink = self.open_hashed(relative)
        sink.write(text.encode("utf-8"))
        sink.close()

    def write_text_atomic(self, relative: str, text: str) -> None:
        """Write beside, then rename: a rename locally, one atomic PUT on object storage."""
        temporary = f".{relative}.tmp-{uuid.uuid4().hex[:8]}"
        self.write_text(temporary, text)
        self.fs.move(self.path(temporary), self.path(relative))
        self._sync_dir(self.local)

    def sync(self, relative: str) -> None:
        """Make a finished version durable before anything points at it."""
        if self.local is None:
            return
        for folder, _, _ in os.walk(self.local / relative):
            self._sync_dir(Path(folder))
        self._sync_dir(self.local)

    @staticmethod
    def _sync_dir(folder: Path | None) -> None:
        if folder is None:
            return
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def point(self, link: str, version: str) -> None:
        """Swap the `current` symbolic link (local roots; object stores have none)."""
        if self.local is None:
            return
        temporary = self.local / f".{link}.link-{uuid.uuid4().hex[:8]}"
        os.symlink(version, temporary)
        os.replace(temporary, self.local / link)
        self._sync_dir(self.local)

    def discard(self, version: str) -> None:
        with contextlib.suppress(OSError, FileNotFoundError):
            self.fs.delete_dir(self.path(version))

    def prune(self, keep: set[str]) -> None:
        """Drop versions no pointer can reach, and leftovers of interrupted exports."""
        for info in self.fs.get_file_info(pafs.FileSelector(self.root)):
            name = info.base_name
            if info.type == pafs.FileType.Directory and _VERSION.match(name) and name not in keep:
                self.discard(name)
            elif _LEFTOVER.match(name):
                with contextlib.suppress(OSError, FileNotFoundError):
                    self.fs.delete_file(info.path)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """One export at a time per local root (object stores: run one exporter per prefix)."""
        if self.local is None:
            yield
            return
        with open(self.local / ".export.lock", "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise ExportError(f"{self.display}: another export is running there") from exc
            yield

    def reader_path(self, link: str, version: str, records: str) -> str:
        if self.local is not None:
            return str(self.local / link / records)
        path = f"{self.display}/{version}/{records}"
        return f"{path}?{self.reader_query}" if self.reader_query else path


_VERSION = re.compile(r"^v-\d{8}T\d{6}Z-[0-9a-f]{8}$")
_LEFTOVER = re.compile(r"^\..+\.(tmp|link)-[0-9a-f]{8}$")


def open_target(out: str | Path, filesystem: pafs.FileSystem | None = None) -> Target:
    if filesystem is not None:
        return Target(filesystem, str(out), str(out))
    if isinstance(out, Path) or "://" not in out:
        return Target(pafs.LocalFileSystem(), str(Path(out).absolute()), str(out))
    parts = urlsplit(out)
    base = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"  # no key:secret@
    query = parts.query
    try:
        fs, path = pafs.FileSystem.from_uri(out)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise ExportError(f"cannot export to {base}: {one_line(exc)}") from exc
    # Readers need the endpoint, not the credentials a URI may carry: those are never shown.
    kept = [(k, v) for k, v in parse_qsl(query) if k in _READER_OPTIONS]
    return Target(fs, path, base, urlencode(kept))


_READER_OPTIONS = ("endpoint_override", "region", "scheme")


def one_line(exc: BaseException) -> str:
    """An object store's error as one line: the AWS SDK's messages span several."""
    return " ".join(str(exc).split()) or type(exc).__name__
