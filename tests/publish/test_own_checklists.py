"""The node's own checklists decide who is sensitive, through synonyms too.

A checklist published by the node (here with a synonym row, as checklists exported from
herbarium databases carry them) gives its red list and its synonymy to enforcement: a
record under the old name *Chirita eburnea* is caught by the category the checklist gives
the accepted *Primulina eburnea*, and a taxon include may reach it through the node's own
synonymy, never through a partner's.
"""

from __future__ import annotations

import csv
from pathlib import Path

from click.testing import CliRunner

from agreements.enforce import enforce
from node.cli import main
from node.core.config import load_config
from node.publish.own_checklists import canonical, own_names, with_trusted_accepted_names
from tests.agreements.agreement_builders import (
    DATASET,
    FLOW,
    NOW,
    agreement_text,
    records,
    signed,
)
from tests.nodes import make_node

ROWS = [
    {"taxonID": "t1", "scientificName": "Primulina eburnea (Hance) Yin Z.Wang",
     "taxonomicStatus": "accepted", "acceptedNameUsage": "", "iucnRedListCategory": "极危（CR）",
     "family": "Gesneriaceae"},
    {"taxonID": "t2", "scientificName": "Chirita eburnea Hance", "taxonomicStatus": "synonym",
     "acceptedNameUsage": "Primulina eburnea (Hance) Yin Z.Wang", "iucnRedListCategory": "",
     "family": "Gesneriaceae"},
    {"taxonID": "t3", "scientificName": "Primulina tabacum Hance",
     "taxonomicStatus": "accepted", "acceptedNameUsage": "", "iucnRedListCategory": "LC",
     "family": "Gesneriaceae"},
]  # fmt: skip


def published_checklist(tmp_path: Path) -> Path:
    node = make_node(tmp_path, "gxib", "Guangxi Institute of Botany", "CN")
    source = node.home / "sources" / "checklist.csv"
    with source.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, list(ROWS[0]))
        writer.writeheader()
        writer.writerows(ROWS)
    node.edit_config(
        datasets=[
            {
                "id": "gxib-names",
                "title": "Names with synonyms",
                "type": "checklist",
                "source": "sources/checklist.csv",
                "licence": "CC-BY-4.0",
                "abstract": "Accepted names, a synonym and categories.",
            }
        ]
    )
    result = CliRunner().invoke(main, ["publish", "--home", str(node.home)])
    assert result.exit_code == 0, result.output
    return node.home


def test_own_checklists_give_the_red_list_and_the_synonymy(tmp_path: Path) -> None:
    names = own_names(load_config(published_checklist(tmp_path)))
    assert names.synonyms == {"Chirita eburnea": "Primulina eburnea"}
    assert names.red_list["Primulina eburnea"] == "CR"
    assert names.red_list["Chirita eburnea"] == "CR"  # the accepted name's category
    assert names.red_list["Primulina tabacum"] == "LC"
    assert canonical("Chirita eburnea Hance") == "Chirita eburnea"


def test_an_old_name_is_caught_by_the_accepted_names_category(tmp_path: Path) -> None:
    names = own_names(load_config(published_checklist(tmp_path)))
    table = records(
        {"fed_dataset": DATASET},
        occurrenceID=["old", "other"],
        scientificName=["Chirita eburnea Hance", "Primulina tabacum Hance"],
        decimalLatitude=["23.45612", "23.1"],
        decimalLongitude=["106.78921", "106.2"],
    )
    table = with_trusted_accepted_names(table, names.synonyms)
    rule = '\n[[flows.sensitive]]\nthreat = ["CR"]\naction = "withhold"\n'
    agreement = signed(agreement_text(FLOW + rule))
    out, _ = enforce(table, agreement, agreement.flows[0], NOW, DATASET, names.red_list)
    assert out.column("occurrenceID").to_pylist() == ["other"]
    include = 'taxa = { include = ["Primulina eburnea"] }\n'
    agreement = signed(agreement_text(FLOW + include))
    out, _ = enforce(table, agreement, agreement.flows[0], NOW, DATASET, names.red_list)
    assert out.column("occurrenceID").to_pylist() == ["old"]  # the node's own synonymy
