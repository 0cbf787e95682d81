"""Untrusted archives: every cap holds, refusals are clear, nothing escapes the folder."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from node.core import constants
from node.core.errors import ArchiveTooLarge, InvalidArchive, UnsafeArchive
from node.dwca.reader import open_archive
from node.dwca.unpack import safe_unpack

META = (
    '<archive xmlns="http://rs.tdwg.org/dwc/text/"><core encoding="UTF-8" '
    'fieldsTerminatedBy="\\t" linesTerminatedBy="\\n" fieldsEnclosedBy="" ignoreHeaderLines="1" '
    'rowType="http://rs.tdwg.org/dwc/terms/Occurrence"><files><location>occurrence.txt</location>'
    '</files><id index="0"/><field index="0" term="http://rs.tdwg.org/dwc/terms/occurrenceID"/>'
    "</core></archive>"
)


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_unpack__zip_slip_member_is_refused_and_nothing_escapes(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "slip.zip", {"meta.xml": META.encode(), "../../evil.txt": b"x"})
    with pytest.raises(UnsafeArchive, match="outside the archive"):
        safe_unpack(archive, tmp_path / "out" / "deep")
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "out" / "evil.txt").exists()


def test_unpack__absolute_member_path_is_refused(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "abs.zip", {"/etc/fednode-test": b"x"})
    with pytest.raises(UnsafeArchive, match="absolute"):
        safe_unpack(archive, tmp_path / "out")


def test_unpack__tar_with_dotdot_member_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "slip.tgz"
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo("../../x")
        info.size = 1
        archive.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(UnsafeArchive, match="outside"):
        safe_unpack(path, tmp_path / "out" / "deep")
    assert not (tmp_path / "x").exists()


def test_unpack__tar_symlink_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "link.tgz"
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo("meta.xml")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        archive.addfile(info)
    with pytest.raises(UnsafeArchive, match="link"):
        safe_unpack(path, tmp_path / "out")


def test_unpack__zip_symlink_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "link.zip"
    with zipfile.ZipFile(path, "w") as archive:
        info = zipfile.ZipInfo("occurrence.txt")
        info.external_attr = 0o120777 << 16
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(UnsafeArchive, match="symbolic link"):
        safe_unpack(path, tmp_path / "out")


def test_unpack__small_zip_bomb_is_stopped_while_unpacking(tmp_path: Path) -> None:
    # 3 MB of zeros compress to a few KB: far beyond the unpack ratio.
    path = _zip(tmp_path / "bomb.zip", {"meta.xml": META.encode(), "eml.xml": b"\0" * 3_000_000})
    assert path.stat().st_size < 20_000
    with pytest.raises(UnsafeArchive, match="zip bomb"):
        safe_unpack(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unpack__large_zip_bomb_is_stopped_while_streaming(tmp_path: Path) -> None:
    # A data file above the streaming threshold is parsed from the zip: the cap still holds.
    rows = b"occurrenceID\n" + b"0\n" * (constants.STREAM_MEMBER_MIN_BYTES // 2 + 10)
    path = _zip(tmp_path / "bomb.zip", {"meta.xml": META.encode(), "occurrence.txt": rows})
    assert path.stat().st_size * constants.MAX_UNPACK_RATIO < len(rows)
    with pytest.raises(UnsafeArchive, match="zip bomb"), open_archive(path) as archive:
        for _ in archive.iter_batches():
            pass


def test_unpack__too_many_members_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(constants, "MAX_ARCHIVE_MEMBERS", 50)
    path = _zip(tmp_path / "many.zip", {f"f{i}.txt": b"x" for i in range(51)})
    with pytest.raises(UnsafeArchive, match="51 members"):
        safe_unpack(path, tmp_path / "out")


def test_unpack__oversized_archive_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _zip(tmp_path / "big.zip", {"meta.xml": META.encode(), "occurrence.txt": b"1\n" * 5000})
    monkeypatch.setattr(constants, "MAX_ARCHIVE_BYTES", 100)
    with pytest.raises(ArchiveTooLarge, match="exceeds"):
        safe_unpack(path, tmp_path / "out")


def test_unpack__xml_entities_are_refused(tmp_path: Path) -> None:
    billion_laughs = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><archive>&lol2;</archive>'
    )
    path = _zip(
        tmp_path / "xml.zip", {"meta.xml": billion_laughs.encode(), "occurrence.txt": b"a\n"}
    )
    with pytest.raises(UnsafeArchive, match=r"DTD|entit"), open_archive(path):
        pass


def test_unpack__truncated_zip_is_invalid_not_a_traceback(tmp_path: Path) -> None:
    path = _zip(tmp_path / "ok.zip", {"meta.xml": META.encode(), "occurrence.txt": b"x\n" * 1000})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidArchive), open_archive(path) as archive:
        archive.read_table()


def test_unpack__garbage_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "garbage.zip"
    path.write_bytes(b"\x00\x01\x02 not an archive at all" * 10)
    with pytest.raises(InvalidArchive), open_archive(path):
        pass
