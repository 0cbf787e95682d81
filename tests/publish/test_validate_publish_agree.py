"""`fednode validate` calls an archive publishable exactly when `fednode publish` publishes it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from node.cli import main
from node.publish.versions import latest_version
from node.store.home import init_home
from tests.nodes import TestNode

DWCA = Path(__file__).resolve().parents[1] / "data" / "dwca"
# node.toml types: an Event core is published as occurrence data with its own row type.
CONFIG_TYPE = {"checklist": "checklist", "occurrence": "occurrence", "event": "occurrence"}
NOT_ARCHIVES = {"LICENSE.txt", "description.rst", "rss.xml"}
ARCHIVES = sorted(
    str(p.relative_to(DWCA))
    for folder in DWCA.iterdir()
    for p in folder.iterdir()
    if p.name not in NOT_ARCHIVES
)
# Archives whose own EML states a licence the node cannot read: publish refuses to put
# node.toml's licence on them (fail closed), whatever validate says of the data itself.
LICENCE_UNREADABLE = {"ipt/dwca-inside-parent.zip"}  # CC BY-NC 3.0


@pytest.mark.parametrize("name", ARCHIVES)
def test_validate_and_publish_give_one_verdict(tmp_path: Path, name: str) -> None:
    archive = DWCA / name
    validated = CliRunner().invoke(main, ["validate", "--json", str(archive)])
    assert validated.exit_code in (0, 1), validated.output
    report = json.loads(validated.output)

    home = tmp_path / "node"
    init_home(home, "gxib", "Guangxi Institute of Botany", country="CN")
    copy = home / "sources" / archive.name
    (shutil.copytree if archive.is_dir() else shutil.copy)(archive, copy)
    node = TestNode(home, 0)
    node.edit_config(datasets=[{"id": "gx-a", "title": "Republished archive",
                                "type": CONFIG_TYPE.get(report.get("dataset_type"), "occurrence"),
                                "source": f"sources/{archive.name}", "licence": "CC-BY-4.0",
                                "abstract": "An archive from another publisher."}])  # fmt: skip
    published = CliRunner().invoke(main, ["publish", "gx-a", "--home", str(home)])
    done = latest_version(node.config, "gx-a") is not None
    if name in LICENCE_UNREADABLE:
        assert validated.exit_code == 0 and not done
        assert "which does not permit publishing it under" in published.output
        return
    assert (published.exit_code == 0) == done, published.output
    assert (validated.exit_code == 0) == done, (
        f"validate says {'publishable' if validated.exit_code == 0 else 'not publishable'}, "
        f"publish {'succeeded' if done else 'failed'}:\n{published.output}"
    )


def test_a_mapping_naming_the_core_id_publishes_what_validate_then_accepts(
    tmp_path: Path,
) -> None:
    archive = DWCA / "python-dwca-reader" / "dwca-simple-subdir.zip"
    mapping = tmp_path / "simple.mapping.toml"
    mapping.write_text('[id]\ncolumn = "id"\n', encoding="utf-8")
    assert CliRunner().invoke(main, ["validate", str(archive)]).exit_code == 1
    mapped = CliRunner().invoke(main, ["validate", str(archive), "--mapping", str(mapping)])
    assert mapped.exit_code == 0, mapped.output

    home = tmp_path / "node"
    init_home(home, "gxib", "Guangxi Institute of Botany", country="CN")
    shutil.copy(archive, home / "sources" / archive.name)
    shutil.copy(mapping, home / "sources" / mapping.name)
    node = TestNode(home, 0)
    node.edit_config(datasets=[{"id": "gx-a", "title": "Republished archive",
                                "type": "occurrence", "source": f"sources/{archive.name}",
                                "mapping": f"sources/{mapping.name}", "licence": "CC-BY-4.0",
                                "abstract": "An archive from another publisher."}])  # fmt: skip
    published = CliRunner().invoke(main, ["publish", "gx-a", "--home", str(home)])
    assert published.exit_code == 0, published.output
    assert latest_version(node.config, "gx-a") is not None
