"""Publishing validates the batches it publishes: one read, and a bad source commits nothing."""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import tomlkit

from node.cli.commands.datasets import publish_one
from node.core.config import CONFIG_FILE, load_config
from node.core.constants import PUBLISH_GROUP_ROWS, ROW_GROUP_ROWS
from node.core.errors import InvalidSource
from node.publish.validate import validate_source
from node.publish.versions import latest_version
from node.store.home import init_home
from node.store.store import PART_NAME, Store

HEADER = "occurrenceID,scientificName,basisOfRecord,eventDate\n"
GOOD = HEADER + "".join(
    f"GX-{i},Primulina tabacum,PreservedSpecimen,2020-05-{1 + i % 28:02d}\n" for i in range(500)
)


def _home(tmp_path: Path, text: str) -> Path:
    home = tmp_path / "node"
    init_home(home, "gxib", "Guangxi Institute of Botany", country="CN")
    (home / "sources" / "occ.csv").write_text(text, encoding="utf-8")
    document = tomlkit.parse((home / CONFIG_FILE).read_text(encoding="utf-8"))
    datasets = document.setdefault("datasets", tomlkit.aot())
    datasets.append(
        {
            "id": "occ",
            "title": "Karst specimens",
            "type": "occurrence",
            "source": "sources/occ.csv",
            "licence": "CC-BY-4.0",
            "abstract": "Specimens of karst plants.",
            "creator": "GXIB",
        }
    )
    (home / CONFIG_FILE).write_text(tomlkit.dumps(document), encoding="utf-8")
    return home


@pytest.mark.parametrize(
    "bad_tail",
    [
        "GX-1,Begonia masoniana,PreservedSpecimen,2021-01-01\n",  # an id repeats, at the end
        "GX-9000,Begonia masoniana,PreservedSpecimen\n",  # a row short of a cell
    ],
)
def test_publish__a_source_found_invalid_at_its_last_row_leaves_the_published_version(
    tmp_path: Path, bad_tail: str
) -> None:
    """The verdict comes after the last batch has been written to staging; the version
    published before, its stored Parquet and the dataset folder stay as they were."""
    home = _home(tmp_path, GOOD)
    publish_one(home, "occ", skip_invalid=False, major=False)
    config = load_config(home)
    before = latest_version(config, "occ")
    assert before is not None and before.records == 500
    stored = Store(home).local("occ")
    rows_before = pq.read_table(stored).num_rows
    folders_before = sorted(p.name for p in before.folder.parent.iterdir())

    (home / "sources" / "occ.csv").write_text(GOOD + bad_tail, encoding="utf-8")
    assert not validate_source(home / "sources" / "occ.csv").publishable
    with pytest.raises(InvalidSource, match="occ: not published"):
        publish_one(home, "occ", skip_invalid=False, major=False)

    after = latest_version(load_config(home), "occ")
    assert after is not None and after.version == before.version
    assert pq.read_table(stored).num_rows == rows_before
    assert sorted(p.name for p in before.folder.parent.iterdir()) == folders_before


def test_publish__the_valid_source_report_matches_validate(tmp_path: Path) -> None:
    """The checks run inside publish are validate's own: a file validate accepts publishes
    every row, and its warnings do not block."""
    text = GOOD + "GX-700,Primulina tabacum,PreservedSpecimen,2020-13-45\n"
    home = _home(tmp_path, text)
    report = validate_source(home / "sources" / "occ.csv")
    assert report.publishable and "RECORDED_DATE_INVALID" in report.to_dict()["counts"]
    message = publish_one(home, "occ", skip_invalid=False, major=False)
    assert "501 records" in message


def test_publish__the_stored_parquet_has_few_row_groups_whatever_the_batch_size(
    tmp_path: Path,
) -> None:
    """Records go through in PUBLISH_GROUP_ROWS tables, but the stored copy is written in
    ROW_GROUP_ROWS groups: a row group per table made its metadata, held by the writer and
    by every reader of the file, grow with the dataset."""
    rows = ROW_GROUP_ROWS + 6 * PUBLISH_GROUP_ROWS
    text = HEADER + "".join(
        f"GX-{i},Primulina tabacum,PreservedSpecimen,2020-05-{1 + i % 28:02d}\n"
        for i in range(rows)
    )
    home = _home(tmp_path, text)
    publish_one(home, "occ", skip_invalid=False, major=False)
    metadata = pq.ParquetFile(Store(home).local("occ") / PART_NAME).metadata
    assert metadata.num_rows == rows
    groups = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    assert all(size >= ROW_GROUP_ROWS for size in groups[:-1])
    assert len(groups) <= math.ceil(rows / ROW_GROUP_ROWS)
