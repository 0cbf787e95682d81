"""The status page in the reader's language: Chinese, Vietnamese or English.

The page's own words come from gettext catalogues, `node/server/locale/<lang>/LC_MESSAGES/
status.po`, read with Babel (translators edit the `.po` files with the usual tools;
nothing is compiled into the repository). The language is the one the reader chose with
the page's switch (`?lang=vi`), else the best of `Accept-Language` (RFC 9110 §12.5.4, with
its q-values), else English. A message without a translation stays English rather than
going blank. Data (names, titles, reasons from the audit log) is shown as written, except
dataset titles, which node.toml may give per language. CLI and logs stay English.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

LANGUAGES = ("zh", "vi", "en")
DEFAULT = "en"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
NATIVE_NAMES = {"zh": "中文", "vi": "Tiếng Việt", "en": "English"}  # the switch's labels


@cache
def _catalogue(language: str) -> dict[str, str]:
    path = LOCALE_DIR / language / "LC_MESSAGES" / "status.po"
    if not path.exists():
        return {}
    with open(path, "rb") as handle:
        catalogue = read_po(handle, locale=language)
    return {
        str(m.id): str(m.string)
        for m in catalogue
        if m.id and isinstance(m.string, str) and m.string and not m.fuzzy
    }


def translator(language: str) -> Callable[[str], str]:
    """`_` for one language: the catalogue's translation, else the English message."""
    messages = _catalogue(language) if language in LANGUAGES else {}
    return lambda message: messages.get(message, message)


def negotiate(accept_language: str | None, chosen: str | None = None) -> str:
    """The page's language: the switch's choice, else Accept-Language, else English."""
    if chosen in LANGUAGES:
        return chosen
    best, best_q = DEFAULT, 0.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if primary in LANGUAGES and q > best_q:  # equal weights: the earlier tag wins
            best, best_q = primary, q
    return best
