"""`fednode publish --drop NAME`: a chosen loss, reported by name; a typo is an error."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

from click.testing import CliRunner

from node.cli import main
from node.publish.versions import latest_version
from node.store.home import init_home
from tests.nodes import TestNode

TWO_EXTENSIONS = (
    Path(__file__).resolve().parents[1] / "data" / "dwca" / "python-dwca-reader"
    / "dwca-2extensions.zip"
)  # fmt: skip


def _node(tmp_path: Path, **dataset: object) -> TestNode:
    home = tmp_path / "gxib"
    init_home(home, "gxib", "Guangxi Institute of Botany", country="CN")
    shutil.copy(TWO_EXTENSIONS, home / "sources" / TWO_EXTENSIONS.name)
    node = TestNode(home, 0)
    declared = {"id": "gx-two", "title": "Two extensions", "type": "checklist",
                "licence": "CC-BY-4.0", "abstract": "A checklist republished.",
                "source": f"sources/{TWO_EXTENSIONS.name}", **dataset}  # fmt: skip
    node.edit_config(datasets=[declared])
    return node


def _publish(node: TestNode, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["publish", *args, "--home", str(node.home)])
    return result.exit_code, result.output


def _published(node: TestNode) -> tuple[str, list[str]]:
    """The core file's header and the archive's file names."""
    info = latest_version(node.config, "gx-two")
    assert info is not None
    with zipfile.ZipFile(info.path) as archive:
        core = next(n for n in archive.namelist() if n.startswith(("taxon", "occurrence")))
        return archive.read(core).decode("utf-8").splitlines()[0], archive.namelist()


def test_publish_drop__a_column_and_an_extension_go_and_are_reported(tmp_path: Path) -> None:
    node = _node(tmp_path)
    code, output = _publish(node, "gx-two")
    assert code == 0, output
    header, files = _published(node)
    assert "phylum" in header and any("description" in f.lower() for f in files)

    code, output = _publish(node, "gx-two", "--drop", "phylum", "--drop", "Description")
    assert code == 0, output
    assert "dropped column phylum (4 values), extension Description (3 rows)" in output
    header, files = _published(node)
    assert "phylum" not in header.split("\t") and "kingdom" in header
    assert not any("description" in f.lower() for f in files)
    assert any("vernacular" in f.lower() for f in files)


def test_publish_drop__a_name_that_matches_nothing_publishes_nothing(tmp_path: Path) -> None:
    node = _node(tmp_path)
    code, output = _publish(node, "gx-two", "--drop", "phylumm")
    assert code == 1
    assert "--drop phylumm: no column of the core and no extension has this name" in output
    assert latest_version(node.config, "gx-two") is None


def test_publish_drop__node_toml_drop_and_the_identifier_is_kept(tmp_path: Path) -> None:
    node = _node(tmp_path, drop=["kingdom"])
    code, output = _publish(node)
    assert code == 0, output
    assert "dropped column kingdom" in output
    assert "kingdom" not in _published(node)[0].split("\t")
    code, output = _publish(node, "gx-two", "--drop", "taxonID")
    assert code == 1 and "cannot be dropped" in output


def test_publish_drop__vernacular_names_go_from_the_extension_and_the_core(tmp_path: Path) -> None:
    node = _node(tmp_path)
    code, output = _publish(node, "gx-two", "--drop", "VernacularName")
    assert code == 0, output
    assert "extension VernacularName (4 rows)" in output and "0 vernacular names" in output
    files = _published(node)[1]
    assert not any("vernacular" in f.lower() for f in files)
    assert any("description" in f.lower() for f in files)


def test_publish_drop__a_typo_in_node_toml_publishes_no_dataset(tmp_path: Path) -> None:
    node = _node(tmp_path)
    declared = {"id": "gx-typo", "title": "Two extensions again", "type": "checklist",
                "licence": "CC-BY-4.0", "abstract": "The same checklist, one typo.",
                "source": f"sources/{TWO_EXTENSIONS.name}", "drop": ["Descriptionn"]}  # fmt: skip
    node.edit_config(datasets=[declared])
    code, output = _publish(node)
    assert code == 1 and "gx-typo: not published; drop Descriptionn: no column" in output
    assert latest_version(node.config, "gx-two") is None  # declared first, not published
