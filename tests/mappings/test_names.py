"""Name parsing, authorship comparison and vernacular keys, on names from the real checklists.

Every scientific name and Chinese name here is copied from `tests/data/checklists/`.
Vietnamese names are made-up placeholders ("Tên thử ..." = "test name ..."): no public
Vietnamese checklist is available to the project.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest

from mappings.authors import cites_as_basionym, compare_authorship, parse_authorship
from mappings.names import (
    clean_name_text,
    describe_differences,
    epithet_edits,
    parse_name,
    stem_epithet,
)
from mappings.vernacular import guess_language, join_names, split_names, vi_key, zh_key

CHECKLISTS = Path(__file__).parents[1] / "data" / "checklists"


def _all_names() -> list[str]:
    with open(CHECKLISTS / "flora_of_china_names.csv", encoding="utf-8") as handle:
        names = [row["SCIENTIFIC_NAME"] for row in csv.DictReader(handle)]
    with open(CHECKLISTS / "guangxi_cnplants.csv", encoding="utf-8") as handle:
        names += [row["SPECIES_FULL"] for row in csv.DictReader(handle)]
    return list(dict.fromkeys(names))


# -- parsing -----------------------------------------------------------------------------
def test_parse_name__full_width_brackets_spaces_and_appended_chinese_name():
    parsed = parse_name("Chirita  eburnea（Hance）Yin Z. Wang 牛耳朵")
    assert parsed.canonical == "Chirita eburnea"
    assert parsed.authorship == "(Hance) Yin Z. Wang"
    assert parsed.vernacular == "牛耳朵"
    assert clean_name_text("Magnolia coco (Lour.)DC.")[0] == "Magnolia coco (Lour.) DC."


def test_parse_name__rank_markers_and_their_variants():
    assert (
        parse_name("Hylodesmum podocarpum subsp. fallax (Schindler) H. Ohashi & R. R. Mill").rank
        == "subspecies"
    )
    for written in ("ssp.", "subsp", "ssp"):
        name = f"Nuphar pumila {written} sinensis (Handel-Mazzetti) D. Padgett"
        assert parse_name(name).canonical == "Nuphar pumila subsp. sinensis"
    assert (
        parse_name("Amomum villosum var.xanthioides").canonical
        == "Amomum villosum var. xanthioides"
    )
    assert parse_name("Actinidia cylindrica f. obtusifolia C. F. Liang").rank == "form"


def test_parse_name__forma_and_filius_are_told_apart():
    assert parse_name("Rosa roxburghii f. normalis Rehd. et Wils.").canonical == (
        "Rosa roxburghii f. normalis"
    )
    filius = parse_name("Lindera caudata (Nees) Hook. f.")
    assert filius.canonical == "Lindera caudata"
    assert filius.authorship == "(Nees) Hook. f."
    assert parse_name("Bryophyllum pinnatum (L. f.) Oken").authorship == "(L. f.) Oken"


def test_parse_name__capital_v_of_an_initial_is_not_a_variety():
    parsed = parse_name("Polygonum pacificum V. Petrov ex Komarov")
    assert parsed.canonical == "Polygonum pacificum"
    assert parsed.authorship == "V. Petrov ex Komarov"


def test_parse_name__hybrid_sign_written_as_times_or_x():
    assert parse_name("Michelia × alba Candolle").canonical == "Michelia ×alba"
    assert parse_name("×Agropogon lutosus (Poiret) P. Fournier").hybrid == "genus"
    repeated = parse_name("Lycoris × albiflora Lycoris x albiflora Koidzumi")
    assert (repeated.canonical, repeated.authorship) == ("Lycoris ×albiflora", "Koidzumi")
    formula = parse_name("Circaea alpina subsp. imaicola × Circaea repens ")
    assert formula.hybrid == "formula"


def test_parse_name__cultivars_quoted_or_after_cv():
    assert parse_name("Citrus reticulata cv. Bian Gan").canonical == "Citrus reticulata 'Bian Gan'"
    assert parse_name("Curcuma aromatica ' Wenyujin '").cultivar == "Wenyujin"
    fernleaf = parse_name("Bambusa multiplex ' Fernleaf ' R. A. Young")
    assert (fernleaf.cultivar, fernleaf.authorship) == ("Fernleaf", "R. A. Young")
    assert parse_name("Phedimus aizoon (Linnaeus) 't Hart").authorship == "(Linnaeus) 't Hart"


def test_parse_name__canonical_repeated_before_the_full_name():
    parsed = parse_name(
        "Sagittaria guayanensis subsp. lappula Sagittaria guayanensis Kunth subsp. lappula "
        "(D. Don) Bogin"
    )
    assert parsed.canonical == "Sagittaria guayanensis subsp. lappula"
    assert parsed.authorship == "(D. Don) Bogin"
    assert parsed.species_authorship == "Kunth"


def test_parse_name__autonym_and_ranks_above_species():
    assert parse_name("Illigera cordata Dunn var. cordata").is_autonym
    assert parse_name("Gramineae").rank == "family"
    assert parse_name("Primulina").rank == "genus"
    assert "genus_abbreviated" in parse_name("C. eburnea").flags


def test_parse_name__never_fails_on_any_checklist_name():
    names = _all_names()
    parsed = [parse_name(name) for name in names]
    unreadable = [p.verbatim for p in parsed if not p.genus]
    assert len(names) > 46_000
    assert len(unreadable) <= 2


def test_parse_name__agrees_with_gnparser_on_real_names():
    gnparser = pytest.importorskip("gnparser")  # the wheel exists for two platforms only
    names = random.Random(7).sample(_all_names(), 400)
    agree = 0
    for name in names:
        answer = json.loads(gnparser.parse_to_string(name, "compact", None, True, True))
        theirs = (answer.get("canonical") or {}).get("simple", "")
        ours = parse_name(name)
        agree += " ".join([ours.genus, *ours.epithets]).replace("×", "") == theirs
    assert agree / len(names) >= 0.98


# -- stems and spelling variants ---------------------------------------------------------
def test_stem_epithet__gender_endings_share_a_stem():
    assert stem_epithet("alba") == stem_epithet("albus") == stem_epithet("album")
    assert stem_epithet("sinensis") == stem_epithet("sinense")
    assert stem_epithet("rubra") == stem_epithet("ruber") == stem_epithet("rubrum")
    assert stem_epithet("diandrus") == stem_epithet("diander")
    assert stem_epithet("edithae") == stem_epithet("edithiae")
    assert stem_epithet("chinensis") != stem_epithet("sinensis")


def test_stem_epithet__wade_giles_place_names_fold_to_pinyin():
    assert stem_epithet("kwangsiensis") == stem_epithet("guangxiensis")
    assert stem_epithet("lungzhouensis") == stem_epithet("longzhouensis")
    assert stem_epithet("kiangsiense") != stem_epithet("kwangsiense")  # 江西 is not 广西
    notes = describe_differences(
        parse_name("Zingiber kwangsiense D. Fang"), parse_name("Zingiber guangxiense D. Fang")
    )
    assert notes == ["Wade-Giles / pinyin spelling kwangsiense / guangxiense"]


def test_stem_key__compound_epithets_and_genus_orthography():
    assert (
        parse_name("Piper boehmeriaefolium").stem_key
        == parse_name("Piper boehmeriifolium").stem_key
    )
    assert parse_name("Raphiolepis indica").stem_key == parse_name("Rhaphiolepis indica").stem_key


def test_epithet_edits__short_words_are_never_matched_loosely():
    alta, alba = parse_name("Carex alta Boott"), parse_name("Carex alba Scopoli")
    assert epithet_edits(alta, alba, long_epithet=10, max_total=2) is None
    typo = epithet_edits(
        parse_name("Chloranthus nultistachys Pei"),
        parse_name("Chloranthus multistachys Pei"),
        10,
        2,
    )
    assert typo is not None and typo[0] == 1
    swapped = epithet_edits(
        parse_name("Habenaria rhodochelia Hance"), parse_name("Habenaria rhodocheila Hance"), 10, 2
    )
    assert swapped is not None and swapped[0] == 1  # a transposition is one edit


# -- authorship --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("Hand.-Mazz.", "Handel-Mazzetti"),
        ("Linn.", "Linnaeus"),
        ("L.", "Linnaeus"),
        ("Bl.", "Blume"),
        ("Hook. f.", "J. D. Hooker"),
        ("Schltr.", "Schlechter"),
        ("Levl.", "H. Leveille"),
        ("Wang et Tang", "F. T. Wang & Tang"),
        ("(Sieb. et Zucc.) Nakai", "(Siebold & Zuccarini) Nakai"),
        ("Muell.-Arg.", "Muller Argoviensis"),
        ("H. It?", "H. Ito"),
        ("(L.K.Ling) L.K.Ling", "(L. K. Ling) L. K. Ling"),
        ("(L) Gaud.", "(L.) Gaudich."),  # Linnaeus's point lost
    ],
)
def test_compare_authorship__ipni_abbreviations_equal_full_names(left, right):
    assert compare_authorship(left, right).level == "equal"


def test_compare_authorship__different_people_and_missing_authors():
    assert compare_authorship("Champ.", "Chamisso").level == "differ"
    assert compare_authorship("Hance", "Wallich").level == "differ"
    assert compare_authorship("Champ. ex Benth.", "Bentham").level == "included"
    assert compare_authorship("(Wall.) DC.", "Candolle").level == "included"
    missing = compare_authorship("", "Franchet")
    assert (missing.level, missing.score) == ("missing", None)


def test_cites_as_basionym__recombinations_point_to_their_basionym():
    assert cites_as_basionym("(Linnaeus) Roxburgh", "Linn.")  # Senna alata / Cassia alata
    assert cites_as_basionym("(Loureiro) N. H. Xia & C. Y. Wu", "(Lour.) DC.")
    assert not cites_as_basionym("Kunth", "Linn.")
    assert parse_authorship("(Hance) Yin Z. Wang").original == ("hance",)


# -- vernacular names --------------------------------------------------------------------
def test_zh_key__traditional_and_simplified_names_fold_together():
    assert zh_key("華麗芒毛苣苔") == zh_key("华丽芒毛苣苔") == "华丽芒毛苣苔"
    assert zh_key("臺灣榿木") == zh_key("台湾桤木")
    assert zh_key("香花茶(变种)") == "香花茶"


def test_zh_key__names_with_lost_characters_have_no_key():
    assert zh_key("毛牛？吴萸") == ""
    assert zh_key("樐臼?") == ""


def test_vi_key__diacritics_fold_in_keys_only():
    # Made-up placeholder names, not real Vietnamese plant names.
    assert vi_key("Tên thử Một") == vi_key("ten thu mot") == "ten thu mot"
    assert vi_key("Đậu thử") == "dau thu"
    assert split_names("Tên thử Một; Tên thử Hai", "vi") == ["Tên thử Một", "Tên thử Hai"]
    assert guess_language("Tên thử Một") == "vi"
    assert guess_language("牛耳朵") == "zh"


def test_join_names__keeps_first_seen_order_without_duplicates():
    assert (
        join_names(["华丽芒毛苣苔", "華麗芒毛苣苔", "华丽芒毛苣苔"])
        == "华丽芒毛苣苔 | 華麗芒毛苣苔"
    )


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("C. Y. Wu", "Z. Y. Wu"),  # Wu Cheng-yih / Wu Zheng-yi: two botanists
        ("W. T. Wang", "Y. Z. Wang"),
        ("(Hance) W. T. Wang", "(Hance) Yin Z. Wang"),
    ],
)
def test_compare_authorship__initials_tell_chinese_authors_apart(left, right):
    assert compare_authorship(left, right).level in ("differ", "overlap")
    assert compare_authorship(left, right).score != 1.0


def test_compare_authorship__initials_given_on_one_side_only_still_agree():
    assert compare_authorship("Li", "H. L. Li").level == "equal"
    assert compare_authorship("Yin Z. Wang", "Y. Z. Wang").level == "equal"
    assert compare_authorship("H. Li", "H. L. Li").level == "equal"
    assert compare_authorship("C. B. Clarke", "Clarke").level == "equal"
