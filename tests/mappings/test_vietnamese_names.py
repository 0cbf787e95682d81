"""Vietnamese vernacular names: keys that fold case, tones and classifier words, and never
a link between a Chinese and a Vietnamese name.

Names are real: Đỗ Tất Lợi's medicinal plants (CC BY 4.0) and the Flora of China.
"""

from __future__ import annotations

import unicodedata

import pyarrow as pa

from mappings.checklists import from_table
from mappings.reconcile import reconcile
from mappings.vernacular import keys, vi_key


def _taxa(rows: list[tuple[str, str, str]]) -> pa.Table:
    return pa.table(
        {
            "scientificName": [r[0] for r in rows],
            "vernacularName": [r[1] for r in rows],
            "language": [r[2] for r in rows],
        }
    )


def test_vi_key__folds_case_tones_and_nfd_but_display_keeps_them():
    assert vi_key("Ích Mẫu") == vi_key("ích mẫu") == vi_key("ICH MAU") == "ich mau"
    assert vi_key(unicodedata.normalize("NFD", "Hương Phụ")) == "huong phu"
    table = from_table(_taxa([("Cyperus rotundus L.", "Hương Phụ", "vi")]))
    assert table.column("vernacular_vi").to_pylist() == ["Hương Phụ"]


def test_vi_key__leading_classifier_words_are_not_part_of_the_name():
    assert vi_key("cây Ích mẫu") == vi_key("Ích mẫu")
    assert vi_key("Họ Hoa môi") == vi_key("Hoa môi")
    # Only the words themselves: 'Hổ vĩ' (a tiger's tail) keeps its first word.
    assert vi_key("Hổ vĩ") == "ho vi"
    assert vi_key("Cây") == "cay"  # nothing else to name: the word stays


def test_reconcile__vietnamese_names_with_and_without_classifier_link():
    left = _taxa([("Leonurus heterophyllus Sw.", "Ích Mẫu", "vi")])
    right = _taxa([("Leonurus japonicus Houtt.", "cây ích mẫu", "vi")])
    (row,) = [r for r in reconcile(left, right).table.to_pylist() if r["left_name"]]
    assert (row["match_kind"], row["left_vi"], row["right_vi"]) == (
        "vernacular",
        "Ích Mẫu",
        "cây ích mẫu",
    )


def test_a_name_filed_under_the_wrong_language_is_filed_by_its_script():
    table = from_table(
        _taxa(
            [
                ("Leonurus heterophyllus Sw.", "Ích Mẫu", "zh"),  # Vietnamese, labelled zh
                ("Leonurus japonicus Houtt.", "益母草", "vi"),  # Chinese, labelled vi
            ]
        )
    )
    assert table.column("vernacular_zh").to_pylist() == ["", "益母草"]
    assert table.column("vernacular_vi").to_pylist() == ["Ích Mẫu", ""]


def test_reconcile__never_links_a_chinese_and_a_vietnamese_name():
    # 'Ích mẫu' is the Sino-Vietnamese reading of 益母: not evidence of the same taxon.
    left = _taxa([("Leonurus heterophyllus Sw.", "Ích Mẫu", "zh")])
    right = _taxa([("Leonurus japonicus Houtt.", "益母草", "vi")])
    (row,) = [r for r in reconcile(left, right).table.to_pylist() if r["left_name"]]
    assert row["match_kind"] == "none"
    assert keys("益母草", "vi") == set() and keys("Ích Mẫu", "zh") == set()
