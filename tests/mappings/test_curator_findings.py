"""Name-matching faults met when the lists were reconciled as a curator would.

Scientific and Chinese names are real (the Guangxi checklist, Flora of China and the
current accepted names of the same taxa); each list is cut down to the rows a case needs.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from mappings.columns import mapping_from_dict
from mappings.reconcile import reconcile
from mappings.review import Decisions, load_decisions, save_decisions


def _taxa(rows: list[dict]) -> pa.Table:
    """A small Darwin Core taxon table; missing terms are empty."""
    terms = ["taxonID", "scientificName", "acceptedNameUsage", "acceptedNameUsageID",
             "taxonomicStatus", "vernacularName", "language"]  # fmt: skip
    return pa.table({t: [r.get(t, "") for r in rows] for t in terms})


def _left_rows(left: pa.Table, right: pa.Table, **kwargs: object) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {}
    for row in reconcile(left, right, **kwargs).table.to_pylist():  # type: ignore[arg-type]
        if row["left_name"]:
            rows.setdefault(row["left_name"], []).append(row)
    return rows


def test_reconcile__accepted_name_given_only_as_text_in_the_reference_list():
    left = _taxa([{"scientificName": "Chirita eburnea Hance"}])
    right = _taxa([{"scientificName": "Primulina eburnea (Hance) Yin Z. Wang"}])
    # The reference names the accepted name in words only; it has no row of its own.
    reference = _taxa([{"scientificName": "Chirita eburnea Hance", "taxonomicStatus": "synonym",
                        "acceptedNameUsage": "Primulina eburnea (Hance) Yin Z.Wang"}])  # fmt: skip
    (row,) = _left_rows(left, right, reference=reference)["Chirita eburnea Hance"]
    assert (row["match_kind"], row["right_name"]) == (
        "synonym",
        "Primulina eburnea (Hance) Yin Z. Wang",
    )
    assert "reference list" in row["evidence"]


def test_reconcile__right_synonym_whose_accepted_name_is_only_text():
    left = _taxa([{"scientificName": "Cassia alata Linn."}])
    right = _taxa([{"scientificName": "Cassia alata Linnaeus", "taxonomicStatus": "synonym",
                    "acceptedNameUsage": "Senna alata (Linnaeus) Roxburgh"}])  # fmt: skip
    (row,) = _left_rows(left, right)["Cassia alata Linn."]
    assert row["match_kind"] == "exact"
    assert row["accepted_name"] == "Senna alata (Linnaeus) Roxburgh"


def test_translations__spacing_before_a_bracket_is_ignored():
    mapping = mapping_from_dict(
        {
            "columns": {"status": "iucnRedListCategory"},
            "translations": {"iucnRedListCategory": {"濒危（EN）": "EN"}},
        },
        "mapping.toml",
    )
    table = pa.table({"status": ["濒危 (EN)", "濒危（EN）", "濒危(EN)", " 濒危 （ EN ） "]})
    mapped = mapping.apply(table)
    assert mapped.column("iucnRedListCategory").to_pylist() == ["EN"] * 4


def test_decisions__a_note_on_a_choose_decision_is_kept(tmp_path: Path):
    decisions = Decisions()
    # The curator writes the note on the row of the candidate they set aside.
    decisions.add(
        "Chiritopsis repanda W. T. Wang",
        "Primulina repanda var. repanda",
        "choose:Primulina repanda",
        "FOC 2011: Chiritopsis sunk in Primulina",
    )
    save_decisions(decisions, tmp_path / "decisions.csv")
    (row,) = load_decisions(tmp_path / "decisions.csv").rows()
    assert row["decision"] == "choose:Primulina repanda"
    assert row["note"] == "FOC 2011: Chiritopsis sunk in Primulina"
    left = _taxa([{"scientificName": "Chiritopsis repanda W. T. Wang"}])
    right = _taxa([{"scientificName": "Primulina repanda"}])
    (chosen,) = _left_rows(left, right, decisions=decisions)["Chiritopsis repanda W. T. Wang"]
    assert "FOC 2011: Chiritopsis sunk in Primulina" in chosen["evidence"]


# An accepted-names-only national list: no synonyms, no authorship, autonyms listed.
_NATIONAL = [
    ("Rohdea chinensis", "开口箭"),
    ("Rohdea chinensis var. chinensis", "开口箭"),
    ("Prunus dielsiana", "尾叶樱桃"),
    ("Prunus dielsiana var. dielsiana", "尾叶樱桃"),
    ("Primulina repanda", "小花苣苔"),
    ("Primulina repanda var. repanda", "小花苣苔"),
    ("Primulina repanda var. guilinensis", "桂林小花苣苔"),
]
_GUANGXI = [
    ("Tupistra chinensis Baker", "开口箭"),
    ("Cerasus dielsiana (Schneid.) Yu et Li", "尾叶樱桃"),
    ("Chiritopsis repanda W. T. Wang", "小花苣苔"),
]


def _zh(rows: list[tuple[str, str]]) -> pa.Table:
    return _taxa([{"scientificName": n, "vernacularName": zh, "language": "zh"} for n, zh in rows])


def test_reconcile__genus_transfers_against_a_list_without_synonyms():
    rows = _left_rows(_zh(_GUANGXI), _zh(_NATIONAL))
    expected = {
        "Tupistra chinensis Baker": "Rohdea chinensis",
        "Cerasus dielsiana (Schneid.) Yu et Li": "Prunus dielsiana",
        "Chiritopsis repanda W. T. Wang": "Primulina repanda",
    }
    for left_name, right_name in expected.items():
        (row,) = rows[left_name]  # one row: decided, not ambiguous
        assert row["right_name"] == right_name
        assert "genus transfer" in row["evidence"]
        assert row["confidence"] < 0.8  # on the curator's review list


def test_reconcile__an_autonym_never_rivals_its_species():
    left = _zh([("Tupistra chinensis Baker", "开口箭")])
    right = _zh([("Rohdea chinensis var. chinensis", "开口箭"), ("Rohdea chinensis", "开口箭")])
    (row,) = _left_rows(left, right)["Tupistra chinensis Baker"]
    assert row["right_name"] == "Rohdea chinensis"
    # Alone, the autonym is still a candidate: it names the same typical taxon.
    (alone,) = _left_rows(left, _zh([("Rohdea chinensis var. chinensis", "开口箭")]))[
        "Tupistra chinensis Baker"
    ]
    assert alone["right_name"] == "Rohdea chinensis var. chinensis"


def _vi(rows: list[tuple[str, str]]) -> pa.Table:
    return _taxa([{"scientificName": n, "vernacularName": vi, "language": "vi"} for n, vi in rows])


def test_reconcile__a_shared_epithet_and_basionym_author_alone_link_nothing_claimed():
    # Linnaeus and Bentham named many species alike: 'indica (L.)' and 'chinensis (Benth.)'
    # in one family are not one basionym. Guangxi holds Abutilon indicum and Mesona
    # chinensis as taxa of their own, and two Guangxi names cannot both be one basionym's.
    left = _zh(
        [
            ("Waltheria indica Linn.", "蛇婆子"),
            ("Abutilon indicum (L.) Sweet", "磨盘草"),
            ("Clinopodium chinense (Benth.) O. Ktze.", "风轮菜"),
            ("Mesona chinensis Benth.", "凉粉草"),
            ("Kalimeris indica (L.) Sch.-Bip.", "马兰"),
            ("Pentanema indicum (L.) Ling", "苇谷草"),
            ("Crassocephalum crepidioides (Benth.) S. Moore", "革命菜"),
        ]
    )
    left = left.append_column("family", pa.array(
        ["Malvaceae", "Malvaceae", "Lamiaceae", "Lamiaceae", "Asteraceae", "Asteraceae",
         "Asteraceae"]))  # fmt: skip
    right = _vi(
        [
            ("Abutilon indicum (L.) Sweet", "Cối xay"),
            ("Mesona chinensis Benth.", "Thạch đen"),
            ("Pluchea indica (L.) Less.", "Cúc tần"),
            ("Gynura crepidioides Benth.", "Rau tàu bay"),
        ]
    )
    right = right.append_column(
        "family", pa.array(["Malvaceae", "Lamiaceae", "Asteraceae", "Asteraceae"])
    )
    rows = _left_rows(left, right)
    for wrong in (
        "Waltheria indica Linn.",
        "Clinopodium chinense (Benth.) O. Ktze.",
        "Kalimeris indica (L.) Sch.-Bip.",
        "Pentanema indicum (L.) Ling",
    ):
        assert [r["right_name"] for r in rows[wrong]] == [""], wrong
    # A true recombination (basionym Gynura crepidioides Benth.) still links.
    (kept,) = rows["Crassocephalum crepidioides (Benth.) S. Moore"]
    assert (kept["match_kind"], kept["right_name"]) == ("synonym", "Gynura crepidioides Benth.")


def test_crosswalk__names_in_three_languages_with_their_source():
    left = _zh(
        [("Chirita eburnea Hance", "牛耳朵"), ("Bletilla striata (Thunb.) Rchb. f.", "白及")]
    )
    right = _taxa(
        [
            {"taxonID": "1", "scientificName": "Bletilla striata (Thunb.) Rchb.f.",
             "vernacularName": "Bạch cập", "language": "vi"},
            {"taxonID": "2", "scientificName": "Primulina eburnea (Hance) Yin Z. Wang"},
            {"taxonID": "3", "scientificName": "Chirita eburnea Hance", "acceptedNameUsageID": "2",
             "taxonomicStatus": "synonym"},
        ]
    )  # fmt: skip
    rows = _left_rows(left, right, labels=("gxib", "vnmn"))
    (bletilla,) = rows["Bletilla striata (Thunb.) Rchb. f."]
    assert (bletilla["zh"], bletilla["zh_source"]) == ("白及", "gxib")
    assert (bletilla["vi"], bletilla["vi_source"]) == ("Bạch cập", "vnmn")
    assert bletilla["en"] == bletilla["en_source"] == ""


def test_crosswalk__a_variety_never_takes_its_species_name():
    left = _taxa(
        [{"scientificName": "Paphiopedilum hirsutissimum var. esquirolei (Schltr.) Karas. & Saito"}]
    )
    right = _vi([("Paphiopedilum hirsutissimum", "Lan hài lông")])
    (row,) = _left_rows(left, right)[
        "Paphiopedilum hirsutissimum var. esquirolei (Schltr.) Karas. & Saito"
    ]
    assert row["match_kind"] == "higher_rank"
    assert row["right_vi"] == "Lan hài lông" and row["vi"] == ""


def test_reconcile__one_author_recombining_two_basionyms_is_not_a_fuzzy_match():
    # Yin Z. Wang moved both to Primulina; their basionyms are Handel-Mazzetti's and
    # W. T. Wang's: two species whose epithets differ by two letters.
    left = _taxa([{"scientificName": "Primulina fimbrisepala (Hand.-Mazz.) Yin Z. Wang"}])
    right = _taxa([{"scientificName": "Primulina fimbripetala (W. T. Wang) Yin Z. Wang"}])
    (row,) = _left_rows(left, right)["Primulina fimbrisepala (Hand.-Mazz.) Yin Z. Wang"]
    assert row["match_kind"] == "none"
    # One basionym cited two ways, recombined by two authors, is still one name.
    left = _taxa([{"scientificName": "Primulina eburnea (Hance) Yin Z. Wang"}])
    right = _taxa([{"scientificName": "Primulina eburnea (Hance) W. T. Wang"}])
    (row,) = _left_rows(left, right)["Primulina eburnea (Hance) Yin Z. Wang"]
    assert row["match_kind"] == "canonical"
