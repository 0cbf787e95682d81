"""`fednode publish` checks every dataset before it publishes any: all or nothing."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from node.cli import main
from node.demo import declare_sample
from node.publish.versions import latest_version
from node.store.home import init_home
from tests.nodes import TestNode

BROKEN_CSV = "occurrenceID,scientificName,basisOfRecord\nx-1,,PreservedSpecimen\nx-1,,Bad\n"


# Sound rows, but an abstract GBIF refuses: broken metadata, which --skip-invalid cannot help.
SHORT_ABSTRACT = {
    "id": "gxib-short",
    "title": "A dataset whose abstract GBIF refuses",
    "type": "checklist",
    "source": "sources/checklist.csv",
    "mapping": "sources/checklist.mapping.toml",
    "licence": "CC-BY-4.0",
    "abstract": "abc",
}


def _home(tmp_path: Path) -> TestNode:
    home = tmp_path / "gxib"
    init_home(home, "gxib", "Guangxi Institute of Botany", country="CN")
    declare_sample(home, "gxib")
    return TestNode(home, 0)


def _publish(node: TestNode, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["publish", *args, "--home", str(node.home)])
    return result.exit_code, result.output


def test_one_broken_dataset_publishes_none_and_names_every_failure(tmp_path: Path) -> None:
    node = _home(tmp_path)
    (node.home / "sources" / "broken.csv").write_text(BROKEN_CSV, encoding="utf-8")
    node.edit_config(
        datasets=[
            {
                "id": "gxib-broken",
                "title": "A broken file",
                "type": "occurrence",
                "source": "sources/broken.csv",
                "licence": "CC-BY-4.0",
                "abstract": "Duplicated ids and no names.",
            },
            SHORT_ABSTRACT,
        ]
    )
    code, output = _publish(node)
    assert code == 1, output
    assert "nothing published: 2 of 4 dataset(s) would fail" in output
    assert "gxib-broken: not published; its source breaks GBIF's rules" in output
    assert "gxib-short: not published;" in output and "abstract" in output
    assert "publish the valid rows with --skip-invalid" in output  # gxib-broken's rows
    # The two valid sample datasets, declared first, were not published either.
    for dataset in ("gxib-karst-checklist", "gxib-karst-occurrences", "gxib-broken"):
        assert latest_version(node.config, dataset) is None


def test_every_dataset_valid_publishes_them_all(tmp_path: Path) -> None:
    node = _home(tmp_path)
    code, output = _publish(node)
    assert code == 0, output
    assert latest_version(node.config, "gxib-karst-checklist") is not None
    assert latest_version(node.config, "gxib-karst-occurrences") is not None


def test_skip_invalid_lets_a_broken_source_through_but_not_broken_metadata(
    tmp_path: Path,
) -> None:
    node = _home(tmp_path)
    node.edit_config(
        datasets=[
            SHORT_ABSTRACT,
        ]
    )
    code, output = _publish(node, "--skip-invalid")
    assert code == 1 and "gxib-short: not published;" in output, output
    assert latest_version(node.config, "gxib-karst-checklist") is None
