"""Publishing: versions, change summaries, pruning, signatures and atomicity."""

from __future__ import annotations

import base64
import csv
import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from dwca.read import DwCAReader

from node.core.config import DatasetConfig, NodeConfig
from node.core.errors import InvalidArchive, InvalidSource
from node.core.identity import Identity, verify
from node.dwca.eml import parse_eml
from node.publish.versions import (
    VersionInfo,
    latest_version,
    list_versions,
    next_version,
    publish_dataset,
)
from node.store.records import to_stored_layout
from node.store.store import Store, read_parquet

DATA = Path(__file__).parents[1] / "data"
NOW = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
DWC = "http://rs.tdwg.org/dwc/terms/"


def make_config(home: Path, kept: int = 5, **dataset: object) -> NodeConfig:
    fields = {
        "id": "gx-checklist",
        "title": "Vascular plants of Guangxi",
        "type": "checklist",
        "source": "sources/guangxi.csv",
        "licence": "CC-BY-4.0",
        "abstract": "Names of vascular plants recorded in Guangxi, with Chinese names.",
        "creator": "Guangxi Institute of Botany",
        **dataset,
    }
    return NodeConfig(
        home=home,
        id="gxib",
        name="Guangxi Institute of Botany",
        country="CN",
        url="https://node.gxib.example",
        archive_versions_kept=kept,
        datasets=(DatasetConfig(**fields),),  # type: ignore[arg-type]
    )


@pytest.fixture
def identity() -> Identity:
    return Identity(Ed25519PrivateKey.generate())


def guangxi(limit: int = 200, changed: dict[int, str] | None = None) -> pa.Table:
    """Real names from the Guangxi checklist; `changed` overrides some names by row."""
    path = DATA / "checklists" / "guangxi_cnplants.csv"
    with open(path, encoding="utf-8", newline="") as handle:
        rows = [row for _, row in zip(range(limit), csv.DictReader(handle), strict=False)]
    names = [r["SPECIES_FULL"] for r in rows]
    for index, name in (changed or {}).items():
        names[index] = name
    table = to_stored_layout(
        pa.table(
            {
                "taxonID": [f"gx-{i}" for i in range(len(rows))],
                "scientificName": names,
                "family": [r["FAMILY"] for r in rows],
                "genus": [r["GENUS"] for r in rows],
            }
        )
    )
    return table.append_column("fed_vernacular_zh", pa.array([r["SPECIES_CN"] for r in rows]))


def batches(table: pa.Table, size: int = 64) -> Iterator[pa.Table]:
    for start in range(0, table.num_rows, size):
        yield table.slice(start, size)


def publish(config: NodeConfig, identity: Identity, table: pa.Table, **kwargs: object):  # type: ignore[no-untyped-def]
    kwargs.setdefault("now", NOW)
    return publish_dataset(config, "gx-checklist", identity, batches(table), **kwargs)  # type: ignore[arg-type]


def test_next_version__minor_steps_and_major_resets() -> None:
    assert next_version(None) == "1.0"
    assert next_version("1.9") == "1.10"
    assert next_version("1.10", change_major=True) == "2.0"


def test_publish_dataset__first_version_is_signed_and_complete(
    tmp_path: Path, identity: Identity
) -> None:
    config = make_config(tmp_path)
    result = publish(config, identity, guangxi())
    info = result.version
    assert (result.status, info.version) == ("published", "1.0")
    assert info.path == Store(tmp_path).archives("gx-checklist") / "1.0" / "dwca.zip"
    assert info.sha256 == hashlib.sha256(info.path.read_bytes()).hexdigest()
    assert verify(identity.public_key, info.signature, info.sha256.encode("ascii"))
    base64.b64decode(info.signature, validate=True)
    assert (info.records, info.vernacular_records) == (200, 200)
    assert result.changes.text() == "First version: 200 records."
    assert (info.folder / "eml.xml").read_bytes() == info.eml_path.read_bytes()
    assert parse_eml(info.eml_path)["version"] == "1.0"
    with DwCAReader(str(info.path)) as archive:
        assert len(list(archive)) == 200
        assert archive.metadata is not None
    stored = read_parquet(Store(tmp_path).local("gx-checklist"))
    assert stored.num_rows == 200
    assert set(stored["fed_source"].to_pylist()) == {"gxib"}
    assert set(stored["fed_licence"].to_pylist()) == {"CC-BY-4.0"}
    assert latest_version(config, "gx-checklist") == info


def test_publish_dataset__second_version_summarises_changes(
    tmp_path: Path, identity: Identity
) -> None:
    config = make_config(tmp_path)
    publish(config, identity, guangxi(200))
    # 10 names corrected, 20 records dropped from the end, 30 new ones added.
    changed = {i: f"Corrected name {i}" for i in range(10)}
    table = pa.concat_tables([guangxi(180, changed), guangxi(230).slice(200)])
    result = publish(config, identity, table, now=NOW + dt.timedelta(days=1))
    changes = result.changes
    assert (result.status, result.version.version) == ("published", "1.1")
    assert (changes.added, changes.removed, changes.changed, changes.records) == (30, 20, 10, 210)
    assert changes.text() == "Since version 1.0: 30 added, 20 removed, 10 changed (210 records)."
    saved = json.loads((result.version.folder / "changes.json").read_text(encoding="utf-8"))
    assert saved["summary"] == changes.text() and saved["version"] == "1.1"
    assert changes.text() in result.version.eml_path.read_text(encoding="utf-8")
    assert [v.version for v in list_versions(config, "gx-checklist")] == ["1.0", "1.1"]


def test_publish_dataset__vernacular_change_is_a_change(tmp_path: Path, identity: Identity) -> None:
    config = make_config(tmp_path)
    table = guangxi(50)
    publish(config, identity, table)
    names = table["fed_vernacular_zh"].to_pylist()
    names[3] = names[3] + " | 别名"
    edited = table.set_column(
        table.column_names.index("fed_vernacular_zh"), "fed_vernacular_zh", pa.array(names)
    )
    result = publish(config, identity, edited)
    assert (result.changes.changed, result.version.vernacular_records) == (1, 51)


def test_publish_dataset__unchanged_data_makes_no_new_version(
    tmp_path: Path, identity: Identity
) -> None:
    config = make_config(tmp_path)
    first = publish(config, identity, guangxi())
    again = publish(config, identity, guangxi(), now=NOW + dt.timedelta(days=7))
    assert again.status == "unchanged"
    assert again.version == first.version
    assert [v.version for v in list_versions(config, "gx-checklist")] == ["1.0"]


def test_publish_dataset__metadata_change_makes_a_new_version(
    tmp_path: Path, identity: Identity
) -> None:
    publish(make_config(tmp_path), identity, guangxi())
    config = make_config(tmp_path, title="Vascular plants of Guangxi, 2026 revision")
    result = publish(config, identity, guangxi())
    assert (result.status, result.version.version) == ("published", "1.1")
    assert result.changes.metadata_changed and not result.changes.data_changed
    assert (
        parse_eml(result.version.eml_path)["title"] == "Vascular plants of Guangxi, 2026 revision"
    )


def test_publish_dataset__major_change_raises_the_major_version(
    tmp_path: Path, identity: Identity
) -> None:
    config = make_config(tmp_path)
    publish(config, identity, guangxi())
    result = publish(config, identity, guangxi(), change_major=True)
    assert (result.status, result.version.version) == ("published", "2.0")


def test_publish_dataset__old_versions_are_pruned(tmp_path: Path, identity: Identity) -> None:
    config = make_config(tmp_path, kept=2)
    pruned = []
    for n in range(4):
        result = publish(config, identity, guangxi(20 + n))
        pruned += result.pruned
    root = Store(tmp_path).archives("gx-checklist")
    assert pruned == ["1.0", "1.1"]
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == [
        "1.2",
        "1.3",
        "latest",
    ]
    assert [v.version for v in list_versions(config, "gx-checklist")] == ["1.2", "1.3"]
    assert latest_version(config, "gx-checklist").version == "1.3"  # type: ignore[union-attr]


def test_publish_dataset__failure_mid_write_keeps_previous_version(
    tmp_path: Path, identity: Identity
) -> None:
    config = make_config(tmp_path)
    before = publish(config, identity, guangxi(100)).version
    stored = read_parquet(Store(tmp_path).local("gx-checklist"))

    def failing() -> Iterator[pa.Table]:
        yield from batches(guangxi(150))
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        publish_dataset(config, "gx-checklist", identity, failing(), now=NOW)
    root = Store(tmp_path).archives("gx-checklist")
    assert latest_version(config, "gx-checklist") == before
    assert sorted(p.name for p in root.iterdir()) == [".lock", "1.0", "latest"]
    assert read_parquet(Store(tmp_path).local("gx-checklist")).equals(stored)


def test_publish_dataset__duplicate_ids_are_refused(tmp_path: Path, identity: Identity) -> None:
    config = make_config(tmp_path)
    table = guangxi(30)
    with pytest.raises(InvalidSource, match=r"taxonID must be unique.*'gx-1' \(2x\)"):
        publish(config, identity, pa.concat_tables([table, table.slice(1, 1)]))
    assert latest_version(config, "gx-checklist") is None
    assert not Store(tmp_path).local("gx-checklist").exists()


def test_publish_dataset__interrupted_publish_leftovers_are_discarded(
    tmp_path: Path, identity: Identity
) -> None:
    config = make_config(tmp_path)
    publish(config, identity, guangxi(10))
    root = Store(tmp_path).archives("gx-checklist")
    # A crash after the rename but before `latest` moved leaves 1.1 unannounced.
    (root / "1.1").mkdir()
    (root / ".staging-deadbeef").mkdir()
    assert [v.version for v in list_versions(config, "gx-checklist")] == ["1.0"]
    result = publish(config, identity, guangxi(12))
    assert result.version.version == "1.1"
    assert not (root / ".staging-deadbeef").exists()


@dataclasses.dataclass
class Reject:
    line: int
    field: str
    reason: str


def test_publish_dataset__rejects_are_written_beside_the_archive(
    tmp_path: Path, identity: Identity
) -> None:
    config = make_config(tmp_path)
    rejects = [Reject(7, "taxonID", "empty"), Reject(12, "scientificName", "只有中文名")]
    result = publish(config, identity, guangxi(20), rejects=rejects)
    assert result.rejects == 2
    text = (result.version.folder / "rejects.csv").read_text(encoding="utf-8-sig")
    assert list(csv.DictReader(text.splitlines())) == [
        {"line": "7", "field": "taxonID", "reason": "empty"},
        {"line": "12", "field": "scientificName", "reason": "只有中文名"},
    ]


def test_publish_dataset__formula_like_rejects_are_written_as_text(
    tmp_path: Path, identity: Identity
) -> None:
    config = make_config(tmp_path)
    rejects = [Reject(3, "scientificName", '=HYPERLINK("http://example.invalid")')]
    result = publish(config, identity, guangxi(20), rejects=rejects)
    text = (result.version.folder / "rejects.csv").read_text(encoding="utf-8-sig")
    assert list(csv.DictReader(text.splitlines())) == [
        {"line": "3", "field": "scientificName", "reason": '\'=HYPERLINK("http://example.invalid")'}
    ]


def test_publish_dataset__occurrences_carry_coverage_in_eml(
    tmp_path: Path, identity: Identity
) -> None:
    config = make_config(tmp_path, id="karst", type="occurrence", licence="CC-BY-NC-4.0")
    table = to_stored_layout(
        pa.table(
            {
                "occurrenceID": ["gxib:1", "gxib:2"],
                "basisOfRecord": ["PreservedSpecimen"] * 2,
                "scientificName": ["Primulina eburnea", "Begonia masoniana"],
                "family": ["Gesneriaceae", "Begoniaceae"],
                "decimalLatitude": ["22.35", "23.1"],
                "decimalLongitude": ["106.85", "107.6"],
                "eventDate": ["2019-04-02", "2021-10-15"],
            }
        )
    )
    result = publish_dataset(config, "karst", identity, [table], now=NOW)
    text = result.version.eml_path.read_text(encoding="utf-8")
    assert "<westBoundingCoordinate>106.85</westBoundingCoordinate>" in text
    assert "<calendarDate>2019-04-02</calendarDate>" in text
    assert parse_eml(result.version.eml_path)["licence"] == "CC-BY-NC-4.0"
    with DwCAReader(str(result.version.path)) as archive:
        licences = {r.data["http://purl.org/dc/terms/license"] for r in archive}
    assert licences == {"http://creativecommons.org/licenses/by-nc/4.0/legalcode"}


def test_publish_dataset__a_lost_latest_pointer_costs_no_version(
    tmp_path: Path, identity: Identity
) -> None:
    config = make_config(tmp_path)
    publish(config, identity, guangxi(10))
    publish(config, identity, guangxi(11))
    (Store(tmp_path).archives("gx-checklist") / "latest").unlink()
    assert latest_version(config, "gx-checklist") is None
    result = publish(config, identity, guangxi(12))
    assert result.version.version == "1.2"
    assert [v.version for v in list_versions(config, "gx-checklist")] == ["1.0", "1.1", "1.2"]


def _as_if_kept_under_the_old_scheme(info: VersionInfo) -> None:
    """What a version published before digest schemes looks like: BLAKE2b-64 digests of
    other text, and no scheme in its manifest."""
    digests = info.folder / "digests.parquet"
    table = read_parquet(digests)
    old = [
        int.from_bytes(hashlib.blake2b(i.encode(), digest_size=8).digest(), "little", signed=True)
        for i in table["id"].to_pylist()
    ]
    pq.write_table(table.set_column(1, "digest", pa.array(old, pa.int64())), digests)
    manifest = json.loads((info.folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest.pop("digest_scheme") == "xxh3-64"
    (info.folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def test_publish_dataset__old_scheme_digests_are_recomputed_from_the_archive(
    tmp_path: Path, identity: Identity
) -> None:
    config = make_config(tmp_path)
    _as_if_kept_under_the_old_scheme(publish(config, identity, guangxi(200)).version)
    changed = {i: f"Corrected name {i}" for i in range(10)}
    table = pa.concat_tables([guangxi(180, changed), guangxi(230).slice(200)])
    result = publish(config, identity, table, now=NOW + dt.timedelta(days=1))
    changes = result.changes
    assert (changes.added, changes.removed, changes.changed, changes.records) == (30, 20, 10, 210)
    manifest = json.loads((result.version.folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["digest_scheme"] == "xxh3-64"
    assert not (result.version.folder / ".duckdb").exists()


def test_publish_dataset__unchanged_data_stays_unchanged_across_schemes(
    tmp_path: Path, identity: Identity
) -> None:
    config = make_config(tmp_path)
    first = publish(config, identity, guangxi())
    _as_if_kept_under_the_old_scheme(first.version)
    again = publish(config, identity, guangxi(), now=NOW + dt.timedelta(days=7))
    assert (again.status, again.changes.unchanged) == ("unchanged", 200)


def test_publish_dataset__an_unreadable_old_scheme_archive_stops_with_one_line(
    tmp_path: Path, identity: Identity
) -> None:
    config = make_config(tmp_path)
    first = publish(config, identity, guangxi(50)).version
    _as_if_kept_under_the_old_scheme(first)
    first.path.write_bytes(b"PK\x03\x04 not a zip any more")
    with pytest.raises(InvalidArchive, match="kept version cannot be read") as raised:
        publish(config, identity, guangxi(60), now=NOW + dt.timedelta(days=1))
    assert "\n" not in str(raised.value)
    assert latest_version(config, "gx-checklist").version == "1.0"  # type: ignore[union-attr]
