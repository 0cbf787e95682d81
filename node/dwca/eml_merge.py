"""The source's own eml.xml, carried into the EML the node publishes.

A publisher moving from an IPT has years of metadata in its archives' eml.xml: sampling
methods, the project and its funders, every person who worked on the data, citations,
keywords, coverage written by someone who knows the region. Building the published EML from
node.toml alone threw all of that away. `SourceMetadata` reads that document once (through
the same size cap and entity-free parser as every other XML the node takes in) and hands
`build_eml` the parts it carries; node.toml still wins for what it names (title, abstract,
licence, creator, contact), so the node's publisher stays in charge of what goes out.

Only the node's own published EML merges the source: archives served to a partner under an
agreement describe what the partner receives, and a source's free text (methods naming a
cave, a tight bounding box) could say more than the enforced records do.
"""

from __future__ import annotations

import copy
import hashlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from node.core import constants
from node.core.errors import InvalidArchive, UnsafeArchive
from node.dwca.eml import (
    DATASET_TYPE_THESAURUS,
    _agent_ok,
    _children,
    _licence_of,
    _local,
    _parse,
    _text,
)

# Children of additionalMetadata/metadata/gbif carried after the node's own citation.
CARRIED_GBIF = ("bibliography", "physical", "resourceLogoUrl", "collection",
                "specimenPreservationMethod")  # fmt: skip
COVERAGE_KINDS = ("geographicCoverage", "temporalCoverage", "taxonomicCoverage")
_MIN_ABSTRACT = 5


@dataclass
class SourceMetadata:
    """A source's eml.xml, parsed; each accessor returns copies the caller may attach."""

    dataset: ET.Element
    gbif: ET.Element | None
    sha256: str
    name: str
    # What the published EML left out of the source's, in words, for `publish` to report.
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_bytes(cls, document: bytes, name: str = "eml.xml") -> SourceMetadata:
        """Parse a source EML; InvalidArchive/UnsafeArchive say why it cannot be read.

        Leading whitespace before the XML declaration is dropped: GBIF's own download
        service wrote such files and its readers accept them.
        """
        root = _parse(document.lstrip(), name)
        ds = next(iter(_children(root, "dataset")), None)
        if _local(root.tag) != "eml" or ds is None:
            raise InvalidArchive(f"{name}: not EML (no <eml:eml> with a <dataset>)")
        gbif = next(
            (
                g
                for extra in _children(root, "additionalMetadata")
                for m in _children(extra, "metadata")
                for g in _children(m, "gbif")
            ),
            None,
        )
        return cls(ds, gbif, hashlib.sha256(document).hexdigest(), name)

    @classmethod
    def from_path(cls, path: Path) -> SourceMetadata:
        """Read an EML file, refusing one over the XML size cap before reading it."""
        size = path.stat().st_size
        if size > constants.MAX_XML_BYTES:
            raise UnsafeArchive(f"{path.name}: {size:,} bytes, over the XML size limit")
        return cls.from_bytes(path.read_bytes(), path.name)

    def whole(self, tag: str) -> list[ET.Element]:
        return [copy.deepcopy(c) for c in _children(self.dataset, tag)]

    def agents(self, role: str) -> list[ET.Element]:
        """The source's agents in `role` that name someone (the profile requires it)."""
        return [a for a in self.whole(role) if _agent_ok(a)]

    def abstract(self) -> ET.Element | None:
        found = next(iter(self.whole("abstract")), None)
        return found if len(_text(found)) >= _MIN_ABSTRACT else None

    def keyword_sets(self) -> list[ET.Element]:
        """Keyword sets, less the dataset-type set the node writes from its own type."""
        sets = []
        for words in self.whole("keywordSet"):
            thesaurus = _text(next(iter(_children(words, "keywordThesaurus")), None))
            if thesaurus.startswith(DATASET_TYPE_THESAURUS.split(":")[0]):
                continue
            if any(_text(k) for k in _children(words, "keyword")):
                sets.append(words)
        return sets

    def coverage(self, kind: str) -> list[ET.Element]:
        return [copy.deepcopy(c) for cov in _children(self.dataset, "coverage")
                for c in _children(cov, kind)]  # fmt: skip

    def licence(self) -> str | None:
        """The licence the source states: an id when recognised, else its words."""
        return _licence_of(self.dataset)

    def rights_paras(self, licence_id: str) -> list[ET.Element]:
        """The source's rights paragraphs, when they state the licence the node publishes
        under; a different or unreadable one is left out (and noted), never published
        beside the node's, where it would contradict it."""
        stated = self.licence()
        if stated is None:
            return []
        if stated != licence_id:
            self.notes.append(
                f"its intellectualRights ({stated[:80]!r}) was replaced by node.toml's "
                f"licence {licence_id}"
            )
            return []
        return [copy.deepcopy(p) for r in _children(self.dataset, "intellectualRights")
                for p in _children(r, "para")]  # fmt: skip

    def gbif_parts(self) -> list[ET.Element]:
        if self.gbif is None:
            return []
        return [copy.deepcopy(c) for tag in CARRIED_GBIF for c in _children(self.gbif, tag)]
