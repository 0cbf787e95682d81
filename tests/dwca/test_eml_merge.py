"""A source's eml.xml is carried into the published EML; node.toml wins for what it names."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import lxml.etree
import pytest

from node.core.config import DatasetConfig, NodeConfig
from node.core.errors import InvalidArchive, UnsafeArchive
from node.dwca.eml import build_eml, eml_problems
from node.dwca.eml_merge import SourceMetadata
from tests.dwca.test_eml import coverage

DATA = Path(__file__).resolve().parents[1] / "data"
FULL = DATA / "eml" / "ipt-shaped.xml"
NODE = NodeConfig(home=Path("."), id="gxib", name="Guangxi Institute of Botany", country="CN",
                  url="https://node.gxib.example/")  # fmt: skip
# <dataset> children a source may have, each carried into the published EML.
CARRIED = ("creator", "metadataProvider", "associatedParty", "keywordSet", "additionalInfo",
           "intellectualRights", "purpose", "contact", "methods", "project",
           "literatureCited")  # fmt: skip
COVERAGE = ("geographicCoverage", "temporalCoverage", "taxonomicCoverage")
EML_NAMES = ("eml.xml", "metadata.xml")


def real_emls() -> list[tuple[str, bytes]]:
    """Every metadata document shipped in the sample archives, zipped or unpacked."""
    found = []
    for path in sorted((DATA / "dwca").rglob("*")):
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                found += [
                    (f"{path.name}:{name}", archive.read(name))
                    for name in archive.namelist()
                    if name.rsplit("/", 1)[-1].lower() in EML_NAMES and "__MACOSX" not in name
                ]
        elif path.name.lower() in EML_NAMES:
            found.append((str(path.relative_to(DATA)), path.read_bytes()))
    return found


def dataset(**changes: object) -> DatasetConfig:
    fields = {"id": "gx-plots", "title": "Karst plots", "type": "occurrence",
              "source": "sources/plots.zip", "licence": "CC-BY-4.0", **changes}  # fmt: skip
    return DatasetConfig(**fields)  # type: ignore[arg-type]


def build(source: SourceMetadata, **changes: object) -> bytes:
    return build_eml(dataset(**changes), NODE, coverage(), "1.0", dt.date(2026, 1, 2),
                     source=source)  # fmt: skip


def tags(document: bytes, parent: str = "dataset") -> list[str]:
    root = lxml.etree.fromstring(document)
    found = root.find(parent) if parent == "dataset" else root.find(f"dataset/{parent}")
    return [lxml.etree.QName(c).localname for c in (found if found is not None else [])]


def parts(document: bytes, path: str) -> list[str]:
    """The text of each element at `path`, whitespace folded: what a reader sees."""
    root = lxml.etree.fromstring(document.lstrip())
    return [" ".join("".join(e.itertext()).split()) for e in root.findall(path)]


def count(document: bytes, path: str) -> int:
    return len(lxml.etree.fromstring(document.lstrip()).findall(path))


@pytest.mark.parametrize(("name", "document"), real_emls(), ids=[n for n, _ in real_emls()])
def test_build_eml__every_part_of_a_real_source_eml_is_carried(name: str, document: bytes) -> None:
    source = SourceMetadata.from_bytes(document, name)
    # node.toml names no creator or contact, nor an abstract when the source has one
    own = "" if source.abstract() is not None else "Written in node.toml."
    published = build(source, abstract=own)
    assert eml_problems(published) == []
    for tag in CARRIED:
        if tag == "intellectualRights" and source.notes:
            continue  # another licence than node.toml's: replaced, and said so
        for element in parts(document, f"dataset/{tag}"):
            if not element or (tag in ("creator", "contact") and not source.agents(tag)):
                continue  # nobody named: the profile needs a name, the node's own is used
            assert element in parts(published, f"dataset/{tag}"), f"{name}: {tag} lost"
    for kind in COVERAGE:
        for element in parts(document, f"dataset/coverage/{kind}"):
            assert element in parts(published, f"dataset/coverage/{kind}"), f"{name}: {kind}"
    if not own:
        assert count(published, "dataset/abstract/para") == count(document, "dataset/abstract/para")


def test_build_eml__an_ipt_eml_keeps_methods_project_parties_citations_keywords_coverage() -> None:
    source = SourceMetadata.from_path(FULL)
    published = build(source, abstract="Twelve plots on limestone, revisited.")
    text = published.decode("utf-8")
    for phrase in ("All stems over 1 cm diameter were tagged.", "Karst flora monitoring",
                   "An invented grant", "Huang", "Tran", "Le", "Pham", "limestone",
                   "permanent plots", "Plots were revisited", "Baseline for a 30x30",
                   "Limestone hills of the northern border provinces", "2015-03-01",
                   "Vascular plants", "Plots on limestone. An invented journal",
                   "A karst checklist", "https://example.org/logo.png"):  # fmt: skip
        assert phrase in text, phrase
    order = tags(published)
    assert order.index("methods") < order.index("project") < order.index("literatureCited")
    assert count(published, "additionalMetadata/metadata/gbif/bibliography/citation") == 1
    # node.toml's title and abstract win; the source's dataset-type keyword is the node's own
    assert "source title" not in text and "Twelve plots on limestone, revisited." in text
    assert "Samplingevent" not in text and text.count("GBIF Dataset Type Vocabulary") == 1
    # The source's coverage is the publisher's; the computed one fills no gap here.
    assert "georeferenced records" not in text
    # Same licence: the source's rights paragraph follows the node's own.
    assert count(published, "dataset/intellectualRights/para") == 2 and source.notes == []
    assert eml_problems(published) == []


def test_build_eml__node_toml_overrides_creator_contact_and_licence() -> None:
    source = SourceMetadata.from_path(FULL)
    published = build(source, creator="Wei Huang", contact_email="data@gxib.example",
                       licence="CC-BY-NC-4.0")  # fmt: skip
    text = published.decode("utf-8")
    creators = lxml.etree.fromstring(published).findall("dataset/creator")
    assert len(creators) == 1 and creators[0].findtext("individualName/surName") == "Wei Huang"
    contacts = lxml.etree.fromstring(published).findall("dataset/contact")
    assert [c.findtext("electronicMailAddress") for c in contacts] == ["data@gxib.example"]
    assert "by/4.0" not in text and "by-nc/4.0" in text
    assert source.notes and "replaced by node.toml's licence CC-BY-NC-4.0" in source.notes[0]
    # what node.toml does not name is still carried
    assert "All stems over 1 cm diameter were tagged." in text


def test_build_eml__without_a_source_coverage_the_records_coverage_is_written() -> None:
    bare = FULL.read_bytes().replace(b"<coverage>", b"<!--").replace(b"</coverage>", b"-->")
    published = build(SourceMetadata.from_bytes(bare))
    assert "georeferenced records" in published.decode("utf-8")
    assert count(published, "dataset/coverage/taxonomicCoverage/taxonomicClassification") == 4


def test_source_metadata__refuses_entities_and_oversized_documents(tmp_path: Path) -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><eml><dataset/></eml>'
    with pytest.raises(UnsafeArchive):
        SourceMetadata.from_bytes(bomb)
    with pytest.raises(InvalidArchive, match="not EML"):
        SourceMetadata.from_bytes(b"<html><body>Not found</body></html>")
    big = tmp_path / "eml.xml"
    big.write_bytes(b"<eml>" + b" " * (64 * 1024 * 1024) + b"</eml>")
    with pytest.raises(UnsafeArchive, match="size limit"):
        SourceMetadata.from_path(big)
