"""Reconcile two checklists into a taxon crosswalk, in stages from strict to loose.

For each name of the left list, the first stage that finds a counterpart in the right list
decides the row:
1. exact / canonical: the same canonical name; authorship then says `exact` (same authors,
   however abbreviated) or `canonical` (missing or different authors) and splits homonyms;
2. variant: the same stem key (gender endings, orthography, Wade-Giles/pinyin: `names`);
3. fuzzy: epithet stems within the same genus at edit distance <= 1 (2 for long epithets),
   words of <= 3 letters exact, as GNverifier; or a genus misspelt by one letter with
   identical epithets. Conflicting authors veto a fuzzy match unless a vernacular agrees;
4. synonym: an accepted-name link in either list or in a reference list, or a homotypic
   synonym shown by the names themselves (same epithet, the other's authors cited as
   basionym authors: `Cassia alata Linn.` / `Senna alata (Linnaeus) Roxburgh`);
5. vernacular: the same Chinese (or Vietnamese) name: the only link for genus transfers
   and re-circumscriptions that no Latin matcher can see;
6. higher_rank: only the species of an infraspecific name, or only the genus, is present;
7. an optional `gbif_matcher` for names still unresolved.
Candidates that authorship and vernacular names cannot split become `ambiguous` rows, one
per candidate. Curator decisions (`review.load_decisions`) win over every stage.

The right list is taken as the reference: a pair's `accepted_name` is the right list's
accepted name. Pass the list you trust more as `right`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
from rapidfuzz import process
from rapidfuzz.distance import OSA, Levenshtein

from mappings import review
from mappings.authors import cites_as_basionym, compare_authorship, original_initial
from mappings.checklists import ChecklistEntry, Index, entries, from_table, load_checklist
from mappings.names import (
    describe_differences,
    epithet_edits,
    genus_key,
    parse_name,
    stem_epithet,
)
from mappings.review import CROSSWALK_SCHEMA, Crosswalk, Decisions, crosswalk_row, left_rows
from mappings.trilingual import with_names
from mappings.vernacular import keys, related_zh, shared
from node.core import constants

GbifMatcher = Callable[[str], dict | None]
# Confidence of each kind of evidence before adjustments: a model, documented in words in
# each row's `evidence`. Rows below constants.RECONCILE_REVIEW_BELOW go to the curator.
CONFIDENCE = {
    "exact": 1.0, "canonical missing": 0.95, "canonical included": 0.95,
    "canonical overlap": 0.9, "canonical differ": 0.75, "variant": 0.9, "variant wg": 0.85,
    "fuzzy 1": 0.8, "fuzzy 2": 0.7, "synonym link": 0.95, "synonym homotypic": 0.75,
    "vernacular zh": 0.75, "vernacular vi": 0.6, "vernacular transfer": 0.75,
    "higher species": 0.6, "higher autonym": 0.8, "higher genus": 0.5,
}  # fmt: skip


@dataclass
class Candidate:
    """A right entry proposed for a left entry, with the evidence found."""

    entry: ChecklistEntry
    kind: str
    confidence: float
    evidence: list[str] = field(default_factory=list)
    edit_distance: int | None = None


# -- evidence for one pair ---------------------------------------------------------------
def _authors(left: ChecklistEntry, right: ChecklistEntry) -> tuple[str, float | None, str]:
    match = compare_authorship(left.authorship, right.authorship)
    return match.level, match.score, match.detail


def _with_vernacular(candidate: Candidate, left: ChecklistEntry) -> Candidate:
    """Add what the vernacular names say to a Latin match."""
    right = candidate.entry
    common = shared(left.zh, right.zh, "zh") or shared(left.vi, right.vi, "vi")
    if common:
        candidate.evidence.append(f"same vernacular name {' / '.join(sorted(common))}")
        ceiling = 1.0 if candidate.kind == "exact" else 0.99  # only `exact` is certain
        candidate.confidence = min(ceiling, candidate.confidence + 0.05)
    elif left.zh and right.zh:
        candidate.evidence.append(f"Chinese names differ: {left.zh} / {right.zh}")
    return candidate


def _same_canonical(left: ChecklistEntry, right: ChecklistEntry) -> Candidate:
    level, _, detail = _authors(left, right)
    both_bare = not left.authorship and not right.authorship
    same_text = left.parsed.canonical == right.parsed.canonical
    if same_text and (level == "equal" or both_bare):
        kind, confidence = "exact", CONFIDENCE["exact"]
        evidence = ["same canonical name" + ("" if both_bare else "; " + detail)]
    else:
        kind = "canonical"
        confidence = CONFIDENCE[f"canonical {level}"] if level != "equal" else 0.95
        evidence = [f"same canonical name; {detail}"]
        if not same_text:
            evidence.insert(0, "canonical names differ only in case or diacritics")
    return _with_vernacular(Candidate(right, kind, confidence, evidence), left)


def _variant(left: ChecklistEntry, right: ChecklistEntry) -> Candidate | None:
    notes = describe_differences(left.parsed, right.parsed)
    wade_giles = any(n.startswith("Wade-Giles") for n in notes)
    level, _, detail = _authors(left, right)
    common = shared(left.zh, right.zh, "zh")
    if level == "differ" and not common and (wade_giles or (left.zh and right.zh)):
        # 'kwangsiensis' / 'guangxiensis', 'tsangorum' / 'tsangii' by other authors and
        # under other Chinese names: two species whose epithets happen to stem alike.
        return None
    confidence = CONFIDENCE["variant wg" if wade_giles else "variant"]
    confidence += {"equal": 0.05, "differ": -0.2}.get(level, 0.0)
    candidate = Candidate(right, "variant", confidence, ["spelling variant: " + "; ".join(notes)])
    if level != "missing":
        candidate.evidence.append(detail)
    return _with_vernacular(candidate, left)


def _fuzzy(
    left: ChecklistEntry, right: ChecklistEntry, distance: int, notes: list[str]
) -> Candidate | None:
    level, _, detail = _authors(left, right)
    if level == "differ" and (
        cites_as_basionym(right.authorship, left.authorship)
        or cites_as_basionym(left.authorship, right.authorship)
    ):
        level, detail = "included", f"{detail}, but one cites the other's as basionym authors"
    common = shared(left.zh, right.zh, "zh") or shared(left.vi, right.vi, "vi")
    if level == "differ" and not common:
        return None  # another author's similar name: a different species until shown
    if left.zh and right.zh and not common and distance > 1:
        return None
    if bool(left.parsed.hybrid) != bool(right.parsed.hybrid) and not common:
        return None  # 'Citrus limonia' is not the nothospecies 'Citrus × limon'
    confidence = CONFIDENCE[f"fuzzy {min(distance, 2)}"] + (0.1 if level == "equal" else 0.0)
    if left.zh and right.zh and not common:
        confidence -= 0.1
    edits = Levenshtein.distance(left.parsed.exact_key, right.parsed.exact_key)
    evidence = ["similar spelling: " + "; ".join(notes)]
    if level != "missing":
        evidence.append(detail)
    return _with_vernacular(Candidate(right, "fuzzy", min(confidence, 0.95), evidence, edits), left)


def _basionym_link(left: ChecklistEntry, right: ChecklistEntry) -> str:
    """Why two names of different genera or ranks are one basionym's combinations, or ''."""
    lp, rp = left.parsed, right.parsed
    if genus_key(lp.genus) == genus_key(rp.genus) and len(lp.epithets) == len(rp.epithets):
        return ""
    if cites_as_basionym(right.authorship, left.authorship):
        return f"{right.name} cites {left.authorship} as basionym authors"
    if cites_as_basionym(left.authorship, right.authorship):
        return f"{left.name} cites {right.authorship} as basionym authors"
    return ""


def _homotypic(
    left: ChecklistEntry,
    right: ChecklistEntry,
    link: str,
    genus_links: int,
    contested: bool = False,
) -> Candidate | None:
    """A homotypic synonym, if what else is known does not contradict it.

    Same epithet and cited basionym authors alone are weak where an author named many
    species alike (Merrill's many 'hainanensis'): a Chinese name must agree, or a Chinese
    name that differs only in its genus part ('香花崖豆藤' / '香花鸡血藤') must come with a
    genus transfer seen at least twice in the run (Millettia -> Callerya), or, without
    Chinese names, the same transfer seen twice or the same family, and then only for a
    right name that no other left name claims (exactly, or by the same kind of link):
    Linnaeus named an 'indica' in many genera of one family.
    """
    common = shared(left.zh, right.zh, "zh")
    same_genus = genus_key(left.parsed.genus) == genus_key(right.parsed.genus)
    supported = same_genus or genus_links >= constants.RECONCILE_GENUS_TRANSFER_MIN_LINKS
    if left.family and right.family and left.family != right.family and not common:
        return None
    evidence = [f"homotypic synonym: same epithet, {link}"]
    if common:
        confidence = CONFIDENCE["synonym homotypic"] + 0.2
        evidence.append(f"same Chinese name {' / '.join(sorted(common))}")
    elif left.zh and right.zh:
        related = related_zh(left.zh, right.zh)
        if not related or not supported:
            return None  # the Chinese names contradict the link, or nothing backs it
        confidence = CONFIDENCE["synonym homotypic"] + 0.1
        evidence.append(f"Chinese names differ only in the genus part: {' / '.join(related)}")
    elif not contested and (supported or (left.family and left.family == right.family)):
        confidence = CONFIDENCE["synonym homotypic"]
        evidence.append("no Chinese names to compare")
    else:
        return None
    if genus_links > 1:
        transfer = f"{left.parsed.genus} -> {right.parsed.genus}"
        evidence.append(f"genus transfer {transfer} seen {genus_links} times")
    return Candidate(right, "synonym", round(confidence, 2), evidence)


def _vernacular(
    left: ChecklistEntry, right: ChecklistEntry, language: str, claimed_by: str | None
) -> Candidate | None:
    lp, rp = left.parsed, right.parsed
    if bool(lp.epithets) != bool(rp.epithets):
        return None  # a species and a genus or family never share a taxon
    common = shared(getattr(left, language), getattr(right, language), language)
    confidence = CONFIDENCE[f"vernacular {language}"]
    evidence = [
        f"same {'Chinese' if language == 'zh' else 'Vietnamese'} name " + " / ".join(sorted(common))
    ]
    same_genus = genus_key(lp.genus) == genus_key(rp.genus)
    same_epithet = bool(lp.epithets) and stem_epithet(lp.epithets[-1]) == stem_epithet(
        rp.epithets[-1]
    )
    if same_genus:
        confidence += 0.1
        evidence.append(f"same genus, epithet {lp.epithets[-1]} / {rp.epithets[-1]}")
    elif same_epithet:
        confidence += 0.1
        evidence.append(f"genus {lp.genus} / {rp.genus}, same epithet")
    else:
        evidence.append(f"genus {lp.genus} / {rp.genus}, epithets differ")
    level, _, detail = _authors(left, right)
    if level == "equal":
        confidence += 0.05
    if level != "missing":
        evidence.append(detail)
    if claimed_by:
        confidence -= 0.25
        evidence.append(f"{right.name} also matches {claimed_by} exactly")
    return Candidate(right, "vernacular", round(confidence, 2), evidence)


def _without_autonyms(found: list[Candidate]) -> list[Candidate]:
    """Drop an autonym whose species is also a candidate: *X y* var. *y* is the typical
    part of *X y*, the same name to a list that carries no infraspecific split."""
    species = {c.entry.parsed.exact_key for c in found if len(c.entry.parsed.epithets) == 1}
    return [
        c
        for c in found
        if not (
            c.entry.parsed.is_autonym
            and f"{c.entry.parsed.genus} {c.entry.parsed.epithets[0]}".lower() in species
        )
    ]


def _as_transfer(candidate: Candidate, left: ChecklistEntry) -> Candidate:
    """A lone Chinese-name match with the same epithet in another genus is a genus transfer.

    Lists of accepted names carry no synonyms to prove it (*Tupistra chinensis* /
    *Rohdea chinensis*, both 开口箭); the standard Chinese name and the epithet together
    are strong, but the curator confirms: the confidence stays under the review line.
    """
    lp, rp = left.parsed, candidate.entry.parsed
    if (
        candidate.kind != "vernacular"
        or not shared(left.zh, candidate.entry.zh, "zh")
        or genus_key(lp.genus) == genus_key(rp.genus)
        or not lp.epithets
        or len(lp.epithets) != len(rp.epithets)
        or stem_epithet(lp.epithets[-1]) != stem_epithet(rp.epithets[-1])
        or any(" also matches " in e for e in candidate.evidence)  # claimed elsewhere
    ):
        return candidate
    candidate.confidence = CONFIDENCE["vernacular transfer"]
    candidate.evidence.insert(
        0, f"genus transfer {lp.genus} -> {rp.genus}: same Chinese name and epithet"
    )
    return candidate


def _classify_pair(left: ChecklistEntry, right: ChecklistEntry) -> Candidate:
    """The relation between a pair a curator chose, described like the algorithm would."""
    if left.parsed.exact_key == right.parsed.exact_key:
        candidate = _same_canonical(left, right)
    elif left.parsed.stem_key == right.parsed.stem_key and (found := _variant(left, right)):
        candidate = found
    else:
        candidate = Candidate(right, "synonym", 1.0, ["curator decision links the names"])
    candidate.confidence = 1.0
    return candidate


class Reconciler:
    """The stages for one run: left entries against the right index."""

    def __init__(
        self,
        right: Index,
        reference: Index | None,
        decisions: Decisions,
        gbif_matcher: GbifMatcher | None,
    ) -> None:
        self.right = right
        self.reference = reference
        self.decisions = decisions
        self.gbif_matcher = gbif_matcher
        self.claimed: dict[int, str] = {}  # right row -> left name that matches it exactly
        self.notes: dict[str, str] = {}  # left name -> what an unresolved name's search found
        self.accepted_elsewhere: dict[str, str] = {}  # left name -> GBIF's accepted name
        self.genus_links: Counter[tuple[str, str]] = Counter()  # (left, right genus) -> links
        self.linked_genera: dict[str, set[str]] = {}  # left genus -> right genera it moved to
        self.basionym_links: Counter[int] = Counter()  # right row -> left names linking to it

    def allowed(
        self, left: ChecklistEntry, entries: Iterable[ChecklistEntry]
    ) -> list[ChecklistEntry]:
        rejected = self.decisions.rejected.get(left.name, set())
        unique = {e.row: e for e in entries if e.name not in rejected}
        return list(unique.values())

    def match(self, left: ChecklistEntry) -> tuple[list[Candidate], str]:
        for stage in (self.latin, self.synonym, self.vernacular, self.higher_rank, self.gbif):
            found = stage(left)
            if found:
                return found, "ambiguous" if len(found) > 1 else found[0].kind
        return [], "none"

    def latin(self, left: ChecklistEntry) -> list[Candidate]:
        parsed = left.parsed
        if not parsed.genus or "genus_abbreviated" in parsed.flags:
            return []
        exact = self.allowed(left, self.right.by_exact.get(parsed.exact_key, ()))
        if exact:
            return self.settle(left, [_same_canonical(left, e) for e in exact])
        stem = self.allowed(left, self.right.by_stem.get(parsed.stem_key, ()))
        variants = [c for e in stem if (c := _variant(left, e))]
        if variants:
            return self.settle(left, variants)
        if parsed.epithets and parsed.hybrid != "formula":
            fuzzy = self.settle(left, self.fuzzy(left))
            if fuzzy:
                return fuzzy
        if parsed.is_autonym:
            return self.higher_rank(left)
        return []

    def crosscheck(
        self, left: ChecklistEntry, found: list[Candidate], kind: str
    ) -> tuple[list[Candidate], str]:
        """A loose Latin match whose vernacular names point elsewhere becomes ambiguous.

        'Alocasia macrorrhiza' [海芋] spells like 'Alocasia macrorrhizos' [热亚海芋] while
        Flora of China calls 'Alocasia odora' 海芋: a misapplied name or a new concept; the
        curator decides.
        """
        weak = kind in ("variant", "fuzzy") or (kind == "canonical" and found[0].confidence < 0.8)
        if len(found) != 1 or not weak or shared(left.zh, found[0].entry.zh, "zh"):
            return found, kind
        others = [c for c in self.vernacular(left) if c.entry.row != found[0].entry.row]
        if not others:
            return found, kind
        for other in others:
            other.evidence.append(f"the Latin name matches {found[0].entry.name} instead")
        found[0].evidence.append(
            "the vernacular name points to " + ", ".join(o.entry.name for o in others)
        )
        return [found[0], *others], "ambiguous"

    def fuzzy(self, left: ChecklistEntry) -> list[Candidate]:
        """Misspelt epithets in the same genus, then in genera the names moved to."""
        genus, _, epithets = left.parsed.stem_key.partition(" ")
        found = self.fuzzy_in(left, genus, epithets)
        for other in sorted(self.linked_genera.get(left.parsed.genus, ())):
            if not found:
                found = self.fuzzy_in(left, genus_key(other), epithets)
                links = self.genus_links[(left.parsed.genus, other)]
                for candidate in found:
                    candidate.evidence.append(
                        f"in {other}, where {links} {left.parsed.genus} names moved"
                    )
        if not found and len(genus) >= constants.RECONCILE_FUZZY_MIN_GENUS_LETTERS:
            # A genus misspelt by one letter, epithets identical (Trewia / Trevia).
            for entry in self.allowed(left, self.right.by_epithets.get(epithets, ())):
                other = genus_key(entry.parsed.genus)
                if other[:1] == genus[:1] and Levenshtein.distance(genus, other) == 1:
                    note = f"genus {left.parsed.genus} / {entry.parsed.genus}: 1 edit"
                    if genus_fix := _fuzzy(left, entry, 1, [note]):
                        found.append(genus_fix)
        if len(found) > 1:
            best = min(c.edit_distance or 0 for c in found)
            found = [c for c in found if c.edit_distance == best]
        return found

    def fuzzy_in(self, left: ChecklistEntry, genus: str, epithets: str) -> list[Candidate]:
        pool = self.allowed(left, self.right.by_genus.get(genus, ()))
        choices = [e.parsed.stem_key.partition(" ")[2] for e in pool]
        found = []
        for _, _, position in process.extract(
            epithets, choices, scorer=OSA.distance, limit=None,
            score_cutoff=constants.RECONCILE_FUZZY_MAX_EDITS,
        ):  # fmt: skip
            entry = pool[position]
            edits = epithet_edits(left.parsed, entry.parsed,
                                  constants.RECONCILE_FUZZY_LONG_EPITHET,
                                  constants.RECONCILE_FUZZY_MAX_EDITS)  # fmt: skip
            if edits and (candidate := _fuzzy(left, entry, *edits)):
                found.append(candidate)
        return found

    def synonym(self, left: ChecklistEntry) -> list[Candidate]:
        found = []
        if left.accepted:  # the left list links this name to its accepted name
            target = parse_name(left.accepted).exact_key
            for entry in self.allowed(left, self.right.by_exact.get(target, ())):
                note = f"left list: synonym of {left.accepted}"
                found.append(Candidate(entry, "synonym", CONFIDENCE["synonym link"], [note]))
        if not found and self.reference is not None:
            found = self.through_reference(left, self.reference)
        if not found and left.parsed.epithets and left.authorship:
            last = stem_epithet(left.parsed.epithets[-1])
            bucket = (last, original_initial(left.authorship))
            pool = self.allowed(left, self.right.by_last_epithet.get(bucket, ()))
            for entry in pool:
                link = _basionym_link(left, entry)
                pair = (left.parsed.genus, entry.parsed.genus)
                contested = entry.row in self.claimed or self.basionym_links[entry.row] > 1
                if link and (c := _homotypic(left, entry, link, self.genus_links[pair], contested)):
                    found.append(c)
        return self.settle(left, found)

    def count_genus_links(self, lefts: Iterable[ChecklistEntry]) -> None:
        """Count genus transfers the lists show: basionym links and shared Chinese names
        between names with one epithet, each left name counted once per genus pair."""
        for left in lefts:
            if not left.parsed.epithets:
                continue
            last = stem_epithet(left.parsed.epithets[-1])
            pairs = set()
            for entry in self.right.by_last_epithet.get(
                (last, original_initial(left.authorship)), ()
            ):
                if _basionym_link(left, entry):
                    pairs.add((left.parsed.genus, entry.parsed.genus))
                    self.basionym_links[entry.row] += 1
            for key in keys(left.zh, "zh"):
                for entry in self.right.by_zh.get(key, ()):
                    ep = entry.parsed.epithets
                    if ep and stem_epithet(ep[-1]) == last:
                        pairs.add((left.parsed.genus, entry.parsed.genus))
            for pair in pairs:
                if pair[0] != pair[1]:
                    self.genus_links[pair] += 1
        for (left_genus, right_genus), count in self.genus_links.items():
            if count >= constants.RECONCILE_GENUS_TRANSFER_MIN_LINKS:
                self.linked_genera.setdefault(left_genus, set()).add(right_genus)

    def through_reference(self, left: ChecklistEntry, reference: Index) -> list[Candidate]:
        """Both names lead to one accepted name in the reference list."""
        found = []
        for ref in reference.by_exact.get(left.parsed.exact_key, ()):
            accepted = reference.accepted_of(ref)
            targets = {accepted.parsed.exact_key}
            targets |= {e.parsed.exact_key for e in reference.synonyms.get(accepted.name, ())}
            for target in targets - {left.parsed.exact_key}:
                for entry in self.allowed(left, self.right.by_exact.get(target, ())):
                    note = f"reference list: {ref.name} -> accepted {accepted.name}"
                    found.append(Candidate(entry, "synonym", CONFIDENCE["synonym link"], [note]))
        return found

    def vernacular(self, left: ChecklistEntry) -> list[Candidate]:
        found: list[Candidate] = []
        for language, index in (("zh", self.right.by_zh), ("vi", self.right.by_vi)):
            pool = [
                e for key in keys(getattr(left, language), language) for e in index.get(key, ())
            ]
            for entry in self.allowed(left, pool):
                candidate = _vernacular(left, entry, language, self.claimed.get(entry.row))
                if candidate is not None:
                    found.append(candidate)
            if found:
                break
        found = _without_autonyms(found)
        if len(found) > 1:  # keep the best supported: same genus or epithet beats neither
            best = max(c.confidence for c in found)
            found = [c for c in found if c.confidence >= best]
        if len(found) == 1:
            found = [_as_transfer(found[0], left)]
        return found

    def higher_rank(self, left: ChecklistEntry) -> list[Candidate]:
        parsed = left.parsed
        if len(parsed.epithets) >= 2:
            species_name = parse_name(f"{parsed.genus} {parsed.epithets[0]}")
            species = self.allowed(left, self.right.by_exact.get(species_name.exact_key, ()))
            if not species:  # the species part spelt another way ('bryoniaefolia')
                species = self.allowed(left, self.right.by_stem.get(species_name.stem_key, ()))
            if len(species) == 1:
                kind = "higher autonym" if parsed.is_autonym else "higher species"
                note = (
                    "autonym: the typical infraspecific taxon of"
                    if parsed.is_autonym
                    else "only the species is in the right list:"
                )
                evidence = [f"{note} {species[0].name}"]
                return [Candidate(species[0], "higher_rank", CONFIDENCE[kind], evidence)]
        if parsed.epithets:
            rows = [
                e
                for e in self.right.by_exact.get(parsed.genus.lower(), ())
                if not e.parsed.epithets
            ]
            rows = self.allowed(left, rows)
            if len(rows) == 1:
                evidence = [f"only the genus {parsed.genus} is in the right list"]
                return [Candidate(rows[0], "higher_rank", CONFIDENCE["higher genus"], evidence)]
        return []

    def gbif(self, left: ChecklistEntry) -> list[Candidate]:
        """Ask GBIF's backbone for a name neither list resolves; follow its accepted name."""
        if self.gbif_matcher is None or not left.parsed.genus:
            return []
        try:
            answer = self.gbif_matcher(left.name) or {}
        except Exception as exc:  # a failed lookup must not fail the whole crosswalk
            self.notes[left.name] = f"GBIF lookup failed: {exc}"
            return []
        # v2 answers carry `usage`, `acceptedUsage`, `diagnostics`; v1 answers are flat and
        # give the accepted species of a synonym in `species`.
        usage = answer.get("usage") or answer
        accepted = answer.get("acceptedUsage") or {}
        diagnostics = answer.get("diagnostics") or answer
        status = (usage.get("status") or answer.get("status") or "").upper()
        if accepted:
            name = accepted.get("canonicalName") or accepted.get("name") or ""
        elif status == "SYNONYM":  # v1: the accepted taxon's species, the best it gives
            name = answer.get("species") or ""
        else:
            name = usage.get("canonicalName") or answer.get("species") or ""
        match_type = diagnostics.get("matchType", "NONE")
        if not name or match_type in ("NONE", "HIGHERRANK"):
            return []
        confidence = min(0.9, float(diagnostics.get("confidence") or 0) / 100)
        note = f"GBIF backbone: {left.name} -> {name} ({match_type}, {status or 'status ?'})"
        targets = self.right.by_exact.get(parse_name(name).exact_key, ())
        # GBIF either resolves a synonym or corrects a spelling our stages did not accept.
        found = [
            Candidate(e, "synonym", confidence, [note])
            if status == "SYNONYM"
            else Candidate(e, "fuzzy", confidence, [note],
                           Levenshtein.distance(left.parsed.exact_key, e.parsed.exact_key))
            for e in self.allowed(left, targets)
        ]  # fmt: skip
        if not found:
            self.notes[left.name] = f"{note}, which the right list does not hold"
            self.accepted_elsewhere[left.name] = name
        return found

    def settle(self, left: ChecklistEntry, found: list[Candidate]) -> list[Candidate]:
        """Several candidates: authorship, then vernacular names, may pick one."""
        found = _without_autonyms(found)
        if len(found) <= 1:
            return found
        for what in ("authorship", "vernacular name"):
            if what == "authorship":
                scores = [_authors(left, c.entry)[1] or 0.0 for c in found]
            else:
                scores = [float(bool(shared(left.zh, c.entry.zh, "zh"))) for c in found]
            best = max(scores)
            if best > 0 and scores.count(best) == 1:
                chosen = found[scores.index(best)]
                chosen.evidence.append(f"chosen by {what} among {len(found)} candidates")
                return [chosen]
        return found


def _add_curator_note(candidate: Candidate, left: ChecklistEntry, decisions: Decisions) -> None:
    note = decisions.notes.get((left.name, candidate.entry.name), "")
    if note:
        candidate.evidence.append(f"curator note: {note}")


def reconcile(
    left: pa.Table,
    right: pa.Table,
    decisions: Decisions | None = None,
    gbif_matcher: GbifMatcher | None = None,
    reference: pa.Table | None = None,
    labels: tuple[str, str] = ("left", "right"),
) -> Crosswalk:
    """Crosswalk between two checklists (any table `checklists.from_table` accepts).

    Args:
        decisions: curator decisions; they win over the algorithm for the names they name.
        gbif_matcher: name -> GBIF species-match answer (v1 or v2 shape), called only for
            names no list resolves.
        reference: a third checklist whose accepted-name links may join the two lists.
        labels: how the `*_source` columns name the left and right lists.
    """
    decisions = decisions or Decisions()
    left_entries = entries(from_table(left))
    right_index = Index(entries(from_table(right)))
    reference_index = Index(entries(from_table(reference))) if reference is not None else None
    reconciler = Reconciler(right_index, reference_index, decisions, gbif_matcher)
    results: dict[int, tuple[list[Candidate], str]] = {}
    for entry in left_entries:  # exact matches first: the vernacular stage needs `claimed`
        found = reconciler.latin(entry)
        if len(found) == 1 and found[0].kind in ("exact", "canonical"):
            results[entry.row] = (found, found[0].kind)
            reconciler.claimed.setdefault(found[0].entry.row, entry.name)
    reconciler.count_genus_links(e for e in left_entries if e.row not in results)
    rows: list[dict] = []
    matched: set[int] = set()
    for entry in left_entries:
        decided_by = "algorithm"
        if entry.name in decisions.chosen:
            chosen = right_index.find(decisions.chosen[entry.name])
            candidates = [_classify_pair(entry, chosen)] if chosen else []
            for candidate in candidates:
                _add_curator_note(candidate, entry, decisions)
            kind, decided_by = (candidates[0].kind if chosen else "none"), "curator"
        else:
            candidates, kind = results.get(entry.row) or reconciler.match(entry)
            if candidates:
                candidates, kind = reconciler.crosscheck(entry, candidates, kind)
            accepted = decisions.accepted.get(entry.name, set())
            picked = [c for c in candidates if c.entry.name in accepted]
            if picked:  # an accepted candidate, even one of several, settles the name
                candidates, kind, decided_by = picked[:1], picked[0].kind, "curator"
                picked[0].confidence = 1.0
                _add_curator_note(picked[0], entry, decisions)
        for candidate in candidates:
            matched.add(candidate.entry.row)
        rows += left_rows(
            entry,
            candidates,
            kind,
            decided_by,
            right_index.accepted_of,
            reconciler.notes.get(entry.name, ""),
            decisions,
            reconciler.accepted_elsewhere.get(entry.name, ""),
        )
    for entry in right_index.entries:
        if entry.row not in matched:
            own = right_index.accepted_of(entry).name
            evidence = ["no counterpart in the left list"]
            rows.append(crosswalk_row(None, entry, "none", 0.0, evidence, None, own, "algorithm"))
    table = pa.Table.from_pylist(rows, schema=CROSSWALK_SCHEMA)
    return Crosswalk(with_names(table, *labels))


def reconcile_files(
    left: str, right: str, out_dir: Path, decisions_path: Path | None = None
) -> Crosswalk:
    """What `fednode reconcile LEFT RIGHT -o DIR` runs: load, reconcile, write, return."""
    decisions = review.load_decisions(decisions_path) if decisions_path else None
    labels = (Path(left).name, Path(right).name)
    crosswalk = reconcile(load_checklist(left), load_checklist(right), decisions, labels=labels)
    crosswalk.write(Path(out_dir))
    return crosswalk
