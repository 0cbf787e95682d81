"""Scientific plant names: normalisation, parsing into parts, and the keys names match on.

Why a parser written here rather than the `gnparser` wheel (measured on this project's
machine over the 46,302 distinct names of the two checklists):
gnparser 0.1.3 leaks memory on every call (its `FreeMemory` call is commented out: RSS grew
54 MB over those names), which a daemon reconciling lists on a schedule cannot afford; it
ships binaries for Linux x86-64 and macOS arm64 only, so a node on Windows, Linux aarch64
or an Intel Mac fails at import; it has no licence file; and it is slower here (15.6 s for
those names against 1.3 s). The names a node reconciles are plant checklist names under
the botanical Code, a narrow grammar: genus, epithets, rank markers, hybrid sign, cultivar,
authorship. This parser covers that grammar plus the defects of the real checklists
(full-width brackets, appended Chinese names, a canonical name repeated before the full
name, species authorship inside infraspecific names, `?` for lost letters, lower-case
authors). Its canonical forms agree with gnparser's on 99.7% of those names; the rest are
the repeated canonical names and lower-case authors, which gnparser reads as epithets. A
test compares the two where the wheel imports.

Keys (used by `reconcile`), each a stage of looser matching:
- `exact_key`: the canonical name, lower-case, letters folded to ASCII.
- `stem_key`: genus and epithets with orthographic folds and Latin gender endings removed,
  rank markers and the hybrid sign dropped: GBIF's SciNameNormalizer rules (matching-ws)
  with the stemmed ending list of gnparser (Schinke et al. 1996), plus Wade-Giles place
  names folded to pinyin (`vernacular`-independent; see `WADE_GILES`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from rapidfuzz.distance import OSA

# Rank markers as written -> the marker used in canonical names (ICN Art. 4, Rec. 5A).
RANK_MARKERS = {
    "subsp.": "subsp.", "ssp.": "subsp.", "subsp": "subsp.", "ssp": "subsp.",
    "subspecies": "subsp.", "var.": "var.", "var": "var.", "v.": "var.", "variety": "var.",
    "f.": "f.", "fo.": "f.", "forma": "f.", "form.": "f.", "subvar.": "subvar.",
    "subf.": "subf.", "nothosubsp.": "nothosubsp.", "nothovar.": "nothovar.",
}  # fmt: skip
RANK_OF_MARKER = {
    "subsp.": "subspecies", "var.": "variety", "f.": "form", "subvar.": "subvariety",
    "subf.": "subform", "nothosubsp.": "subspecies", "nothovar.": "variety",
}  # fmt: skip
# Lower-case words that belong to authorship, never epithets.
AUTHOR_PARTICLES = frozenset(
    {"ex", "et", "&", "in", "de", "van", "von", "der", "den", "du", "la", "le", "da", "dos",
     "del", "d'", "f.", "fil.", "al.", "emend.", "non", "auct.", "auct", "sensu", "s.l.",
     "s.str.", "nom.", "nud.", "inval.", "illeg."}
)  # fmt: skip
QUALIFIERS = frozenset({"cf.", "aff.", "cf", "aff", "nr.", "?"})
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_EPITHET = re.compile(r"^[a-zë-ïé][a-zë-ïé\-]+$")
_GENUS = re.compile(r"^[A-Z][a-zë-ïé\-]+$")
_CULTIVAR = re.compile(r"'\s*([^']+?)\s*'")
_GLUED_MARKER = re.compile(r"\b(var\.|subsp\.|ssp\.|f\.)(?=[a-z]{3})")
_SPACE_IN_BRACKETS = re.compile(r"\(\s+|\s+\)")
_BRACKET_CLOSE_GLUED = re.compile(r"\)(?=[A-Z])")  # '(Lour.)DC.' -> '(Lour.) DC.'
_BRACKET_GLUED = re.compile(r"(?<=[a-z.])\(")  # 'eburnea(Hance)' -> 'eburnea (Hance)'
_RTG_H = re.compile(r"([rtg])h")
_IJY = re.compile(r"[ijy]+")
_DOUBLE = re.compile(r"(.)\1+")
_CONSONANT_R = re.compile(r"[^aeiou]r(a|um|us)$")
_R_ENDING = re.compile(r"r(a|um|us)$")
_GENUS_HYBRID = re.compile(r"^× ?[A-Z]")
_ABBREVIATED_GENUS = re.compile(r"^[A-Z][a-z]?\.$")
_SUBGENUS = re.compile(r"^\([A-Z][a-z]+\)$")
_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": "'", "”": "'", '"': "'", "`": "'"})

# Wade-Giles (and postal) spellings of Chinese place names in epithets -> pinyin. Only
# whole place-name roots, longest first, so 'lungzhouensis' (half converted) and
# 'longzhouensis' share a key; single syllables are never rewritten (too many false hits).
WADE_GILES = {
    "kwangsi": "guangxi", "kwangtung": "guangdong", "kweichow": "guizhou",
    "kweichou": "guizhou", "kweiyang": "guiyang", "kweilin": "guilin",
    "szechwan": "sichuan", "szechuan": "sichuan", "sutchuen": "sichuan",
    "setchuen": "sichuan", "hupeh": "hubei", "hupei": "hubei", "hopeh": "hebei",
    "honan": "henan", "kiangsi": "jiangxi", "kiangsu": "jiangsu", "chekiang": "zhejiang",
    "fukien": "fujian", "anhwei": "anhui", "shensi": "shaanxi", "shansi": "shanxi",
    "kansu": "gansu", "tsinling": "qinling", "tsingtao": "qingdao", "nanking": "nanjing",
    "peking": "beijing", "chungking": "chongqing", "omei": "emei", "mengtze": "mengzi",
    "szemao": "simao", "pingpien": "pingbian", "tengchung": "tengchong",
    "likiang": "lijiang", "lichiang": "lijiang", "lungchow": "longzhou",
    "lungchou": "longzhou", "lungzhou": "longzhou", "lungsheng": "longsheng",
    "lunglin": "longlin", "tienlin": "tianlin", "hsiangkwei": "xianggui",
    "hsingan": "xingan", "yungfu": "yongfu", "kwangnan": "guangnan", "shangsze": "shangsi",
    "sikang": "xikang", "kiukiang": "jiujiang",
}  # fmt: skip
_WG_PATTERN = re.compile(
    r"(?:^|(?<=austro)|(?<=pseudo)|(?<=sub)|(?<=neo))("
    + "|".join(sorted(WADE_GILES, key=len, reverse=True))
    + ")"
)
# Connecting vowel of compound epithets: -aefolia is corrected to -iifolia (ICN Art. 60.10).
_COMPOUND_AE = re.compile(r"ae(?=fol|flor|form|carp|phyll|lob|spic|cal)")
# Endings removed from epithets, first match wins: GBIF's list, with -iae before -ae so
# that 'edithae' and 'edithiae' (ICN Art. 60.8 genitives) share a stem.
_STEM_SUFFIXES = ("arum", "orum", "iae", "us", "um", "ae", "am", "is", "os", "as", "ei", "i",
                  "o", "a", "e")  # fmt: skip


@dataclass(frozen=True)
class ParsedName:
    """One scientific name taken apart; `canonical` is the name without authorship."""

    verbatim: str
    genus: str = ""
    epithets: tuple[str, ...] = ()
    markers: tuple[str, ...] = ()  # rank marker of each infraspecific epithet, "" if none
    authorship: str = ""  # of the terminal rank
    species_authorship: str = ""  # written inside an infraspecific name, if any
    hybrid: str = ""  # "", "genus" (×Agropogon), "species" (Michelia ×alba), "formula"
    cultivar: str = ""
    rank: str = ""
    vernacular: str = ""  # a Chinese name written after the Latin one
    flags: tuple[str, ...] = field(default=())

    # Derived once at construction: reconciliation reads them for every comparison.
    canonical: str = field(init=False, default="")
    exact_key: str = field(init=False, default="")
    stem_key: str = field(init=False, default="")

    def __post_init__(self) -> None:
        canonical = _canonical(self)
        stem_key = ""
        if self.genus:
            words = [genus_key(self.genus), *(stem_epithet(e) for e in self.epithets)]
            if self.cultivar:
                words.append(ascii_fold(self.cultivar).lower())
            stem_key = " ".join(words)
        object.__setattr__(self, "canonical", canonical)
        object.__setattr__(self, "exact_key", ascii_fold(canonical).lower())
        object.__setattr__(self, "stem_key", stem_key)

    @property
    def is_autonym(self) -> bool:
        return len(self.epithets) >= 2 and self.epithets[-1] == self.epithets[0]


def _canonical(name: ParsedName) -> str:
    if name.hybrid == "formula":
        return name.verbatim
    parts = [("×" if name.hybrid == "genus" else "") + name.genus]
    for i, epithet in enumerate(name.epithets):
        if i == 0:
            parts.append(("×" if name.hybrid == "species" else "") + epithet)
        else:
            if name.markers[i - 1]:
                parts.append(name.markers[i - 1])
            parts.append(epithet)
    if name.cultivar:
        parts.append(f"'{name.cultivar}'")
    return " ".join(p for p in parts if p)


def clean_name_text(text: str) -> tuple[str, str]:
    """NFKC, straight quotes and collapsed spaces; returns (Latin part, appended Chinese).

    NFKC turns full-width brackets, letters and spaces from Chinese input methods into
    ASCII; a Chinese name typed after the Latin one is split off rather than discarded.
    """
    text = text or ""
    vernacular = ""
    if not text.isascii():  # most names are plain ASCII: skip Unicode work for them
        text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
        match = _CJK.search(text)
        if match:
            vernacular = text[match.start() :].strip()
            text = text[: match.start()]
    elif '"' in text or "`" in text:
        text = text.translate(_QUOTES)
    text = " ".join(text.split()).strip(" ,;")
    text = _GLUED_MARKER.sub(r"\1 ", text)  # 'var.bryoniifolia' -> 'var. bryoniifolia'
    if "(" in text:
        text = _SPACE_IN_BRACKETS.sub(lambda m: m.group(0).replace(" ", ""), text)
        text = _BRACKET_GLUED.sub(" (", _BRACKET_CLOSE_GLUED.sub(") ", text))
    return text, "".join(vernacular.split())


def ascii_fold(text: str) -> str:
    """Diacritics off (ICN Art. 60.6: ë is optional), ligatures spelled out."""
    if text.isascii():
        return text
    text = text.replace("æ", "ae").replace("œ", "oe").replace("Æ", "Ae").replace("Œ", "Oe")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _orthographic(word: str) -> str:
    """GBIF SciNameNormalizer folds: rh/th/gh->r/t/g, non-initial [ijy]+->i, doubles once."""
    word = _RTG_H.sub(r"\1", word)
    word = word[:1] + _IJY.sub("i", word[1:])
    return _DOUBLE.sub(r"\1", word)


@lru_cache(maxsize=65536)
def genus_key(genus: str) -> str:
    """Genus compared under orthographic folds only (Raphiolepis = Rhaphiolepis)."""
    return _orthographic(ascii_fold(genus).lower().lstrip("×"))


@lru_cache(maxsize=262144)
def stem_epithet(epithet: str) -> str:
    """An epithet reduced so gender endings and spelling variants compare equal."""
    word = ascii_fold(epithet).lower().replace("-", "").lstrip("×")
    word = _WG_PATTERN.sub(lambda m: WADE_GILES[m.group(0)], word)
    word = _COMPOUND_AE.sub("i", word)
    word = _orthographic(word)
    if len(word) <= 3:
        return word  # short words are kept whole: never stemmed, never fuzzy-matched
    if _CONSONANT_R.search(word):  # rubra, rubrum -> ruber; diandrus -> diander
        return _R_ENDING.sub("er", word)
    for suffix in _STEM_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _is_epithet(token: str) -> bool:
    return bool(_EPITHET.match(token)) and token not in AUTHOR_PARTICLES


@lru_cache(maxsize=65536)
def parse_name(text: str) -> ParsedName:
    """Take a scientific name apart; never raises, flags what it could not read.

    Cached: loading a checklist and reconciling it parse the same strings.
    """
    latin, vernacular = clean_name_text(text)
    flags: list[str] = []
    if " × " in f" {latin} " and latin.count("×") == 1 and not _GENUS_HYBRID.match(latin):
        # 'Aus bus × Aus cus' is a hybrid formula; 'Michelia × alba' is a nothospecies.
        right = latin.partition(" × ")[2]
        if right[:1].isupper():
            return ParsedName(latin, latin.split()[0], hybrid="formula", rank="hybrid formula")
    tokens = latin.replace("×", " × ").split()
    if not tokens:
        return ParsedName(text, vernacular=vernacular, flags=("empty",))
    # A canonical name repeated before the full name ('A b subsp. c A b Auth. subsp. c X'):
    # the last repetition is the full name.
    restart = []
    if tokens[0] in tokens[2:]:
        restart = [i for i, t in enumerate(tokens) if i > 1 and t == tokens[0]]
    after = tokens[restart[-1] + 1 : restart[-1] + 3] if restart else []
    if after and (_is_epithet(after[0]) or (after[0] in "×xX" and _is_epithet(after[-1]))):
        tokens = tokens[restart[-1] :]
        flags.append("repeated_canonical")
    i, hybrid = 0, ""
    if tokens[0] in ("×", "x", "X") and len(tokens) > 1 and tokens[1][:1].isupper():
        hybrid, i = "genus", 1
    genus = tokens[i]
    if genus.islower() and _EPITHET.match(genus):
        genus = genus.capitalize()
        flags.append("genus_lower_case")
    if _ABBREVIATED_GENUS.match(genus):
        flags.append("genus_abbreviated")
    elif not _GENUS.match(genus):
        flags.append("unparsed")
        return ParsedName(text, genus, vernacular=vernacular, flags=tuple(flags))
    i += 1
    if (
        i < len(tokens)
        and _SUBGENUS.match(tokens[i])
        and (i + 1 < len(tokens) and _is_epithet(tokens[i + 1]))
    ):
        i += 1  # subgenus: not part of the canonical binomial
    epithets: list[str] = []
    markers: list[str] = []
    authors: list[list[str]] = [[]]
    cultivar = ""
    while i < len(tokens):
        token = tokens[i]
        low = token.lower()
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if low in QUALIFIERS:
            flags.append("qualifier " + low.rstrip(".") + ".")
        elif low in ("sp.", "spp.", "sp", "spp") and not epithets:
            flags.append("unnamed species")
        elif token in ("×", "x", "X") and _is_epithet(nxt) and not epithets:
            hybrid = hybrid or "species"
        elif token.startswith("'") and token != "'t" and epithets:
            quoted = _CULTIVAR.search(" ".join(tokens[i:]))
            if quoted:
                cultivar = quoted.group(1)
                authors[-1].extend(quoted.string[quoted.end() :].split())
                break
            authors[-1].append(token)
        elif low == "cv." or low == "cv":
            cultivar = " ".join(tokens[i + 1 :])
            break
        elif not epithets and _is_epithet(token):
            epithets.append(token.lower())
        elif (
            token == low
            and low in RANK_MARKERS
            and epithets
            and _is_epithet(nxt.lower())
            and not (
                low == "f."
                and (nxt != nxt.lower() or (authors[-1] and not _forma_follows(tokens, i)))
            )
        ):
            markers.append(RANK_MARKERS[low])
            epithets.append(nxt.lower())
            authors.append([])
            i += 1
        elif epithets and not authors[-1] and _is_epithet(token) and len(epithets) < 4:
            markers.append("")  # an infraspecific epithet without its rank marker
            epithets.append(token.lower())
            authors.append([])
        else:
            authors[-1].append(token)
        i += 1
    authorship = " ".join(authors[-1])
    species_authorship = " ".join(authors[0]) if len(authors) > 1 else ""
    if "?" in authorship:
        flags.append("lost characters in authorship")
    return ParsedName(
        verbatim=text,
        genus=genus,
        epithets=tuple(epithets),
        markers=tuple(markers),
        authorship=authorship,
        species_authorship=species_authorship,
        hybrid=hybrid,
        cultivar=cultivar,
        rank=_rank(genus, epithets, markers, cultivar),
        vernacular=vernacular,
        flags=tuple(flags),
    )


def _forma_follows(tokens: list[str], i: int) -> bool:
    """'f.' after an author is filius ('Hook. f.') unless an epithet and more follow."""
    nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
    after = tokens[i + 2] if i + 2 < len(tokens) else ""
    return _is_epithet(nxt) and (not after or after[:1].isupper() or after[:1] == "(")


def _rank(genus: str, epithets: list[str], markers: list[str], cultivar: str) -> str:
    if cultivar:
        return "cultivar"
    if len(epithets) >= 2:
        return RANK_OF_MARKER.get(markers[-1], "infraspecific name")
    if epithets:
        return "species"
    for ending, rank in (("aceae", "family"), ("ales", "order"), ("oideae", "subfamily")):
        if genus.endswith(ending):
            return rank
    if genus in ("Compositae", "Cruciferae", "Gramineae", "Guttiferae", "Labiatae",
                 "Leguminosae", "Palmae", "Umbelliferae", "Composieae"):  # fmt: skip
        return "family"  # conserved alternative family names (ICN Art. 18.5)
    return "genus"


def _word_pairs(a: ParsedName, b: ParsedName) -> list[tuple[str, str]]:
    return [(a.genus, b.genus), *zip(a.epithets, b.epithets, strict=False)]


def describe_differences(a: ParsedName, b: ParsedName) -> list[str]:
    """Why two names with one stem key are spelt differently, in words for a curator."""
    notes = []
    for x, y in _word_pairs(a, b):
        if x.lower() == y.lower():
            continue
        fx, fy = ascii_fold(x).lower(), ascii_fold(y).lower()
        if bool(_WG_PATTERN.search(fx)) != bool(_WG_PATTERN.search(fy)):
            notes.append(f"Wade-Giles / pinyin spelling {x} / {y}")
        elif fx == fy:
            notes.append(f"diacritics {x} / {y}")
        elif x[:1].isupper():
            notes.append(f"genus spelling {x} / {y}")
        elif _COMPOUND_AE.search(fx) or _COMPOUND_AE.search(fy):
            notes.append(f"compound epithet -ae-/-i- {x} / {y} (ICN Art. 60.10)")
        elif _orthographic(fx) == _orthographic(fy):
            notes.append(f"orthographic variant {x} / {y}")
        else:
            notes.append(f"Latin ending {x} / {y}")
    if a.markers != b.markers and len(a.epithets) == len(b.epithets):
        notes.append(f"rank marker {' '.join(a.markers)} / {' '.join(b.markers)}")
    if bool(a.hybrid) != bool(b.hybrid):
        notes.append("hybrid sign on one side only")
    return notes or ["same stem"]


def epithet_edits(
    a: ParsedName, b: ParsedName, long_epithet: int, max_total: int
) -> tuple[int, list[str]] | None:
    """Edit distance between the epithet stems of two names of one genus, or None.

    Distances count a transposition as one edit (optimal string alignment), as GBIF's
    modified Damerau-Levenshtein does: 'rhodochelia' / 'rhodocheila' is one typing error.
    GNverifier's rules: words of three letters or fewer must be identical; one edit per
    epithet, two for epithets of `long_epithet` letters or more (GBIF allows two edits
    only above 10 letters); at most `max_total` over the name.
    """
    if len(a.epithets) != len(b.epithets) or not a.epithets:
        return None
    if any(x and y and x != y for x, y in zip(a.markers, b.markers, strict=True)):
        return None
    total, notes = 0, []
    for x, y in zip(a.epithets, b.epithets, strict=True):
        sx, sy = stem_epithet(x), stem_epithet(y)
        if sx == sy:
            continue
        if min(len(x), len(y), len(sx), len(sy)) <= 3:
            return None  # 'alta' / 'alba': stems of three letters leave nothing to compare
        distance = _levenshtein(sx, sy)
        allowed = 2 if min(len(sx), len(sy)) >= long_epithet else 1
        if distance > allowed:
            return None
        total += distance
        notes.append(f"{x} / {y}: {distance} edit{'s' if distance > 1 else ''} on stems")
    if total == 0 or total > max_total:
        return None
    return total, notes


def _levenshtein(x: str, y: str) -> int:
    return OSA.distance(x, y)
