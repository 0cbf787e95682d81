"""A dataset's title and abstract in each language node.toml gives them.

node.toml may write a title once (`title = "..."`) or once per language, as a TOML table
(`title.en = "..."`, `title.vi = "..."`, `title.zh = "..."`), and the abstract alike. The
EML then carries one title per language and one abstract paragraph per language, each
marked with its own `xml:lang`, and the status page shows the reader's. A title written
once is in the language its script shows (Chinese characters: zh; Vietnamese letters: vi;
else en), not in the dataset's data language: an English title of a Chinese dataset is
English.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from node.core.scripts import guess_language

LANGUAGES = ("en", "zh", "vi")


def by_language(value: str | Mapping[Any, str]) -> dict[str, str]:
    """`"Karst flora"` or `{"en": ..., "vi": ...}` -> texts by language, empty ones dropped."""
    if isinstance(value, Mapping):
        return {k: v.strip() for k, v in value.items() if v.strip()}
    text = value.strip()
    return {guess_language(text) or "en": text} if text else {}


def primary(texts: Mapping[str, str], language: str = "en") -> str:
    """The text for one language, else English, else the first given."""
    return texts.get(language) or texts.get("en") or next(iter(texts.values()), "")
