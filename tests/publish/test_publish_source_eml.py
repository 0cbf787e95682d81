"""`fednode publish` carries the source's own EML into the archive it publishes."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import lxml.etree
import pytest
from click.testing import CliRunner
from dwca.read import DwCAReader

from node.cli import main
from node.publish.versions import latest_version
from node.store.home import init_home
from tests.nodes import TestNode

DATA = Path(__file__).resolve().parents[1] / "data"
TWO_EXTENSIONS = DATA / "dwca" / "python-dwca-reader" / "dwca-2extensions.zip"
IPT_SHAPED = DATA / "eml" / "ipt-shaped.xml"


def _node(tmp_path: Path, source: Path, **dataset: object) -> TestNode:
    home = tmp_path / "gxib"
    init_home(home, "gxib", "Guangxi Institute of Botany", country="CN")
    shutil.copy(source, home / "sources" / source.name)
    node = TestNode(home, 0)
    node.edit_config(datasets=[{"id": "gx-src", "title": "Republished", "licence": "CC-BY-4.0",
                                "source": f"sources/{source.name}", **dataset}])  # fmt: skip
    return node


def _published_eml(node: TestNode) -> bytes:
    info = latest_version(node.config, "gx-src")
    assert info is not None
    with zipfile.ZipFile(info.path) as archive:
        return archive.read("eml.xml")


def test_publish__an_archives_parties_and_abstract_reach_the_published_eml(tmp_path: Path) -> None:
    node = _node(tmp_path, TWO_EXTENSIONS, type="checklist")
    result = CliRunner().invoke(main, ["publish", "--home", str(node.home)])
    assert result.exit_code == 0, result.output
    info = latest_version(node.config, "gx-src")
    assert info is not None
    with DwCAReader(str(info.path)) as reader:  # GBIF's Python reader reads it back
        metadata = reader.metadata
    assert metadata is not None
    parties = metadata.findall("dataset/associatedParty/individualName/surName")
    assert [p.text for p in parties] == ["Noé"]
    assert metadata.findtext("dataset/abstract/para") == "qsdqsdqsdqsd"  # none in node.toml
    assert [c.findtext("surName") for c in metadata.findall("dataset/creator/individualName")] == [
        "dqsdqs"
    ]


def test_publish__an_eml_beside_a_csv_is_merged_and_an_unreadable_one_refused(
    tmp_path: Path,
) -> None:
    csv = tmp_path / "plots.csv"
    csv.write_text("occurrenceID,scientificName,basisOfRecord\np-1,Primulina eburnea,"
                   "HumanObservation\n", encoding="utf-8")  # fmt: skip
    node = _node(tmp_path, csv, type="occurrence", metadata="sources/eml.xml",
                 abstract="Plots on limestone hills.")  # fmt: skip
    (node.home / "sources" / "eml.xml").write_bytes(b"<eml><dataset><title>cut")
    result = CliRunner().invoke(main, ["publish", "--home", str(node.home)])
    assert result.exit_code == 1 and "metadata 'sources/eml.xml' cannot be read" in result.output
    assert latest_version(node.config, "gx-src") is None
    shutil.copy(IPT_SHAPED, node.home / "sources" / "eml.xml")
    result = CliRunner().invoke(main, ["publish", "--home", str(node.home)])
    assert result.exit_code == 0, result.output
    root = lxml.etree.fromstring(_published_eml(node))
    assert root.findtext("dataset/project/title") == "Karst flora monitoring"
    assert root.find("dataset/methods/sampling") is not None
    assert root.findtext("dataset/abstract/para") == "Plots on limestone hills."


def _eml_licensing(rights: str) -> bytes:
    """The IPT-shaped EML with its intellectualRights paragraph replaced by `rights`."""
    text = IPT_SHAPED.read_text(encoding="utf-8")
    start = text.index("<intellectualRights>")
    end = text.index("</intellectualRights>") + len("</intellectualRights>")
    return (text[:start] + f"<intellectualRights><para>{rights}</para></intellectualRights>"
            + text[end:]).encode("utf-8")  # fmt: skip


def _plots_node(tmp_path: Path, licence: str, rights: str) -> TestNode:
    csv = tmp_path / "plots.csv"
    csv.write_text("occurrenceID,scientificName,basisOfRecord\np-1,Primulina eburnea,"
                   "HumanObservation\n", encoding="utf-8")  # fmt: skip
    node = _node(tmp_path, csv, type="occurrence", metadata="sources/eml.xml", licence=licence)
    (node.home / "sources" / "eml.xml").write_bytes(_eml_licensing(rights))
    return node


@pytest.mark.parametrize(
    ("source", "node_licence", "published"),
    [
        ("http://creativecommons.org/licenses/by-nc/4.0/legalcode", "CC-BY-4.0", False),
        ("http://creativecommons.org/licenses/by-nc/4.0/legalcode", "CC0-1.0", False),
        ("http://creativecommons.org/licenses/by/4.0/legalcode", "CC-BY-NC-4.0", True),
        ("http://creativecommons.org/licenses/by-nc/4.0/legalcode", "CC-BY-NC-4.0", True),
    ],
)
def test_publish__node_toml_may_not_grant_more_than_the_sources_licence(
    tmp_path: Path, source: str, node_licence: str, published: bool
) -> None:
    node = _plots_node(tmp_path, node_licence, source)
    result = CliRunner().invoke(main, ["publish", "--home", str(node.home)])
    assert (result.exit_code == 0) is published, result.output
    assert (latest_version(node.config, "gx-src") is not None) is published
    if not published:
        (reason,) = [line for line in result.output.splitlines() if "gx-src:" in line]
        assert "CC-BY-NC-4.0" in reason and repr(node_licence) in reason, reason
        assert "--skip-invalid" not in result.output  # it cannot change a licence


def test_publish__a_source_licence_the_node_cannot_read_permits_nothing_else(
    tmp_path: Path,
) -> None:
    # Unreadable is the most restrictive case: not even CC-BY-NC-4.0 may be put on it.
    node = _plots_node(tmp_path, "CC-BY-NC-4.0", "All rights reserved by the collectors.")
    result = CliRunner().invoke(main, ["publish", "--home", str(node.home)])
    assert result.exit_code == 1, result.output
    assert "'All rights reserved by the collectors.'" in result.output
    assert "node.toml's licence 'CC-BY-NC-4.0'" in result.output
    assert latest_version(node.config, "gx-src") is None
