"""Reconciliation of real checklists: the Guangxi list (older names) against Flora of China.

Scientific and Chinese names come from `tests/data/checklists/`; synonym links written into
small test lists are published facts (Flora of China's treatment). Vietnamese names are
made-up placeholders ("Tên thử ..."), since no Vietnamese checklist is available.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mappings.checklists import CHECKLIST_SCHEMA, from_table, load_checklist
from mappings.reconcile import Crosswalk, reconcile, reconcile_files
from mappings.review import score_labelled
from mappings.vernacular import zh_key
from node.store.store import read_parquet, write_parquet_atomic

DATA = Path(__file__).parents[1] / "data"
GUANGXI = DATA / "checklists" / "guangxi_cnplants.csv"
FLORA_OF_CHINA = DATA / "checklists" / "flora_of_china_names.csv"


@pytest.fixture(scope="module")
def guangxi() -> pa.Table:
    return load_checklist(GUANGXI)


@pytest.fixture(scope="module")
def flora_of_china() -> pa.Table:
    return load_checklist(FLORA_OF_CHINA)


@pytest.fixture(scope="module")
def crosswalk(guangxi, flora_of_china) -> Crosswalk:
    return reconcile(guangxi, flora_of_china)


def _rows(crosswalk: Crosswalk, left_name: str) -> list[dict]:
    return [r for r in crosswalk.table.to_pylist() if r["left_name"] == left_name]


def _taxa(rows: list[dict]) -> pa.Table:
    """A small Darwin Core taxon table; missing terms are empty."""
    terms = ["taxonID", "scientificName", "acceptedNameUsageID", "taxonomicStatus",
             "vernacularName", "language"]  # fmt: skip
    return pa.table({t: [r.get(t, "") for r in rows] for t in terms})


# -- the real lists ----------------------------------------------------------------------
def test_load_checklist__both_real_formats(guangxi, flora_of_china):
    assert guangxi.schema == CHECKLIST_SCHEMA and flora_of_china.schema == CHECKLIST_SCHEMA
    assert guangxi.num_rows == 6_343
    # Flora of China gives every name twice (simplified, traditional): one row per name.
    assert flora_of_china.num_rows == 41_295
    row = next(
        r for r in flora_of_china.to_pylist() if r["name"] == "Senna alata (Linnaeus) Roxburgh"
    )
    assert row["vernacular_zh"] == "翅荚决明 | 翅莢決明"
    assert (row["canonical"], row["authorship"], row["rank"]) == (
        "Senna alata", "(Linnaeus) Roxburgh", "species"
    )  # fmt: skip


def test_reconcile__labelled_pairs_precision_and_no_fuzzy_false_positive(crosswalk):
    with open(DATA / "labelled_pairs.csv", encoding="utf-8") as handle:
        labelled = list(csv.DictReader(handle))
    assert len(labelled) >= 300
    assert {p["expected_kind"] for p in labelled} >= {
        "exact", "canonical", "variant", "fuzzy", "synonym", "vernacular", "higher_rank",
        "ambiguous", "none",
    }  # fmt: skip
    score = score_labelled(crosswalk.table, labelled)
    assert [fp for fp in score["false_positives"] if fp["match_kind"] == "fuzzy"] == []
    assert score["precision"] >= 0.97
    assert score["recall"] >= 0.9
    ambiguous = {r["right_name"] for r in _rows(crosswalk, "Clematis loureiriana DC.")}
    assert ambiguous == {"Clematis loureiroana de Candolle", "Clematis smilacifolia Wallich"}


def test_reconcile__every_match_kind_occurs_on_the_real_lists(crosswalk):
    counts = crosswalk.left_counts
    assert sum(counts.values()) == len(
        {r for r in crosswalk.table.column("left_name").to_pylist() if r}
    )
    for kind, count in counts.items():
        assert count > 0, kind
    assert counts["exact"] > 4_000


def test_reconcile__genus_transfers_sharing_a_chinese_name_are_found(
    crosswalk, guangxi, flora_of_china
):
    """Every Guangxi name whose Chinese name Flora of China gives to one name of another
    genus, and whose Latin name Flora of China lacks, is paired with that name."""
    by_zh: dict[str, set[str]] = {}
    for row in flora_of_china.to_pylist():
        if " " in row["canonical"]:
            for key in filter(None, map(zh_key, row["vernacular_zh"].split(" | "))):
                by_zh.setdefault(key, set()).add(row["name"])
    canonicals = set(flora_of_china.column("canonical").to_pylist())
    expected = {}
    for row in guangxi.to_pylist():
        targets = by_zh.get(zh_key(row["vernacular_zh"]) or "-", set())
        if row["canonical"] not in canonicals and len(targets) == 1:
            target = next(iter(targets))
            if target.split()[0] != row["genus"]:
                expected[row["name"]] = target
    assert len(expected) > 100
    pairs = {(r["left_name"], r["right_name"]) for r in crosswalk.table.to_pylist()}
    missing = [(left, right) for left, right in expected.items() if (left, right) not in pairs]
    assert missing == []


def test_reconcile__homotypic_synonym_and_its_accepted_name(crosswalk):
    (row,) = _rows(crosswalk, "Cassia alata Linn.")
    assert row["match_kind"] == "synonym"
    assert row["right_name"] == "Senna alata (Linnaeus) Roxburgh"
    assert row["accepted_name"] == "Senna alata (Linnaeus) Roxburgh"
    assert row["accepted_canonical"] == "Senna alata"
    assert "basionym" in row["evidence"] and "翅荚决明" in row["evidence"]


def test_reconcile__fuzzy_rows_give_their_edit_distance(crosswalk):
    (row,) = _rows(crosswalk, "Chloranthus nultistachys Pei")
    assert (row["match_kind"], row["edit_distance"]) == ("fuzzy", 1)
    assert row["right_name"] == "Chloranthus multistachys Pei"
    fuzzy = [r for r in crosswalk.table.to_pylist() if r["match_kind"] == "fuzzy"]
    assert all(r["edit_distance"] and r["edit_distance"] >= 1 for r in fuzzy)


def test_reconcile__right_only_names_are_kept_as_none_rows(crosswalk, flora_of_china):
    right_names = set(crosswalk.table.column("right_name").to_pylist()) - {""}
    assert right_names == set(flora_of_china.column("name").to_pylist())


# -- small lists built from real names ---------------------------------------------------
def test_reconcile__chinese_name_links_a_genus_transfer():
    left = _taxa([{"scientificName": "Chirita eburnea Hance", "vernacularName": "牛耳朵"}])
    bare = _taxa([{"scientificName": "Primulina eburnea", "vernacularName": "牛耳朵"}])
    (row,) = [r for r in reconcile(left, bare).table.to_pylist() if r["left_name"]]
    assert (row["match_kind"], row["right_name"]) == ("vernacular", "Primulina eburnea")
    # With the right name's authorship the basionym link shows too: a homotypic synonym.
    cited = _taxa(
        [{"scientificName": "Primulina eburnea (Hance) Yin Z. Wang", "vernacularName": "牛耳朵"}]
    )
    (row,) = [r for r in reconcile(left, cited).table.to_pylist() if r["left_name"]]
    assert row["match_kind"] == "synonym"


def test_reconcile__traditional_chinese_name_matches_simplified():
    left = _taxa([{"scientificName": "Sapium sebiferum", "vernacularName": "烏桕"}])
    right = _taxa([{"scientificName": "Triadica sebifera", "vernacularName": "乌桕"}])
    (row,) = [r for r in reconcile(left, right).table.to_pylist() if r["left_name"]]
    assert row["match_kind"] == "vernacular"


def test_reconcile__vietnamese_name_links_when_latin_fails():
    # Placeholder Vietnamese names, with and without diacritics.
    left = _taxa([{"scientificName": "Smilacina paniculata (Baker) Wang et Tang",
                   "vernacularName": "Tên thử Hai", "language": "vi"}])  # fmt: skip
    right = _taxa([{"scientificName": "Maianthemum tatsienense (Franchet) LaFrankie",
                    "vernacularName": "ten thu hai", "language": "vi"}])  # fmt: skip
    (row,) = [r for r in reconcile(left, right).table.to_pylist() if r["left_name"]]
    assert row["match_kind"] == "vernacular"
    assert (row["left_vi"], row["right_vi"]) == ("Tên thử Hai", "ten thu hai")


def test_reconcile__synonym_link_in_the_left_list():
    left = _taxa([
        {"taxonID": "1", "scientificName": "Isodon serra (Maximowicz) Kudo",
         "taxonomicStatus": "accepted"},
        {"taxonID": "2", "scientificName": "Rabdosia serra (Maxim.) Hara",
         "acceptedNameUsageID": "1", "taxonomicStatus": "synonym"},
    ])  # fmt: skip
    right = _taxa([{"scientificName": "Isodon serra (Maximowicz) Kudo"}])
    rows = {r["left_name"]: r for r in reconcile(left, right).table.to_pylist() if r["left_name"]}
    assert rows["Rabdosia serra (Maxim.) Hara"]["match_kind"] in ("synonym",)
    assert rows["Rabdosia serra (Maxim.) Hara"]["accepted_name"] == "Isodon serra (Maximowicz) Kudo"


def test_reconcile__synonym_in_the_right_list_resolves_the_accepted_name():
    left = _taxa([{"scientificName": "Cassia alata Linn."}])
    right = _taxa([
        {"taxonID": "a", "scientificName": "Senna alata (Linnaeus) Roxburgh"},
        {"taxonID": "b", "scientificName": "Cassia alata Linnaeus", "acceptedNameUsageID": "a",
         "taxonomicStatus": "synonym"},
    ])  # fmt: skip
    (row,) = [r for r in reconcile(left, right).table.to_pylist() if r["left_name"]]
    assert (row["match_kind"], row["right_name"]) == ("exact", "Cassia alata Linnaeus")
    assert row["accepted_name"] == "Senna alata (Linnaeus) Roxburgh"


def test_reconcile__reference_list_joins_names_neither_list_links():
    left = _taxa([{"scientificName": "Sapium sebiferum (Linn.) Roxb."}])
    right = _taxa([{"scientificName": "Triadica sebifera (Linnaeus) Small"}])
    reference = _taxa([
        {"taxonID": "t", "scientificName": "Triadica sebifera (Linnaeus) Small"},
        {"taxonID": "s", "scientificName": "Sapium sebiferum (Linnaeus) Roxburgh",
         "acceptedNameUsageID": "t", "taxonomicStatus": "synonym"},
    ])  # fmt: skip
    (row,) = [
        r for r in reconcile(left, right, reference=reference).table.to_pylist() if r["left_name"]
    ]
    assert row["match_kind"] == "synonym" and "reference list" in row["evidence"]


def test_reconcile__homonyms_are_split_by_authorship():
    left = _taxa([{"scientificName": "Aristolochia tagala Chamisso"}])
    right = _taxa([{"scientificName": "Aristolochia tagala Champion"},
                   {"scientificName": "Aristolochia tagala Chamisso"}])  # fmt: skip
    (row,) = [r for r in reconcile(left, right).table.to_pylist() if r["left_name"]]
    assert (row["match_kind"], row["right_name"]) == ("exact", "Aristolochia tagala Chamisso")
    bare = _taxa([{"scientificName": "Aristolochia tagala"}])
    rows = [r for r in reconcile(bare, right).table.to_pylist() if r["left_name"]]
    assert {r["match_kind"] for r in rows} == {"ambiguous"} and len(rows) == 2


def test_reconcile__short_epithets_never_match_fuzzily():
    left = _taxa([{"scientificName": "Carex alta Boott"}])
    right = _taxa([{"scientificName": "Carex alba Scopoli"}, {"scientificName": "Carex"}])
    (row,) = [r for r in reconcile(left, right).table.to_pylist() if r["left_name"]]
    assert (row["match_kind"], row["right_name"]) == ("higher_rank", "Carex")


def test_reconcile__gbif_matcher_is_asked_only_about_unresolved_names():
    asked = []

    def gbif_matcher(name: str) -> dict:  # a stand-in for the pygbif-based matcher
        asked.append(name)
        return {"usage": {"name": name, "status": "SYNONYM"},
                "acceptedUsage": {"canonicalName": "Tetradium ruticarpum"},
                "diagnostics": {"matchType": "EXACT", "confidence": 98}}  # fmt: skip

    left = _taxa([{"scientificName": "Evodia rutaecarpa (Juss.) Benth."},
                  {"scientificName": "Senna alata (Linnaeus) Roxburgh"}])  # fmt: skip
    right = _taxa([{"scientificName": "Tetradium ruticarpum (A. Jussieu) T. G. Hartley"},
                   {"scientificName": "Senna alata (Linnaeus) Roxburgh"}])  # fmt: skip
    rows = {
        r["left_name"]: r
        for r in reconcile(left, right, gbif_matcher=gbif_matcher).table.to_pylist()
    }
    assert asked == ["Evodia rutaecarpa (Juss.) Benth."]
    row = rows["Evodia rutaecarpa (Juss.) Benth."]
    assert (row["match_kind"], row["confidence"]) == ("synonym", 0.9)
    assert "GBIF backbone" in row["evidence"]


def test_reconcile__a_failing_gbif_matcher_leaves_the_name_unmatched():
    def gbif_matcher(name: str) -> dict:
        raise TimeoutError("api.gbif.org did not answer")

    left = _taxa([{"scientificName": "Evodia ailanthifolia Pierre"}])
    right = _taxa([{"scientificName": "Senna alata (Linnaeus) Roxburgh"}])
    rows = [
        r
        for r in reconcile(left, right, gbif_matcher=gbif_matcher).table.to_pylist()
        if r["left_name"]
    ]
    assert rows[0]["match_kind"] == "none" and "GBIF lookup failed" in rows[0]["evidence"]


# -- sources and files -------------------------------------------------------------------
def _write_taxon_archive(folder: Path) -> Path:
    folder.mkdir()
    (folder / "meta.xml").write_text(
        '<archive xmlns="http://rs.tdwg.org/dwc/text/">'
        '<core encoding="UTF-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n"'
        ' fieldsEnclosedBy="" ignoreHeaderLines="1" rowType="http://rs.tdwg.org/dwc/terms/Taxon">'
        '<files><location>taxon.txt</location></files><id index="0"/>'
        '<field index="0" term="http://rs.tdwg.org/dwc/terms/taxonID"/>'
        '<field index="1" term="http://rs.tdwg.org/dwc/terms/scientificName"/>'
        '<field index="2" term="http://rs.tdwg.org/dwc/terms/acceptedNameUsageID"/>'
        '<field index="3" term="http://rs.tdwg.org/dwc/terms/taxonomicStatus"/>'
        '<field index="4" term="http://rs.tdwg.org/dwc/terms/family"/></core>'
        '<extension encoding="UTF-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n"'
        ' fieldsEnclosedBy="" ignoreHeaderLines="1"'
        ' rowType="http://rs.gbif.org/terms/1.0/VernacularName">'
        '<files><location>vernacular.txt</location></files><coreid index="0"/>'
        '<field index="1" term="http://rs.tdwg.org/dwc/terms/vernacularName"/>'
        '<field index="2" term="http://purl.org/dc/terms/language"/></extension></archive>',
        encoding="utf-8",
    )
    (folder / "taxon.txt").write_text(
        "taxonID\tscientificName\tacceptedNameUsageID\ttaxonomicStatus\tfamily\n"
        "1\tIsodon serra (Maximowicz) Kudo\t1\taccepted\tLamiaceae\n"
        "2\tRabdosia serra (Maxim.) Hara\t1\tsynonym\tLamiaceae\n",
        encoding="utf-8",
    )
    (folder / "vernacular.txt").write_text(
        "coreid\tvernacularName\tlanguage\n1\t溪黄草\tzh\n1\t溪黃草\tzh-Hant\n1\tTên thử Ba\tvi\n",
        encoding="utf-8",
    )
    return folder


def test_load_checklist__darwin_core_archive_with_vernacular_extension(tmp_path):
    table = load_checklist(_write_taxon_archive(tmp_path / "dwca"))
    rows = {r["name"]: r for r in table.to_pylist()}
    accepted = rows["Isodon serra (Maximowicz) Kudo"]
    assert (accepted["vernacular_zh"], accepted["vernacular_vi"]) == (
        "溪黄草 | 溪黃草",
        "Tên thử Ba",
    )
    assert accepted["family"] == "Lamiaceae" and accepted["accepted_name"] == ""
    assert rows["Rabdosia serra (Maxim.) Hara"]["accepted_name"] == "Isodon serra (Maximowicz) Kudo"


def test_load_checklist__darwin_core_csv_and_stored_parquet(tmp_path):
    csv_path = tmp_path / "taxa.csv"
    csv_path.write_text(
        "scientificName,scientificNameAuthorship,taxonRank,vernacularName\n"
        "Chirita eburnea,Hance,species,牛耳朵\n",
        encoding="utf-8",
    )
    table = load_checklist(csv_path)
    (row,) = table.to_pylist()
    assert (row["name"], row["authorship"], row["vernacular_zh"]) == (
        "Chirita eburnea Hance", "Hance", "牛耳朵"
    )  # fmt: skip
    write_parquet_atomic(tmp_path / "stored", [table])
    assert load_checklist(tmp_path / "stored").to_pylist() == table.to_pylist()


def test_from_table__occurrences_give_one_row_per_name():
    names = ["Cassia alata Linn.", "Cassia alata Linn.", "Senna alata"]
    occurrences = pa.table(
        {
            "scientificName": names,
            "family": ["Caesalpiniaceae"] * 3,
            "eventDate": ["2024-05-01"] * 3,
        }
    )
    table = from_table(occurrences)
    assert table.column("name").to_pylist() == ["Cassia alata Linn.", "Senna alata"]


def test_reconcile_files__writes_parquet_csv_and_review(tmp_path):
    left_csv, right_csv = tmp_path / "left.csv", tmp_path / "right.csv"
    for source, target, rows in ((GUANGXI, left_csv, 200), (FLORA_OF_CHINA, right_csv, 4000)):
        with open(source, encoding="utf-8") as handle:
            lines = handle.readlines()[: rows + 1]
        target.write_text("".join(lines), encoding="utf-8")
    out = tmp_path / "out"
    crosswalk = reconcile_files(str(left_csv), str(right_csv), out, None)
    assert read_parquet(out / "crosswalk").num_rows == crosswalk.table.num_rows
    assert (
        pq.read_schema(out / "crosswalk" / "part-0.parquet").names == crosswalk.table.column_names
    )
    with open(out / "crosswalk.csv", encoding="utf-8") as handle:
        assert sum(1 for _ in csv.DictReader(handle)) == crosswalk.table.num_rows
    assert (out / "review.csv").exists()
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "crosswalk", "crosswalk.csv", "review.csv"
    ]  # fmt: skip


def test_reconcile__gbif_accepted_name_outside_the_right_list_is_kept():
    def gbif_matcher(name: str) -> dict:  # a stand-in answering in the flat v1 shape
        return {"matchType": "EXACT", "confidence": 97, "status": "SYNONYM",
                "species": "Tetradium ruticarpum"}  # fmt: skip

    left = _taxa([{"scientificName": "Evodia rutaecarpa (Juss.) Benth."}])
    right = _taxa([{"scientificName": "Senna alata (Linnaeus) Roxburgh"}])
    crosswalk = reconcile(left, right, gbif_matcher=gbif_matcher)
    (row,) = [r for r in crosswalk.table.to_pylist() if r["left_name"]]
    assert (row["match_kind"], row["accepted_name"]) == ("none", "Tetradium ruticarpum")
    assert "does not hold" in row["evidence"]


def test_reconcile__fuzzy_search_follows_a_genus_transfer_seen_twice():
    left = _taxa([
        {"scientificName": "Millettia dielsiana Harms", "vernacularName": "香花崖豆藤"},
        {"scientificName": "Millettia nitida Benth.", "vernacularName": "亮叶崖豆藤"},
        {"scientificName": "Millettia reticulta Benth."},  # misspelt on purpose: no Chinese name
    ])  # fmt: skip
    right = _taxa([
        {"scientificName": "Callerya dielsiana (Harms) P. K. Loc ex Z. Wei & Pedley",
         "vernacularName": "香花鸡血藤"},
        {"scientificName": "Callerya nitida (Bentham) R. Geesink", "vernacularName": "亮叶鸡血藤"},
        {"scientificName": "Callerya reticulata (Bentham) Schot", "vernacularName": "网络鸡血藤"},
    ])  # fmt: skip
    rows = {r["left_name"]: r for r in reconcile(left, right).table.to_pylist() if r["left_name"]}
    assert rows["Millettia dielsiana Harms"]["match_kind"] == "synonym"
    typo = rows["Millettia reticulta Benth."]
    assert (typo["match_kind"], typo["right_name"]) == (
        "fuzzy",
        "Callerya reticulata (Bentham) Schot",
    )
    assert "Millettia names moved" in typo["evidence"]
