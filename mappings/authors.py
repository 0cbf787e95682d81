"""Authorship of plant names: taken apart, normalised, and compared across spellings.

Chinese checklists abbreviate authors (`Linn.`, `Hand.-Mazz.`, `Bl.`), Flora of China spells
them out (`Linnaeus`, `Handel-Mazzetti`, `Blume`), and both omit or add initials
(`Li` / `H. L. Li`). Authorship splits homonyms and scores matches (GNames' authorship score
and GBIF's AuthorComparator do the same), so two spellings of one author must compare equal:
- an abbreviation (ending in `.`) equals a surname whose letters it keeps in order from the
  same first letter, part by part across hyphens (`Hand.-Mazz.` ~ `Handel-Mazzetti`,
  `Schltr.` ~ `Schlechter`, `Levl.` ~ `Leveille`), which is how IPNI forms abbreviations;
- `ABBREVIATIONS` lists the standard forms that do not keep the letters in order
  (`DC.` = de Candolle, `Hook. f.` = J. D. Hooker, `L.` = Linnaeus); it was compiled for
  this project from the author pairs of names both real checklists share, checked
  against IPNI's standard forms;
- `?` (a letter lost in Flora of China's text, `H. It?` for `H. Itô`) matches any letter;
- initials count when both sides give them: with the few Chinese surnames shared by many
  botanists, `C. Y. Wu` and `Z. Y. Wu` are two people (one side's initials may be fewer:
  `H. Li` ~ `H. L. Li`; none at all, `Li`, agrees with any).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz.distance import Levenshtein

from mappings.names import AUTHOR_PARTICLES, ascii_fold

# Author spellings whose letters are not an in-order abbreviation of each other, mapped to
# one key. Keys are lower-case, accents and spaces removed.
ABBREVIATIONS = {
    "l.": "linnaeus", "l": "linnaeus", "linn.": "linnaeus", "linne": "linnaeus",
    "linnaeus": "linnaeus",
    "l.f.": "linnaeus f.", "linn.f.": "linnaeus f.", "linnaeusf.": "linnaeus f.",
    "dc.": "candolle", "decandolle": "candolle", "candolle": "candolle",
    "a.dc.": "candolle a.", "alph.dc.": "candolle a.", "a.candolle": "candolle a.",
    "aug.candolle": "candolle a.", "c.dc.": "candolle c.", "cas.dc.": "candolle c.",
    "c.candolle": "candolle c.", "c.decandolle": "candolle c.",
    "hook.f.": "hooker f.", "j.d.hooker": "hooker f.", "hook.f.&thomson": "hooker f.",
    "hook.": "hooker", "w.j.hooker": "hooker", "hooker": "hooker",
    "bl.": "blume", "blume": "blume",
    "muell.-arg.": "muller-arg.", "mull.arg.": "muller-arg.", "mull.-arg.": "muller-arg.",
    "mullerargoviensis": "muller-arg.", "muell.arg.": "muller-arg.",
    "sch.bip.": "schultz-bip.", "schultzbipontinus": "schultz-bip.",
    "a.decandolle": "candolle a.", "c.decandolle.": "candolle c.", "bl": "blume",
    "h.b.k.": "kunth", "hbk.": "kunth", "kunth": "kunth",
    "o.ktze.": "kuntze", "ktze.": "kuntze", "kuntze": "kuntze",
    "rchb.f.": "reichenbach f.", "h.g.reichenbach": "reichenbach f.",
    "rchb.": "reichenbach", "h.g.l.reichenbach": "reichenbach",
    "r.br.": "brown r.", "r.brown": "brown r.",
    "forst.f.": "forster g.", "g.forster": "forster g.", "g.forst.": "forster g.",
    "keng f.": "keng f.", "kengf.": "keng f.", "p.c.keng": "keng f.",
    "wall.": "wallich", "wallich": "wallich",
    "lour.": "loureiro", "loureiro": "loureiro",
    "thunb.": "thunberg", "thunberg": "thunberg",
    "hk.f.": "hooker f.", "benth.&hook.f.": "bentham hooker f.",
    "koord.&valeton": "koorders valeton", "f.muell.": "mueller f.", "f.mueller": "mueller f.",
    "schumach.&thonn.": "schumacher thonning", "sieb.": "siebold", "siebold": "siebold",
    "zucc.": "zuccarini", "zuccarini": "zuccarini", "buch.-ham.": "buchanan-hamilton",
    "d.don": "don d.", "g.don": "don g.", "burm.f.": "burman f.", "n.l.burman": "burman f.",
    "gaertn.f.": "gaertner f.", "c.f.gaertner": "gaertner f.", "fangf.": "fang f.",
    "m.y.fang": "fang f.", "f.v.muell.": "mueller f.", "f.v.mueller": "mueller f.",
}  # fmt: skip
# Chinese authors' surnames in Wade-Giles (older lists) and pinyin (Flora of China); only
# spellings that are never themselves pinyin are folded.
CHINESE_SURNAMES_WADE_GILES = {
    "liou": "liu", "hsu": "xu", "hsueh": "xue", "chow": "zhou", "chou": "zhou",
    "tsiang": "jiang", "hsiung": "xiong", "kuo": "guo", "tseng": "zeng", "tsai": "cai",
    "hwang": "huang", "yu": "yu", "hsieh": "xie", "tsoong": "zong", "chien": "qian",
}  # fmt: skip
TEAM_SPLIT = re.compile(r"\s*(?:,|&|\bet\b|\band\b)\s*")
INITIALS_MARK = "#"  # an author key is 'surname[ f.]#initials'
YEAR = re.compile(r",?\s*\b(1[5-9]\d\d|20\d\d)\b")


@dataclass(frozen=True)
class Authorship:
    """An authorship string taken apart (ICN Art. 46, 49)."""

    basionym: tuple[str, ...]  # authors in parentheses: of the basionym
    combination: tuple[str, ...]  # authors who published this combination
    year: str = ""

    @property
    def original(self) -> tuple[str, ...]:
        """Who first named the taxon: the basionym authors if any, else the name's own."""
        return self.basionym or self.combination

    def __bool__(self) -> bool:
        return bool(self.basionym or self.combination)


@dataclass(frozen=True)
class AuthorMatch:
    """How two authorships compare; `score` in 0-1, None when either is missing."""

    level: str  # equal, included, overlap, differ, missing
    score: float | None
    detail: str


@lru_cache(maxsize=131072)
def parse_authorship(text: str) -> Authorship:
    """Split `(Basionym authors) Combination authors, year` into author keys."""
    text = re.sub(r"\.(?=[A-Za-z])", ". ", ascii_fold(text or "")).strip()  # 'C.B.Clarke'
    year_match = YEAR.search(text)
    year = year_match.group(1) if year_match else ""
    text = YEAR.sub("", text)
    basionym = ""
    match = re.match(r"^\(([^)]*)\)\s*(.*)$", text)
    if match:
        basionym, text = match.group(1), match.group(2)
    return Authorship(_team(basionym), _team(text), year)


def _team(text: str) -> tuple[str, ...]:
    # 'Champ. ex Benth.': Bentham published the name (ICN Art. 46.4); 'Sm. in Rees': Smith.
    text = re.split(r"\b(?:emend\.|sensu|non|auct\.?)\s", text)[0]
    text = re.split(r"\s+in\s+", text)[0]
    # Ex-authors stay in the team: lists disagree on citing them ('Champ.' / 'Champion ex
    # Bentham'), and an author set that includes the other is scored as such.
    text = re.sub(r"\s+ex\.?\s+", " & ", text)
    text = re.sub(r"\bet al\.?", "& al.", text)
    authors = []
    for person in TEAM_SPLIT.split(text):
        key = _author_key(person)
        if key:
            authors.append(key)
    return tuple(authors)


def _author_key(person: str) -> str:
    person = person.strip().replace("’", "'").replace("'", "")
    if not person or person.lower() in ("al.", "al"):
        return "al." if person else ""
    squeezed = person.lower().replace(" ", "")
    if squeezed in ABBREVIATIONS:
        return ABBREVIATIONS[squeezed]
    words = person.split()
    filius = words[-1] in ("f.", "fil.") and len(words) > 1
    if filius:
        words = words[:-1]
    # Drop initials: keep the surname, written last ('Hung T. Chang'); two undotted words
    # make a double surname ('Ker Gawler' = 'Ker-Gawl.', 'Solms Laubach').
    surname = words[-1].lower()
    before = words[-2] if len(words) > 1 else ""
    given = words[:-1]
    if len(before) > 1 and not before.endswith(".") and before.lower() not in AUTHOR_PARTICLES:
        surname = before.lower() + "-" + surname  # particles dropped: 'de Candolle'
        given = words[:-2]
    key = ABBREVIATIONS.get(surname, surname)
    key = "-".join(CHINESE_SURNAMES_WADE_GILES.get(part, part) for part in key.split("-"))
    if filius and not key.endswith(" f."):
        key += " f."
    initials = "".join(
        part[0].lower()
        for word in given
        if word.lower() not in AUTHOR_PARTICLES
        for part in word.split("-")
        if part[:1].isalpha()
    )
    return f"{key}{INITIALS_MARK}{initials}" if initials else key


def _initials_agree(a: str, b: str) -> bool:
    # Fewer initials on one side ('H. Li' / 'H. L. Li') or none at all still agree.
    return not a or not b or a.startswith(b) or b.startswith(a)


def same_author(a: str, b: str) -> bool:
    """One author written two ways: equal, in-order abbreviation, or a lost letter."""
    if a == b:
        return True
    if a == "al." or b == "al.":
        return False
    a, _, initials_a = a.partition(INITIALS_MARK)
    b, _, initials_b = b.partition(INITIALS_MARK)
    if not _initials_agree(initials_a, initials_b):
        return False
    if a == b:
        return True
    if a.endswith(" f.") != b.endswith(" f."):
        return False
    a, b = a.removesuffix(" f."), b.removesuffix(" f.")
    if "?" in a or "?" in b:
        pattern_a, pattern_b = (re.escape(x).replace(r"\?", ".") for x in (a, b))
        if re.fullmatch(pattern_a, b) or re.fullmatch(pattern_b, a):
            return True
    parts_a, parts_b = a.split("-"), b.split("-")
    if len(parts_a) != len(parts_b):
        # 'Li Bing Zhang' / 'Zhang', 'Muell.-Arg.' / 'Mueller': compare the last parts.
        if _same_word(a, b):
            return True
        parts_a, parts_b = parts_a[-1:], parts_b[-1:]
    return all(_same_word(x, y) for x, y in zip(parts_a, parts_b, strict=True))


def _same_word(x: str, y: str) -> bool:
    if x.rstrip(".") == y.rstrip(".") or _abbreviates(x, y) or _abbreviates(y, x):
        return True
    # One typing error in a long surname ('Stendel' / 'Steudel', 'Rovle' / 'Royle').
    return (
        min(len(x), len(y)) >= 5
        and "." not in x + y
        and Levenshtein.distance(x, y, score_cutoff=1) <= 1
    )


def _abbreviates(short: str, full: str) -> bool:
    if not short or not full or short[0] != full[0] or len(short.rstrip(".")) >= len(full):
        return False
    if not short.endswith("."):
        # Abbreviations typed without their point ('Thunb', 'Kosterm'): prefixes of 4+.
        return len(short) >= 4 and full.startswith(short)
    letters = short.replace(".", "").replace("-", "")
    target = full.replace(".", "").replace("-", "")
    if len(letters) < 2 and len(target) > 1:
        return False  # a single letter is an initial, except L. (in the table)
    position = 0
    for ch in letters:  # letters kept in order; '?' in the full name is any lost letter
        while position < len(target) and target[position] not in (ch, "?"):
            position += 1
        if position == len(target):
            return False
        position += 1
    return True


def _team_match(a: tuple[str, ...], b: tuple[str, ...]) -> str:
    if not a or not b:
        return "missing"
    found_a = [any(same_author(x, y) for y in b) for x in a if x != "al."]
    found_b = [any(same_author(y, x) for x in a) for y in b if y != "al."]
    if all(found_a) and all(found_b):
        return "equal"
    if all(found_a) or all(found_b):
        return "included"
    if any(found_a):
        return "overlap"
    return "differ"


_LEVEL_SCORE = {"equal": 1.0, "included": 0.8, "overlap": 0.6, "differ": 0.0}


def compare_authorship(left: str, right: str) -> AuthorMatch:
    """Compare two authorship strings, as GNames does: author sets, then years.

    Basionym authors are compared when both sides cite them; a name whose combination
    authors differ but whose basionym authors agree is a recombination of the same
    basionym (`Chirita eburnea Hance` / `Primulina eburnea (Hance) Yin Z. Wang`).
    """
    a, b = parse_authorship(left), parse_authorship(right)
    if not a or not b:
        return AuthorMatch("missing", None, "authorship missing on one side")
    level = _team_match(a.combination, b.combination)
    if level == "missing":
        level = _team_match(a.original, b.original)
    if a.basionym and b.basionym:
        basionym_level = _team_match(a.basionym, b.basionym)
        if basionym_level == "differ":
            # Two basionyms are two names, whoever recombined them: Yin Z. Wang moved both
            # Handel-Mazzetti's and W. T. Wang's Chirita species to Primulina.
            level = "differ"
        elif level == "differ":
            level = "overlap"  # two combinations of one basionym
    elif bool(a.basionym) != bool(b.basionym) and level == "equal":
        level = "included"  # '(Wall.) DC.' / 'Candolle': one side omits the basionym author
    if level == "missing":
        return AuthorMatch("missing", None, "authorship missing on one side")
    score = _LEVEL_SCORE[level]
    if a.year and b.year and abs(int(a.year) - int(b.year)) > 1 and score > 0:
        score = round(score * 0.5, 2)  # CoL: year tolerance of one year
    detail = f"authors {level}: {left.strip()} / {right.strip()}"
    return AuthorMatch(level, score, detail)


def cites_as_basionym(recombination: str, original: str) -> bool:
    """True when `recombination` cites the authors of `original` in parentheses.

    That is the nomenclatural link of a homotypic synonym: `Senna alata (Linnaeus)
    Roxburgh` is based on `Cassia alata Linn.`; two recombinations of one basionym cite the
    same parenthetical authors (`Magnolia coco (Lour.) DC.` / `Lirianthe coco (Loureiro) ...`).
    """
    a, b = parse_authorship(recombination), parse_authorship(original)
    if not a.basionym or not b.original:
        return False
    return _team_match(a.basionym, b.original) == "equal"


@lru_cache(maxsize=131072)
def original_initial(text: str) -> str:
    """First letter of the first original author's key (basionym author if cited).

    A cheap bucket for homotypic look-ups: two names linked by a basionym citation have
    the same original authors, so they share this letter (`Hand.-Mazz.` and
    `(Handel-Mazzetti) D. Padgett` both give 'h'; `DC.` and `Candolle` both 'c').
    """
    text = ascii_fold(text or "").strip()
    if text.startswith("("):
        text = text[1:].split(")", 1)[0]
    first = TEAM_SPLIT.split(re.sub(r"\s+ex\.?\s+", " & ", text), maxsplit=1)[0]
    return _author_key(re.sub(r"\.(?=[A-Za-z])", ". ", first))[:1]
