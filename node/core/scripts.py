"""Which language a short text is written in, from its script alone.

Titles written once in node.toml and vernacular names whose list gives no language are
filed by what their letters show: Chinese characters are zh, letters only Vietnamese uses
are vi, other Latin letters en. A label that says otherwise is a mistake of the list.
"""

from __future__ import annotations

import re
import unicodedata

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
# Letters only Vietnamese uses among Latin-script languages a checklist may hold.
VIETNAMESE = re.compile(r"[ăâđêôơưĂÂĐÊÔƠƯạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]")
LATIN_LETTER = re.compile(r"[A-Za-z]")


def guess_language(text: str) -> str:
    """zh, vi or en from the script; "" for text with no letters."""
    if CJK.search(text):
        return "zh"
    if VIETNAMESE.search(unicodedata.normalize("NFC", text)):
        return "vi"
    return "en" if LATIN_LETTER.search(text) else ""
