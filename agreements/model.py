"""The sharing agreement: a signed TOML document, validated on load into frozen dataclasses.

Loading refuses, with every problem listed at once, anything enforcement could only guess
at: unknown keys, terms, threat categories or grids, malformed boxes, flows between
unknown parties, contradictory scopes. An agreement that loads may still share nothing:
`Agreement.status` says whether it is signed by all parties, in force and untampered.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from agreements.signing import verify_signatures
from agreements.threat import CATEGORIES

PUBLIC = "public"  # the `to` of a flow anyone may receive, signed request or not
# IUCN Red List categories (3.1) and RE (regional lists), the most severe first.
IUCN_CATEGORIES = CATEGORIES


def normalise_name(text: str) -> str:
    """How names compare everywhere in agreements: case, spacing and Unicode form ignored."""
    return " ".join(unicodedata.normalize("NFC", text).split()).lower()


@dataclass(frozen=True)
class Party:
    id: str
    name: str
    url: str
    key: str  # "ed25519:<base64 raw public key>"


@dataclass(frozen=True)
class TaxonScope:
    include: tuple[str, ...] = ()  # empty: every taxon
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class RegionScope:
    countries: tuple[str, ...] = ()  # empty: any country
    bbox: tuple[float, float, float, float] | None = None  # minLon, minLat, maxLon, maxLat


@dataclass(frozen=True)
class NamesList:
    """A pinned list of names; `problem` is set when the file is missing or its hash differs.

    `categories` narrows a list that has a `category` column (Vietnam's decree groups IA,
    IIA, priority) to the names in those categories.
    """

    path: str
    sha256: str
    names: frozenset[str] = frozenset()  # normalised with normalise_name
    problem: str | None = None
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class SensitiveRule:
    """Matches a record whose threat category is listed OR whose name is on the list.

    Either trigger suffices (more matches is the safe side); a rule with neither matches
    every record of its flow, e.g. to generalise everything sent to the public.
    """

    index: int  # 1-based position within its flow, for messages
    threat: tuple[str, ...]
    names: NamesList | None
    action: str  # "generalise" or "withhold"
    grid_degrees: float | None
    clear: tuple[str, ...]

    @property
    def level(self) -> int:
        """Restrictiveness: withhold (4) > 0.1 (3) > 0.01 (2) > 0.001 (1)."""
        if self.action == "withhold":
            return 4
        return {0.1: 3, 0.01: 2, 0.001: 1}[self.grid_degrees or 0.1]

    def describe(self) -> str:
        triggers = []
        if self.threat:
            triggers.append("threat category " + ", ".join(self.threat))
        if self.names:
            within = f" ({', '.join(self.names.categories)})" if self.names.categories else ""
            triggers.append(f"listed in {self.names.path}{within}")
        when = " or ".join(triggers) or "every record"
        then = "withhold the record"
        if self.action == "generalise":
            then = f"generalise coordinates to {self.grid_degrees} degrees"
            if self.clear:
                then += "; clear " + ", ".join(self.clear)
        return f"sensitive #{self.index}: {when} -> {then}"


@dataclass(frozen=True)
class Flow:
    index: int  # 1-based position in the document
    from_party: str
    to_party: str  # a party id or PUBLIC
    datasets: tuple[str, ...]
    licence: str
    attribution: str
    purposes: tuple[str, ...] = ()
    taxa: TaxonScope = TaxonScope()
    region: RegionScope = RegionScope()
    basis_of_record: tuple[str, ...] = ()  # empty: any basis of record
    embargo_days: int | None = None
    withhold: tuple[str, ...] = ()
    sensitive: tuple[SensitiveRule, ...] = ()
    keep: tuple[str, ...] = ()  # terms a generalised record keeps beyond the allow-list
    opaque_ids: bool = False  # replace record ids by per-agreement pseudonyms

    @property
    def label(self) -> str:
        return f"flow #{self.index} {self.from_party} -> {self.to_party}"

    @property
    def problem(self) -> str | None:
        """Why this flow cannot be enforced as signed (a pinned names list that is missing
        or changed), or None. Only the sending node needs the lists of its own flows, so a
        problem voids this flow alone, never the other direction."""
        for rule in self.sensitive:
            if rule.names and rule.names.problem:
                return f"{self.label}: {rule.names.problem}"
        return None

    def allows_purpose(self, purpose: str | None) -> bool:
        """Whether a request declaring `purpose` (None: none) may use this flow."""
        return not self.purposes or purpose in self.purposes


class Status(StrEnum):
    ACTIVE = "active"
    AWAITING_SIGNATURE = "awaiting signature"
    NOT_YET_VALID = "not yet valid"
    EXPIRED = "expired"
    TAMPERED = "tampered"
    UNTRUSTED = "untrusted keys"


@dataclass(frozen=True)
class AgreementState:
    status: Status
    reason: str  # a sentence for the admin
    awaiting: tuple[str, ...] = ()  # parties whose signature is missing

    @property
    def active(self) -> bool:
        return self.status is Status.ACTIVE


@dataclass(frozen=True)
class Agreement:
    id: str
    version: int
    title: str
    valid_from: dt.date
    valid_until: dt.date
    parties: tuple[Party, ...]
    flows: tuple[Flow, ...]
    signatures: tuple[tuple[str, str], ...]  # (party id, base64 signature)
    canonical: bytes = field(repr=False)  # RFC 8785 bytes every party signs
    source: str = "agreement"

    @property
    def ref(self) -> str:
        """The `id@version` (e.g. gxib-vnmn@3) that every export and record cites."""
        return f"{self.id}@{self.version}"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.canonical).hexdigest()

    def party(self, party_id: str) -> Party | None:
        return next((p for p in self.parties if p.id == party_id), None)

    def signature(self, party_id: str) -> str | None:
        return next((s for p, s in self.signatures if p == party_id), None)

    def flows_between(self, from_party: str, to_party: str) -> tuple[Flow, ...]:
        return tuple(f for f in self.flows if (f.from_party, f.to_party) == (from_party, to_party))

    def flow_for(self, from_party: str, to_party: str, dataset_id: str) -> Flow | None:
        """The one flow granting this dataset in this direction (loading forbids two)."""
        flows = self.flows_between(from_party, to_party)
        return next((f for f in flows if dataset_id in f.datasets), None)

    def status(self, now: dt.datetime, verify: bool = True) -> AgreementState:
        """Whether enforcement may share anything under this agreement at `now`.

        Args:
            verify: check signatures; False only to preview a draft nobody signed yet.
        """
        signed = verify_signatures(self) if verify else {}
        tampered = sorted(p for p, ok in signed.items() if ok is False)
        if tampered:
            return AgreementState(
                Status.TAMPERED,
                f"the signature of {', '.join(tampered)} does not match this document: it "
                "was changed after signing or signed with another key; share nothing",
            )
        missing = tuple(p for p, ok in signed.items() if ok is None)
        if missing:
            return AgreementState(
                Status.AWAITING_SIGNATURE,
                f"awaiting the signature of {', '.join(missing)}",
                awaiting=missing,
            )
        today = now.date()
        if today < self.valid_from:
            return AgreementState(
                Status.NOT_YET_VALID, f"not valid before {self.valid_from.isoformat()}"
            )
        if today > self.valid_until:
            return AgreementState(Status.EXPIRED, f"expired after {self.valid_until.isoformat()}")
        return AgreementState(Status.ACTIVE, f"active until {self.valid_until.isoformat()}")


def render_template(
    own_party: Party,
    peer_party: Party,
    datasets: Sequence[str],
    today: dt.date | None = None,
) -> str:
    """A loadable draft an admin edits and both parties sign (`fednode agreement new`).

    It grants as little as a useful agreement can: the named datasets, one direction,
    threatened taxa generalised; every other line is there to be read and changed.
    """
    start = today or dt.date.today()
    until = start.replace(year=start.year + 3) - dt.timedelta(days=1)
    quoted = ", ".join(f'"{d}"' for d in datasets)

    def party(p: Party) -> str:
        return f'[parties.{p.id}]\nname = "{p.name}"\nurl = "{p.url}"\nkey = "{p.key}"\n'

    return f"""\
# Data-sharing agreement between {own_party.name} and {peer_party.name}.
# Deny by default: only what a [[flows]] table grants leaves a node. Edit, check with
# `fednode agreement check FILE`, then both parties run `fednode agreement sign FILE`.
# Any change after signing (comments aside) voids the signatures: raise `version`.
id = "{own_party.id}-{peer_party.id}"
version = 1
title = "{own_party.name} - {peer_party.name} data sharing"
valid_from = {start.isoformat()}
valid_until = {until.isoformat()}

# Each party's Ed25519 public key, as served at /.well-known/fednode.
{party(own_party)}
{party(peer_party)}
# What {own_party.id} sends to {peer_party.id}. Copy this table, swap from/to and name the
# peer's datasets for the other direction; use to = "public" for anyone.
[[flows]]
from = "{own_party.id}"
to = "{peer_party.id}"
datasets = [{quoted}]
licence = "CC-BY-NC-4.0"                 # CC0-1.0, CC-BY-4.0, CC-BY-NC-4.0: on every record
attribution = "{own_party.name}"          # rightsHolder where a record names none
purposes = ["research", "conservation"]
taxa = {{ include = [], exclude = [] }}     # names at any rank; empty include = all taxa
region = {{ countries = [] }}               # ISO codes; add bbox = [minLon, minLat, maxLon, maxLat]
basis_of_record = ["PreservedSpecimen", "HumanObservation"]
# embargo_days = 365                     # hold back records dated within this many days
withhold = ["recordedBy", "recordNumber"]    # replaced by a notice, named in informationWithheld

# Sensitive taxa (Chapman 2020): every matching rule applies, the most restrictive wins
# (withhold > 0.1 > 0.01 > 0.001 degrees). Threat comes from iucnRedListCategory or
# threatStatus, or the node's red list. Add names = "lists/x.csv" with names_sha256 to
# match a pinned list of names instead or as well.
[[flows.sensitive]]
threat = ["EX", "EW", "CR"]
action = "withhold"

[[flows.sensitive]]
threat = ["EN", "VU"]
action = "generalise"
grid_degrees = 0.1                       # 0.1, 0.01 or 0.001 degrees
clear = ["locality", "verbatimLocality", "verbatimCoordinates", "verbatimLatitude",
         "verbatimLongitude", "locationRemarks", "footprintWKT"]

[signatures]
"""
