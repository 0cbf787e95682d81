"""A dataset's title and abstract per language: node.toml tables, EML `xml:lang`, RSS."""

from __future__ import annotations

import datetime as dt
import tomllib

import defusedxml.ElementTree as safe_et

from node.core.config import DatasetConfig
from node.dwca.eml import build_eml
from tests.dwca.test_eml import NODE

NS = "{https://eml.ecoinformatics.org/eml-2.2.0}"
LANG = "{http://www.w3.org/XML/1998/namespace}lang"
TRILINGUAL = """
id = "vnmn-karst-checklist"
type = "checklist"
source = "checklist.csv"
licence = "CC-BY-4.0"
language = "vi"
title.en = "Checklist of Vietnamese protected and medicinal plants"
title.vi = "Danh lục thực vật quý hiếm và cây thuốc Việt Nam"
title.zh = "越南保护植物与药用植物名录"
abstract.en = "Names from Vietnam's protected-plant decrees and Do Tat Loi's medicinal plants."
abstract.vi = "Tên từ các nghị định bảo vệ thực vật và sách cây thuốc của Đỗ Tất Lợi."
"""


def _eml(dataset: DatasetConfig) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    document = build_eml(dataset, NODE, None, "1.0", dt.date(2026, 1, 1))
    ds = safe_et.fromstring(document).find("dataset")
    titles = [(t.get(LANG, ""), t.text or "") for t in ds.findall("title")]
    paras = [(p.get(LANG, ""), p.text or "") for p in ds.find("abstract").findall("para")]
    return titles, paras


def test_node_toml__a_title_and_abstract_per_language() -> None:
    dataset = DatasetConfig(**tomllib.loads(TRILINGUAL))
    assert dataset.title == "Checklist of Vietnamese protected and medicinal plants"
    assert list(dataset.titles) == ["en", "vi", "zh"]
    titles, paras = _eml(dataset)
    assert titles == [
        ("en", "Checklist of Vietnamese protected and medicinal plants"),
        ("vi", "Danh lục thực vật quý hiếm và cây thuốc Việt Nam"),
        ("zh", "越南保护植物与药用植物名录"),
    ]
    assert [lang for lang, _ in paras] == ["en", "vi"]


def test_eml__an_english_title_of_a_chinese_dataset_is_marked_english() -> None:
    dataset = DatasetConfig(
        id="gxib-karst-checklist",
        title="Guangxi karst checklist",
        type="checklist",
        source="checklist.csv",
        licence="CC-BY-4.0",
        language="zh",
        abstract="Real rows of the Guangxi checklist, with Chinese names and red-list status.",
    )
    titles, paras = _eml(dataset)
    assert titles == [("en", "Guangxi karst checklist")]
    assert paras[0][0] == "en"
    chinese = DatasetConfig(**{**dataset.model_dump(), "title": "广西喀斯特植物名录"})
    assert _eml(chinese)[0] == [("zh", "广西喀斯特植物名录")]
