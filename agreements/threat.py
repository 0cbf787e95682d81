"""Threat categories as real data writes them, read into IUCN codes or marked unreadable.

Checklists and specimen databases write a record's category as `EN`, `EN B1ab(iii)`,
`Endangered`, `濒危`, `濒危（EN）`, `极危(CR)`, `Nguy cấp (EN)`, `LR/nt` (IUCN 2.3) or `RE`
(regionally extinct, China's and Vietnam's red lists). Which records are sensitive decides
what leaves the node, so a value that is not empty and cannot be read is never taken as
"not threatened": `UNREADABLE` makes enforcement apply the flow's most restrictive rule, and
`validate`, `publish` and `agreement check` report it. When two categories are named (`濒危
(CR)`), the more severe counts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc

# IUCN Red List categories (3.1) plus RE (regional assessments), the most severe first.
CATEGORIES = ("EX", "EW", "RE", "CR", "EN", "VU", "NT", "LC", "DD", "NE")
UNREADABLE = "?"  # a category was written but is none of the above
THREAT_TERMS = ("iucnRedListCategory", "threatStatus")
# Written where a category is deliberately absent; they carry no category.
_NONE = {"", "-", "--", "—", "N/A", "NA", "NONE", "NULL", "无", "KHÔNG"}
_CODES = {
    **{code: code for code in CATEGORIES},
    "LR/CD": "NT", "LR/NT": "NT", "LR/LC": "LC", "LR": "NT",
    "CR(PE)": "CR", "CR(PEW)": "CR",
}  # fmt: skip
# Words in English, Chinese (China Red List, both 绝灭 and 灭绝) and Vietnamese (Sách Đỏ).
# Longer phrases come first so "extinct in the wild" is not read as "extinct".
_WORDS = {
    "EXTINCT IN THE WILD": "EW", "REGIONALLY EXTINCT": "RE", "CRITICALLY ENDANGERED": "CR",
    "NEAR THREATENED": "NT", "LEAST CONCERN": "LC", "DATA DEFICIENT": "DD",
    "NOT EVALUATED": "NE", "LOWER RISK": "NT", "ENDANGERED": "EN", "VULNERABLE": "VU",
    "EXTINCT": "EX",
    "野外绝灭": "EW", "野外灭绝": "EW", "区域绝灭": "RE", "区域灭绝": "RE", "地区绝灭": "RE",
    "绝灭": "EX", "灭绝": "EX", "极危": "CR", "濒危": "EN", "易危": "VU", "近危": "NT",
    "无危": "LC", "数据缺乏": "DD", "数据不足": "DD", "未评估": "NE", "未予评估": "NE",
    "TUYỆT CHỦNG NGOÀI THIÊN NHIÊN": "EW", "TUYỆT CHỦNG": "EX", "CỰC KỲ NGUY CẤP": "CR",
    "RẤT NGUY CẤP": "CR", "SẼ NGUY CẤP": "VU", "NGUY CẤP": "EN", "SẮP BỊ ĐE DỌA": "NT",
    "GẦN BỊ ĐE DỌA": "NT", "ÍT LO NGẠI": "LC", "ÍT QUAN TÂM": "LC", "THIẾU DẪN LIỆU": "DD",
    "CHƯA ĐÁNH GIÁ": "NE",
}  # fmt: skip
# IUCN criteria after a code (B1ab(iii)+2ab(iii), A2cd, D2): read, then ignored.
_CRITERIA = re.compile(
    r"\b[A-E]\d[A-E]*(?:\([IVX,]+\))*(?:\+\d[A-E]*(?:\([IVX,]+\))*)*", re.IGNORECASE
)
_TOKEN = re.compile(r"LR/(?:CD|NT|LC)|CR\s*\(PEW?\)|\b[A-Z]{2}\b|\bLR\b")


def parse_category(text: str | None) -> str | None:
    """The IUCN code a category text names, None if it names none, UNREADABLE otherwise."""
    if text is None:
        return None
    value = unicodedata.normalize("NFKC", text).strip().upper()
    value = " ".join(value.replace("_", " ").split())
    if value in _NONE:
        return None
    found: list[str] = []
    rest = value
    for words, code in _WORDS.items():
        if words in rest:
            found.append(code)
            rest = rest.replace(words, " ")
    rest = _CRITERIA.sub(" ", rest)
    for token in _TOKEN.findall(rest):
        named = _CODES.get(re.sub(r"\s+", "", token))
        if named is None:
            return UNREADABLE  # a two-letter word that is no category: do not guess
        found.append(named)
        rest = rest.replace(token, " ", 1)
    leftover = re.sub(r"[\s()\[\]{}:;,.+/\-–—_|]+", "", rest)
    if not found or leftover:
        return UNREADABLE
    return most_severe(found)


def most_severe(codes: Iterable[str | None]) -> str | None:
    """The most severe category among `codes` (UNREADABLE beats all, None loses to all)."""
    present = [c for c in codes if c]
    if UNREADABLE in present:
        return UNREADABLE
    return min(present, key=CATEGORIES.index) if present else None


def category_codes(values: pa.Array) -> pa.Array:
    """`parse_category` over a text column, once per distinct value."""
    encoded = pc.dictionary_encode(values)
    codes = pa.array([parse_category(v) for v in encoded.dictionary.to_pylist()], pa.string())
    return pc.take(codes, encoded.indices)


def record_categories(table: pa.Table) -> pa.Array:
    """Each record's category from iucnRedListCategory and threatStatus, the more severe."""
    found = [
        category_codes(_text(table, term)) for term in THREAT_TERMS if term in table.column_names
    ]
    if not found:
        return pa.nulls(table.num_rows, pa.string())
    if len(found) == 1:
        return found[0]
    both = pc.dictionary_encode(
        pc.binary_join_element_wise(pc.fill_null(found[0], ""), pc.fill_null(found[1], ""), "|")
    )
    merged = [most_severe(pair.split("|")) for pair in both.dictionary.to_pylist()]
    return pc.take(pa.array(merged, pa.string()), both.indices)


def unreadable_examples(table: pa.Table, limit: int = 5) -> tuple[int, list[str]]:
    """How many records carry an unreadable category, and a few distinct such values."""
    total = 0
    examples: list[str] = []
    for term in THREAT_TERMS:
        if term not in table.column_names:
            continue
        codes = category_codes(_text(table, term))
        bad = pc.fill_null(pc.equal(codes, UNREADABLE), False)
        total += int(pc.sum(pc.cast(bad, pa.int64())).as_py() or 0)
        for value in pc.unique(_text(table, term).filter(bad)).to_pylist()[:limit]:
            if value not in examples and len(examples) < limit:
                examples.append(value)
    return total, examples


def _text(table: pa.Table, name: str) -> pa.Array:
    values = table.column(name).combine_chunks()
    return values if pa.types.is_string(values.type) else pc.cast(values, pa.string())
