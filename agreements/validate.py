"""Validation of agreement documents: every problem found, each with its file and line.

Loading refuses anything enforcement could only guess at (unknown keys, terms, threat
categories or grids, malformed boxes, flows between unknown parties, contradictory scopes),
and lists all problems at once so an admin fixes them in one round.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
from pathlib import Path

from agreements.document import AgreementDocument
from agreements.extensions import EXTENSION_TERMS
from agreements.generalise import GRID_DEGREES
from agreements.model import (
    IUCN_CATEGORIES,
    PUBLIC,
    Agreement,
    Flow,
    NamesList,
    Party,
    RegionScope,
    SensitiveRule,
    TaxonScope,
    normalise_name,
)
from agreements.signing import canonical_document_bytes, public_key_from_text
from node.core.constants import NAMES_LIST_MAX_BYTES, PURPOSE_WORD
from node.core.errors import InvalidAgreement
from node.core.terms import KNOWN_TERMS
from node.core.tomllines import TomlLines as _Lines
from node.core.tomlschema import validate_toml

ACTIONS = ("generalise", "withhold")
# Darwin Core basisOfRecord vocabulary plus GBIF's older values, compared ignoring case
# and underscores so PRESERVED_SPECIMEN (GBIF API) equals PreservedSpecimen (DwC).
BASIS_OF_RECORD = (
    "PreservedSpecimen", "FossilSpecimen", "LivingSpecimen", "MaterialSample",
    "MaterialEntity", "MaterialCitation", "HumanObservation", "MachineObservation",
    "Observation", "Occurrence", "Event", "Taxon", "Literature", "Unknown",
)  # fmt: skip
# Never withheld or cleared: enforcement writes them, or (GBIF Data User Agreement) the
# identifier of ownership must stay with every record shared onward.
PROTECTED_TERMS = frozenset(
    {
        "occurrenceID", "institutionCode", "datasetID", "license", "rightsHolder",
        "bibliographicCitation", "informationWithheld", "dataGeneralizations",
        "coordinateUncertaintyInMeters", "coordinatePrecision",
    }
)  # fmt: skip
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
# Names lists shipped with fednode, named in agreements as `bundled:<file name>`.
BUNDLED_PREFIX = "bundled:"
BUNDLED_LISTS = Path(__file__).parent / "lists"
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_LICENCE = re.compile(r"^(CC0-1\.0|CC-BY(-NC)?(-SA|-ND)?-4\.0|https?://\S+)$")
_NAMEABLE_TERMS = KNOWN_TERMS | EXTENSION_TERMS
_TERMS_BY_LOWER = {t.lower(): t for t in _NAMEABLE_TERMS}


class _Checker:
    """Collects every problem with its line, so the admin fixes them in one round."""

    def __init__(self, text: str, source: str) -> None:
        self.lines = _Lines(text)
        self.source = source
        self.problems: list[tuple[int, str]] = []

    def fail(self, path: tuple[str | int, ...], message: str) -> None:
        line = self.lines.line(path)
        where = f"{self.source} line {line}" if line else self.source
        dotted = "".join(f"#{p + 1}" if isinstance(p, int) else f".{p}" for p in path)
        self.problems.append((line or 0, f"{where}: {dotted.lstrip('.') or 'document'}: {message}"))

    def text(
        self, table: dict, key: str, path: tuple[str | int, ...], required: bool = True
    ) -> str:
        value = table.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value.strip():
            self.fail((*path, key), "missing" if value is None else "must be non-empty text")
            return ""
        return value

    def texts(self, table: dict, key: str, path: tuple[str | int, ...]) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.fail((*path, key), "must be a list of non-empty text")
            return ()
        return tuple(value)

    def table(self, parent: dict, key: str, path: tuple[str | int, ...]) -> dict:
        value = parent.get(key, {})
        if not isinstance(value, dict):
            self.fail((*path, key), "must be a table")
            return {}
        return value

    def date(self, table: dict, key: str) -> dt.date:
        value = table.get(key)
        if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
            self.fail((key,), "must be a date written like 2026-01-01 (no quotes)")
            return dt.date.min
        return value

    def terms(self, table: dict, key: str, path: tuple[str | int, ...]) -> tuple[str, ...]:
        terms = self.texts(table, key, path)
        for term in terms:
            if term in PROTECTED_TERMS:
                self.fail((*path, key), f"{term} cannot be withheld or cleared")
            elif term not in _NAMEABLE_TERMS:
                hint = _TERMS_BY_LOWER.get(term.lower())
                suggestion = f" (did you mean {hint}?)" if hint else ""
                self.fail((*path, key), f"'{term}' is not a Darwin Core term{suggestion}")
        return terms


def build_agreement(
    document: dict,
    text: str,
    source: str,
    known_datasets: set[str] | None,
    own_party: str | None,
    base_dir: Path | None,
) -> Agreement:
    """The Agreement for a parsed document, or InvalidAgreement listing every problem.

    Types and keys first (agreements.document, strict pydantic, every problem with its
    line); then what the values mean, on a document of the right shape.
    """
    validate_toml(AgreementDocument, document, text=text, source=source, error=InvalidAgreement)
    checker = _Checker(text, source)
    agreement = _agreement(checker, document, known_datasets, own_party, base_dir)
    if checker.problems:
        raise InvalidAgreement("\n".join(m for _, m in sorted(checker.problems)))
    return agreement


def names_list_path(base_dir: Path | None, relative: str) -> Path | None:
    """Where a names list is: `bundled:<name>` is one shipped with fednode
    (agreements/lists/<name>.csv), anything else a path beside the agreement."""
    if relative.startswith(BUNDLED_PREFIX):
        name = relative.removeprefix(BUNDLED_PREFIX)
        return BUNDLED_LISTS / f"{name}.csv" if _ID.match(name) else None
    return (base_dir / relative) if base_dir else None


def read_names_list(
    base_dir: Path | None, relative: str, pinned_sha256: str, categories: tuple[str, ...] = ()
) -> NamesList:
    """Load a pinned names list; a missing file or another hash is kept as a `problem`.

    One name per line, or CSV with a `scientificName` column (and, to select by
    `categories`, a `category` column whose cells may list several, `priority;IA`);
    `#` starts a comment line.
    """
    path = names_list_path(base_dir, relative)
    if path is None or not path.is_file():
        problem = f"names list {relative} not found"
        return NamesList(relative, pinned_sha256, problem=problem, categories=categories)
    data = path.read_bytes()[: NAMES_LIST_MAX_BYTES + 1]
    if len(data) > NAMES_LIST_MAX_BYTES:
        problem = f"names list {relative} is too large"
        return NamesList(relative, pinned_sha256, problem=problem, categories=categories)
    actual = hashlib.sha256(data).hexdigest()
    if actual != pinned_sha256.lower():
        problem = (
            f"names list {relative} has sha256 {actual}, the agreement pins {pinned_sha256}: "
            "the list changed since signing; restore it or sign a new version"
        )
        return NamesList(relative, pinned_sha256, problem=problem, categories=categories)
    try:
        names = _parse_names(data.decode("utf-8-sig"), categories)
    except (UnicodeDecodeError, ValueError) as exc:
        problem = f"names list {relative} cannot be read: {exc}"
        return NamesList(relative, pinned_sha256, problem=problem, categories=categories)
    return NamesList(relative, pinned_sha256, frozenset(names), categories=categories)


def _parse_names(text: str, categories: tuple[str, ...] = ()) -> set[str]:
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    rows = [row for row in csv.reader(lines) if row and row[0].strip()]
    header = [cell.strip().lower() for cell in rows[0]] if rows else []
    if "scientificname" not in header:
        if categories:
            raise ValueError("it has no scientificName and category columns to select from")
        return {_whole_group(normalise_name(row[0])) for row in rows}
    column = header.index("scientificname")
    wanted = {c.lower() for c in categories}
    if wanted and "category" not in header:
        raise ValueError("it has no category column to select categories from")
    kind = header.index("category") if wanted else -1
    names = set()
    for row in rows[1:]:
        if len(row) <= max(column, kind):
            continue
        if wanted and not wanted & {c.strip().lower() for c in row[kind].split(";")}:
            continue
        names.add(_whole_group(normalise_name(row[column])))
    return names


def _whole_group(name: str) -> str:
    """ "Paphiopedilum spp." and "Orchidaceae spp." name every species of the group."""
    words = name.split()
    return words[0] if len(words) == 2 and words[1] in {"spp.", "spp", "sp.", "sp"} else name


def _agreement(
    c: _Checker,
    document: dict,
    known_datasets: set[str] | None,
    own_party: str | None,
    base_dir: Path | None,
) -> Agreement:
    agreement_id = c.text(document, "id", ())
    if agreement_id and not _ID.match(agreement_id):
        c.fail(("id",), "use lower-case letters, digits, '.', '_', '-' (it names files and URLs)")
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        c.fail(("version",), "must be a whole number from 1, raised on every change")
        version = 0
    valid_from, valid_until = c.date(document, "valid_from"), c.date(document, "valid_until")
    if dt.date.min not in (valid_from, valid_until) and valid_until < valid_from:
        c.fail(("valid_until",), f"{valid_until} is before valid_from {valid_from}")
    parties = []
    for party_id, raw in c.table(document, "parties", ()).items():
        path: tuple[str | int, ...] = ("parties", party_id)
        if not isinstance(raw, dict):
            c.fail(path, "must be a table [parties.<id>] with name, url and key")
            continue
        if party_id == PUBLIC or not _ID.match(party_id):
            c.fail(path, f"'{party_id}' cannot name a party")
        name, url, key = (c.text(raw, field, path) for field in ("name", "url", "key"))
        try:
            public_key_from_text(key)
        except ValueError as exc:
            c.fail((*path, "key"), str(exc))
        parties.append(Party(party_id, name, url, key))
    if not parties:
        c.fail(("parties",), "an agreement needs at least one [parties.<id>] table")
    raw_flows = document.get("flows", [])
    if not isinstance(raw_flows, list) or not all(isinstance(f, dict) for f in raw_flows):
        c.fail(("flows",), "must be [[flows]] tables")
        raw_flows = []
    party_ids = {p.id for p in parties}
    flows = tuple(
        _flow(c, raw, i, party_ids, known_datasets, own_party, base_dir)
        for i, raw in enumerate(raw_flows)
    )
    _check_overlaps(c, flows)
    signatures = []
    for party_id, value in c.table(document, "signatures", ()).items():
        if party_id not in party_ids:
            c.fail(("signatures", party_id), "signature of a party the agreement does not name")
        elif not isinstance(value, str):
            c.fail(("signatures", party_id), "must be base64 text")
        else:
            signatures.append((party_id, value))
    return Agreement(
        agreement_id, version, c.text(document, "title", ()), valid_from, valid_until,
        tuple(parties), flows, tuple(signatures), canonical_document_bytes(document), c.source,
    )  # fmt: skip


def _flow(
    c: _Checker,
    raw: dict,
    i: int,
    party_ids: set[str],
    known_datasets: set[str] | None,
    own_party: str | None,
    base_dir: Path | None,
) -> Flow:
    path: tuple[str | int, ...] = ("flows", i)
    from_party, to_party = c.text(raw, "from", path), c.text(raw, "to", path)
    if from_party and from_party not in party_ids:
        c.fail((*path, "from"), f"'{from_party}' is not one of the parties {sorted(party_ids)}")
    if to_party and to_party not in party_ids | {PUBLIC}:
        c.fail((*path, "to"), f"'{to_party}' is neither a party nor \"{PUBLIC}\"")
    if from_party and from_party == to_party:
        c.fail((*path, "to"), "a flow goes from one party to another")
    datasets = c.texts(raw, "datasets", path)
    if known_datasets is not None and own_party in (None, from_party):
        for dataset in sorted(set(datasets) - known_datasets):
            c.fail((*path, "datasets"), f"unknown dataset '{dataset}'")
    licence = c.text(raw, "licence", path)
    if licence and not _LICENCE.match(licence):
        c.fail((*path, "licence"), "use CC0-1.0, CC-BY-4.0, CC-BY-NC-4.0 (or -SA/-ND) or a URL")
    raw_taxa, raw_region = c.table(raw, "taxa", path), c.table(raw, "region", path)
    taxa = TaxonScope(
        c.texts(raw_taxa, "include", (*path, "taxa")),
        c.texts(raw_taxa, "exclude", (*path, "taxa")),
    )
    both = {normalise_name(n) for n in taxa.include} & {normalise_name(n) for n in taxa.exclude}
    for name in sorted(both):
        c.fail((*path, "taxa"), f"'{name}' is both included and excluded")
    countries = c.texts(raw_region, "countries", (*path, "region"))
    for country in countries:
        if not _COUNTRY.match(country):
            c.fail((*path, "region", "countries"), f"'{country}' is not an ISO 3166 code like CN")
    purposes = c.texts(raw, "purposes", path)
    for purpose in purposes:
        if not PURPOSE_WORD.match(purpose):
            # Requests declare one lower-case word; anything else could never be matched.
            c.fail((*path, "purposes"), f"'{purpose}' is not one lower-case word like research")
    basis = c.texts(raw, "basis_of_record", path)
    known_basis = {_basis_key(b) for b in BASIS_OF_RECORD}
    for value in basis:
        if _basis_key(value) not in known_basis:
            c.fail((*path, "basis_of_record"), f"'{value}' is not a basisOfRecord value")
    embargo = raw.get("embargo_days")
    if embargo is not None and (
        not isinstance(embargo, int) or isinstance(embargo, bool) or embargo < 0
    ):
        c.fail((*path, "embargo_days"), "must be a whole number of days, 0 or more")
        embargo = None
    raw_rules = raw.get("sensitive", [])
    if not isinstance(raw_rules, list) or not all(isinstance(r, dict) for r in raw_rules):
        c.fail((*path, "sensitive"), "must be [[flows.sensitive]] tables")
        raw_rules = []
    return Flow(
        index=i + 1,
        from_party=from_party,
        to_party=to_party,
        datasets=datasets,
        licence=licence,
        attribution=c.text(raw, "attribution", path),
        purposes=purposes,
        taxa=taxa,
        region=RegionScope(countries, _bbox(c, raw_region, (*path, "region", "bbox"))),
        basis_of_record=basis,
        embargo_days=embargo,
        withhold=c.terms(raw, "withhold", path),
        sensitive=tuple(
            _rule(c, r, (*path, "sensitive", j), j, base_dir) for j, r in enumerate(raw_rules)
        ),
        keep=c.terms(raw, "keep", path),
        opaque_ids=_flag(c, raw, "opaque_ids", path),
    )


def _flag(c: _Checker, table: dict, key: str, path: tuple[str | int, ...]) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        c.fail((*path, key), f"must be true or false (no quotes), not {value!r}")
        return False
    return value


def _basis_key(value: str) -> str:
    return value.replace("_", "").replace(" ", "").lower()


def _bbox(
    c: _Checker, region: dict, path: tuple[str | int, ...]
) -> tuple[float, float, float, float] | None:
    value = region.get("bbox")
    if value is None:
        return None
    numbers = [v for v in value if isinstance(v, int | float) and not isinstance(v, bool)]
    if not isinstance(value, list) or len(value) != 4 or len(numbers) != 4:
        c.fail(path, "must be four numbers [minLon, minLat, maxLon, maxLat]")
        return None
    min_lon, min_lat, max_lon, max_lat = (float(v) for v in numbers)
    if not (-180 <= min_lon <= max_lon <= 180):
        c.fail(path, "longitudes must satisfy -180 <= minLon <= maxLon <= 180 (split a box "
               "that crosses the antimeridian into two flows)")  # fmt: skip
    if not (-90 <= min_lat <= max_lat <= 90):
        c.fail(path, "latitudes must satisfy -90 <= minLat <= maxLat <= 90")
    return min_lon, min_lat, max_lon, max_lat


def _rule(
    c: _Checker, raw: dict, path: tuple[str | int, ...], j: int, base_dir: Path | None
) -> SensitiveRule:
    threat = tuple(t.upper() for t in c.texts(raw, "threat", path))
    for category in threat:
        if category not in IUCN_CATEGORIES:
            c.fail((*path, "threat"), f"'{category}' is not an IUCN category {IUCN_CATEGORIES}")
    action = c.text(raw, "action", path)
    if action and action not in ACTIONS:
        c.fail((*path, "action"), f"'{action}' is not one of {ACTIONS}")
    grid = raw.get("grid_degrees")
    clear = c.terms(raw, "clear", path)
    if action == "generalise" and grid not in GRID_DEGREES:
        c.fail((*path, "grid_degrees"), f"{grid} is not one of {GRID_DEGREES} (Chapman 2020)")
        grid = GRID_DEGREES[0]
    if action == "withhold" and (grid is not None or clear):
        c.fail((*path, "action"), "a withheld record is dropped: grid_degrees and clear "
               "have no effect; remove them or generalise instead")  # fmt: skip
    names_path, pinned = c.text(raw, "names", path, False), c.text(raw, "names_sha256", path, False)
    categories = c.texts(raw, "categories", path)
    names = None
    if categories and not names_path:
        c.fail((*path, "categories"), "categories select names from a list: add names = ...")
    if bool(names_path) != bool(pinned):
        c.fail((*path, "names"), "names and names_sha256 go together: the hash pins the list")
    elif names_path and not _SHA256.match(pinned):
        c.fail((*path, "names_sha256"), "must be 64 hexadecimal digits")
    elif names_path.startswith(BUNDLED_PREFIX) and not names_list_path(None, names_path):
        bundled = sorted(p.stem for p in BUNDLED_LISTS.glob("*.csv"))
        c.fail((*path, "names"), f"no bundled list {names_path!r} (bundled: {bundled})")
    elif names_path and (Path(names_path).is_absolute() or ".." in Path(names_path).parts):
        c.fail((*path, "names"), "must be a path relative to the agreement's folder")
    elif names_path:
        names = read_names_list(base_dir, names_path, pinned, categories)
    return SensitiveRule(j + 1, threat, names, action, grid, clear)


def _check_overlaps(c: _Checker, flows: tuple[Flow, ...]) -> None:
    """One flow per dataset and direction, so which rules apply is never ambiguous."""
    for later in flows:
        for earlier in flows[: later.index - 1]:
            if (earlier.from_party, earlier.to_party) != (later.from_party, later.to_party):
                continue
            for dataset in sorted(set(earlier.datasets) & set(later.datasets)):
                message = f"'{dataset}' is already granted by flow #{earlier.index}: merge them"
                c.fail(("flows", later.index - 1, "datasets"), message)
