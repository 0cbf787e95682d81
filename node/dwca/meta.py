"""Describe an unpacked archive: its core file, extensions and metadata document.

meta.xml is parsed by python-dwca-reader's descriptor classes (one parser for the whole
ecosystem), but only after defusedxml has refused DTDs and entity expansion and the size
cap has held: the descriptor classes use the standard library's XML parser.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException
from dwca.descriptors import ArchiveDescriptor, DataFileDescriptor
from dwca.exceptions import InvalidArchive as DwcaReaderInvalid

from node.core import constants
from node.core.errors import InvalidArchive, UnsafeArchive
from node.core.terms import short_name
from node.dwca.meta_lenient import locations, normalise_meta

METAFILE = "meta.xml"
DEFAULT_METADATA_NAMES = ("eml.xml", "metadata.xml")


@dataclass
class DataFile:
    """One data file of the archive and the column names the reader gives it."""

    descriptor: DataFileDescriptor
    path: Path
    columns: list[str] = field(default_factory=list)
    # Every file the data is split over (meta.xml may list several); `path` is the first.
    parts: list[Path] = field(default_factory=list)

    @property
    def paths(self) -> list[Path]:
        return self.parts or [self.path]

    @property
    def name(self) -> str:
        return self.descriptor.file_location

    @property
    def row_type(self) -> str | None:
        return self.descriptor.type


@dataclass
class ArchiveLayout:
    root: Path
    core: DataFile
    extensions: list[DataFile]
    metadata_path: Path | None
    has_metafile: bool
    warnings: list[str] = field(default_factory=list)


def read_xml_text(path: Path) -> str:
    """Read an XML file the archive ships, refusing huge files and entity tricks."""
    size = path.stat().st_size
    if size > constants.MAX_XML_BYTES:
        raise UnsafeArchive(
            f"{path.name}: {size:,} bytes; XML documents are limited to "
            f"{constants.MAX_XML_BYTES:,} bytes"
        )
    raw = path.read_bytes()
    try:
        safe_et.fromstring(raw, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise UnsafeArchive(f"{path.name}: DTDs and entities are not allowed ({exc})") from exc
    except ParseError as exc:
        raise InvalidArchive(f"{path.name}: malformed XML ({exc})") from exc
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidArchive(f"{path.name}: cannot decode")  # unreachable: latin-1 decodes all


def column_names(descriptor: DataFileDescriptor) -> list[str]:
    """`id`/`coreid` first, then each field's short term name, as stored downstream."""
    names = ["id"] if descriptor.represents_corefile else ["coreid"]
    if descriptor.created_from_file:
        names = []
    for f in descriptor.fields:
        name = short_name(f["term"])
        if name not in names:
            names.append(name)
    return names


def _resolve(root: Path, location: str | None, what: str) -> Path:
    if not location:
        raise InvalidArchive(f"meta.xml: the {what} has no <files><location>")
    path = (root / location.strip()).resolve()
    if root.resolve() not in path.parents:
        raise UnsafeArchive(f"meta.xml: {what} location {location!r} points outside the archive")
    if not path.is_file():
        raise InvalidArchive(
            f"meta.xml names {what} file {location!r}, which is not in the archive"
        )
    return path


def _data_file(root: Path, descriptor: DataFileDescriptor, what: str) -> DataFile:
    names = locations(descriptor.raw_element) or [descriptor.file_location]
    parts = [_resolve(root, name, what) for name in names]
    return DataFile(descriptor, parts[0], column_names(descriptor), parts)


def _from_metafile(root: Path) -> ArchiveLayout:
    text = read_xml_text(root / METAFILE)
    try:
        descriptor = ArchiveDescriptor(normalise_meta(text))
    except (ParseError, DwcaReaderInvalid, AttributeError, TypeError, ValueError) as exc:
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, AttributeError):
            reason = "a required element (<core>, <id>, <coreid> or <files>) is missing"
        raise InvalidArchive(f"meta.xml: {reason}") from exc
    core = _data_file(root, descriptor.core, "core")
    extensions = [_data_file(root, ext, "extension") for ext in descriptor.extensions]
    metadata = None
    warnings = []
    if descriptor.metadata_filename:
        candidate = root / descriptor.metadata_filename
        if candidate.is_file():
            metadata = candidate
        else:
            warnings.append(
                f"meta.xml names metadata {descriptor.metadata_filename!r}, "
                "which is not in the archive"
            )
    if metadata is None:
        metadata = next((root / n for n in DEFAULT_METADATA_NAMES if (root / n).is_file()), None)
    return ArchiveLayout(root, core, extensions, metadata, True, warnings)


def _simple(root: Path) -> ArchiveLayout:
    """An archive without meta.xml: exactly one data file whose header names the terms."""
    metadata = next((root / n for n in DEFAULT_METADATA_NAMES if (root / n).is_file()), None)
    data_files = [
        p
        for p in sorted(root.iterdir())
        if p.is_file() and p.suffix.lower() != ".xml" and not p.name.startswith(".")
    ]
    if not data_files:
        raise InvalidArchive("the archive has no meta.xml and no data file")
    if len(data_files) > 1:
        names = ", ".join(p.name for p in data_files)
        raise InvalidArchive(
            f"the archive has no meta.xml and several data files ({names}): without a "
            "descriptor it is ambiguous which one is the core"
        )
    try:
        descriptor = DataFileDescriptor.make_from_file(str(data_files[0]))
    except UnicodeDecodeError as exc:
        raise InvalidArchive(
            f"{data_files[0].name}: not valid UTF-8 text (byte {exc.start}); an archive without "
            "meta.xml must be UTF-8, or add a meta.xml that declares the encoding"
        ) from exc
    except (ValueError, StopIteration, OSError, csv.Error) as exc:
        raise InvalidArchive(
            f"{data_files[0].name}: cannot detect the delimiter or header ({exc})"
        ) from exc
    return ArchiveLayout(
        root,
        DataFile(descriptor, data_files[0], column_names(descriptor)),
        [],
        metadata,
        False,
    )


def describe(root: Path) -> ArchiveLayout:
    """Layout of the archive unpacked at `root`."""
    if (root / METAFILE).is_file():
        return _from_metafile(root)
    return _simple(root)
