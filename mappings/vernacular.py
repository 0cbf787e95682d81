"""Vernacular names in Chinese, Vietnamese and English: display forms and match keys.

A Chinese name is strong evidence in this federation: Chinese checklists give every taxon
one standard name (FRPS, Flora of China), and it survives the genus transfers that break
Latin matching (*Chirita eburnea* / *Primulina eburnea*, both 牛耳朵). Lists write it in
simplified or traditional characters, so match keys fold traditional to simplified with
OpenCC's `t2s` table (the `opencc` package; its phrase-aware tables are better than a
character map for the variants plant names use, e.g. 樹/树, 蘭/兰, 鳳/凤).

Vietnamese names are kept in NFC for display (the form Vietnamese keyboards and fonts
expect); only match keys drop tones and other diacritics and fold đ to d, because lists
disagree on tone placement (hoà/hòa) and some lose diacritics altogether.

A leading classifier word ("cây", plant or tree; "họ", family) is how a Vietnamese list may
or may not begin a name, so keys drop it. Keys exist only for names in their own script:
a Chinese and a Vietnamese name are never compared (a Sino-Vietnamese reading, `Ích mẫu`
for 益母, is not evidence of the same taxon), and a name filed under the other language is
filed by its script instead.

Display values with several names are joined with " | ", the separator the Darwin Core
text guide recommends for lists in one field.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

import opencc

from node.core.scripts import CJK, VIETNAMESE, guess_language

SEPARATOR = " | "
_SPLIT_ZH = re.compile(r"[、，,;；/|]+")
_SPLIT_LATIN = re.compile(r"\s*[;,/|]\s*")
# Qualifiers written after a Chinese name: (变种) variety, (原变种) typical variety, ...
_ZH_QUALIFIER = re.compile(r"[(（][^)）]*[)）]")
_CJK = CJK
# Lost or private-use characters: such a name cannot be compared with another.
_UNRELIABLE = re.compile(r"[?？\ue000-\uf8ff\ufffd]")
# Letters only Vietnamese uses among Latin-script languages a checklist may hold.
_VIETNAMESE = VIETNAMESE

_PLAIN_ZH = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_ZH_NOISE = re.compile(r"[\s·・.\-]")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
# Vietnamese classifier words that may open a name: compared on the NFC, case-folded
# name before tones go, so 'Hổ vĩ' (another word once folded) keeps its first word.
_VI_CLASSIFIERS = re.compile(r"^(?:cây|họ)\s+(?=\S)")

LANGUAGE_CODES = {
    "zh": "zh", "zho": "zh", "chi": "zh", "cmn": "zh", "chinese": "zh", "zh-cn": "zh",
    "zh-hans": "zh", "zh-hant": "zh", "zh-tw": "zh", "zh-hk": "zh", "vi": "vi", "vie": "vi",
    "vietnamese": "vi", "vi-vn": "vi", "en": "en", "eng": "en", "english": "en",
    "en-gb": "en", "en-us": "en",
}  # fmt: skip


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def language_code(tag: str) -> str:
    """'zh-Hans', 'zho', 'Chinese' -> 'zh'; an unknown tag -> ''."""
    return LANGUAGE_CODES.get((tag or "").strip().lower().replace("_", "-"), "")


def language_of(text: str, declared: str) -> str:
    """The declared language of a name, unless its script says otherwise: Chinese
    characters are zh whatever the label, and a zh label on a name without them is a
    mistake of the list (guessed instead)."""
    declared = language_code(declared)
    has_cjk = bool(_CJK.search(text or ""))
    if has_cjk:
        return "zh"
    if declared == "zh" or not declared:
        return guess_language(text)
    return declared


def split_names(text: str, language: str) -> list[str]:
    """One field holding several names -> the names, in display form, duplicates dropped."""
    text = unicodedata.normalize("NFC" if language == "vi" else "NFKC", text or "")
    pattern = _SPLIT_ZH if language == "zh" else _SPLIT_LATIN
    if language == "zh" and not pattern.search(text) and " " not in text:
        return [text] if text else []  # the usual case: one name, nothing to split
    names = []
    for part in pattern.split(text):
        part = ("" if language == "zh" else " ").join(part.split())
        if part and part not in names:
            names.append(part)
    return names


_ZH_KEYS: dict[str, str] = {}
_ZH_KEYS_MAX = 500_000  # about 50 MB; cleared when full, a cache only


def _zh_clean(name: str) -> str:
    if _PLAIN_ZH.fullmatch(name):
        return name  # the usual case: Chinese characters only, nothing to clean
    name = _ZH_NOISE.sub("", _ZH_QUALIFIER.sub("", unicodedata.normalize("NFKC", name)))
    return "" if _UNRELIABLE.search(name) else name


def zh_key(name: str) -> str:
    """Match key of a Chinese name: simplified, no qualifier or spaces; '' if unreliable."""
    key = _ZH_KEYS.get(name)
    if key is None:
        clean = _zh_clean(name) if _CJK.search(name) else ""
        key = _t2s().convert(clean) if clean else ""
        _remember({name: key})
    return key


def prepare_zh_keys(fields: Iterable[str]) -> None:
    """Compute the keys of many fields in one OpenCC call: ~4x faster than one by one."""
    names = {n for f in fields if f for n in f.split(SEPARATOR) if n and n not in _ZH_KEYS}
    pending = [(n, c) for n in names if (c := _zh_clean(n)) and _CJK.search(c) and "\n" not in c]
    converted = _t2s().convert("\n".join(c for _, c in pending)).split("\n") if pending else []
    if len(converted) != len(pending):  # never seen; fall back to one call per name
        converted = [_t2s().convert(c) for _, c in pending]
    found = {n: "" for n in names}
    found.update({n: key for (n, _), key in zip(pending, converted, strict=True)})
    _remember(found)


def _remember(found: dict[str, str]) -> None:
    if len(_ZH_KEYS) + len(found) > _ZH_KEYS_MAX:
        _ZH_KEYS.clear()
    _ZH_KEYS.update(found)


def vi_key(name: str) -> str:
    """Match key of a Vietnamese name: lower case, tones and diacritics off, đ -> d."""
    if _CJK.search(name):
        return ""
    name = unicodedata.normalize("NFC", name).casefold()
    name = _VI_CLASSIFIERS.sub("", name.strip()).replace("đ", "d")
    decomposed = unicodedata.normalize("NFD", name)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NON_ALNUM.sub(" ", bare).strip()


def en_key(name: str) -> str:
    return _NON_ALNUM.sub(" ", name.casefold()).strip()


KEY_FUNCTIONS = {"zh": zh_key, "vi": vi_key, "en": en_key}


def keys(field: str, language: str) -> set[str]:
    """Every match key of a display field (names joined by SEPARATOR)."""
    if not field:
        return set()
    function = KEY_FUNCTIONS[language]
    found = {function(name) for name in field.split(SEPARATOR) if name}
    found.discard("")
    return found


def join_names(names: Iterable[str]) -> str:
    """Display field: names in first-seen order, duplicates (by match key) dropped.

    A traditional-character spelling of a name already present is kept after the
    simplified one, so a Taiwanese or Hong Kong reader still finds the form they know.
    """
    seen: list[str] = []
    for name in names:
        if name and name not in seen:
            seen.append(name)
    return SEPARATOR.join(seen)


def shared(left: str, right: str, language: str) -> set[str]:
    """Match keys two display fields have in common."""
    if not left or not right:
        return set()
    return keys(left, language) & keys(right, language)


def related_zh(left: str, right: str) -> set[str]:
    """Chinese names that differ only in their genus part: '腺苞金足草' / '腺苞马蓝'.

    A Chinese species name is a modifier plus the genus's Chinese name, so a genus transfer
    often renames the genus part and keeps the modifier; two names that share their first
    two characters (or are identical) do not contradict a nomenclatural link.
    """
    if not left or not right:
        return set()
    found = set()
    for a in keys(left, "zh"):
        for b in keys(right, "zh"):
            if a == b or (len(a) > 2 and len(b) > 2 and a[:2] == b[:2]):
                found.add(a if a == b else f"{a} ~ {b}")
    return found
