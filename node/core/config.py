"""node.toml: the node's settings, declared as typed models and validated strictly on load.

The models below are the single source of truth for node.toml: loading validates against
them (pydantic, strict: a quoted `"false"` is not a boolean), and `fednode init`'s commented
file and the README's settings table are generated from their field descriptions
(`node.core.settings_doc`), so documentation cannot drift from what is accepted.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    PrivateAttr,
    Strict,
    StrictInt,
    StrictStr,
    model_validator,
)
from pydantic import StringConstraints as Text

from node.core import constants
from node.core.constants import PURPOSE_WORD
from node.core.dataset_languages import by_language, primary
from node.core.errors import ConfigError
from node.core.identity import public_key_from_text
from node.core.tomllines import TomlLines
from node.core.tomlschema import STRICT, refuse, validate_toml

CONFIG_FILE = "node.toml"
ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{1,62}$"
_ID = re.compile(r"[a-z0-9][a-z0-9_-]{1,62}")
DATASET_TYPES = ("occurrence", "checklist")
GBIF_METHODS = ("search", "download")
GBIF_FORMATS = ("SIMPLE_PARQUET", "DWCA")
DEFAULT_PURPOSE = "research"

Id = Annotated[StrictStr, Text(pattern=ID_PATTERN)]
Required = Annotated[StrictStr, Text(min_length=1)]
# A text given once per language (`title.vi = "..."`): node.dataset_languages.
LanguageTexts = dict[Literal["en", "zh", "vi"], Required]
# TOML has arrays, not tuples: the container may arrive as a list, its items stay strict.
Texts = Annotated[tuple[StrictStr, ...], Strict(False)]


def _public_key(text: str) -> str:
    try:
        public_key_from_text(text)
    except ValueError as exc:
        raise refuse(
            "public_key", f"an Ed25519 public key 'ed25519:<base64>' ({exc})", text
        ) from None
    return text


PublicKey = Annotated[StrictStr, AfterValidator(_public_key)]


class DatasetConfig(BaseModel):
    """One dataset this node publishes."""

    model_config = STRICT

    id: Id = Field(
        description="stable id, used in URLs and agreements", examples=["gxib-karst-flora"]
    )
    title: Required | LanguageTexts = Field(
        description="EML title; or one per language: `title.en`, `title.zh`, `title.vi`",
        examples=["Karst flora of Guangxi"],
    )
    type: Literal["occurrence", "checklist"] = Field(
        description="what a row of the source is", examples=["occurrence"]
    )
    source: Required = Field(
        description="CSV/TSV/XLSX or an existing DwC-A", examples=["sources/occurrences.csv"]
    )
    licence: Required = Field(
        description="`CC0-1.0`, `CC-BY-4.0`, `CC-BY-NC-4.0` (what GBIF indexes) or "
        "`GPL-2.0-only` (partners only)",
        examples=["CC-BY-NC-4.0"],
    )
    mapping: StrictStr | None = Field(
        default=None,
        description="column -> Darwin Core mapping file (`*.mapping.toml`)",
        examples=["sources/occurrences.mapping.toml"],
    )
    encoding: StrictStr | None = Field(
        None, description="source encoding; detected when absent", examples=["gb18030"]
    )
    drop: Texts = Field(
        default=(),
        description="columns or extension row types not to publish (as `publish --drop`)",
        examples=[["catalogueNotes", "Multimedia"]],
    )
    metadata: StrictStr | None = Field(
        default=None,
        description="the source's own EML (an IPT's eml.xml), merged into the published "
        "EML; an archive's own eml.xml is merged without it",
        examples=["sources/eml.xml"],
    )
    public: bool = Field(
        False, description="true: anyone may download it without an agreement", examples=[False]
    )
    abstract: StrictStr | LanguageTexts = Field(
        default="",
        description="EML abstract; or one per language, as for `title`",
        examples=["..."],
    )
    creator: StrictStr = Field(default="", description="EML creator", examples=["..."])
    contact_email: StrictStr = Field(default="", description="EML contact", examples=["..."])
    keywords: Texts = Field(
        default=(), description="EML keywords", examples=[["karst", "Gesneriaceae"]]
    )
    language: StrictStr = Field(
        "en", description="language of the dataset's text (ISO 639-1), for the EML", examples=["zh"]
    )
    _titles: dict[str, str] = PrivateAttr(default_factory=dict)
    _abstracts: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _texts_by_language(self) -> DatasetConfig:
        """Keep `title` and `abstract` plain text (English first) for every reader of one."""
        self._titles = by_language(self.title)
        self._abstracts = by_language(self.abstract)
        object.__setattr__(self, "title", primary(self._titles))
        object.__setattr__(self, "abstract", primary(self._abstracts))
        return self

    @property
    def titles(self) -> dict[str, str]:
        """Title by language code, in the order node.toml gives them."""
        return dict(self._titles)

    @property
    def abstracts(self) -> dict[str, str]:
        return dict(self._abstracts)


class PeerConfig(BaseModel):
    """A partner node to harvest."""

    model_config = STRICT

    id: Id = Field(description="the partner's node id", examples=["vnmn"])
    url: Required = Field(
        description="the partner's public base URL", examples=["https://node.vnmn.example"]
    )
    key: PublicKey = Field(
        description="the partner's pinned public key, `ed25519:<base64>`", examples=["ed25519:..."]
    )
    datasets: Texts = Field(
        (), description="datasets to harvest; empty: every dataset the peer shares with us"
    )
    schedule: StrictStr = Field(
        default="every 6h",
        description='`"every 30m"`, `"every 6h"`, `"every 1d"` or a crontab line `"0 3 * * *"`',
    )
    purpose: Annotated[StrictStr, Text(pattern=PURPOSE_WORD.pattern)] = Field(
        default=DEFAULT_PURPOSE,
        description="one lower-case word, declared (signed) on every request; the agreement's "
        "flow must list it",
    )


class IptConfig(BaseModel):
    """A GBIF IPT whose public resources are harvested from its RSS feed.

    An IPT signs nothing and has no agreement with this node: what it publishes is public
    data from that source, stored apart from partners' data and never treated as theirs.
    """

    model_config = STRICT

    id: Id = Field(
        description="a local id for the IPT, used as the records' source and in store paths",
        examples=["gxib-ipt"],
    )
    url: Required = Field(
        description="the IPT's base URL (its feed is `<url>/rss.do`); archives are fetched "
        "only from this origin",
        examples=["https://ipt.gxib.example/ipt"],
    )
    resources: Texts = Field(
        (), description="resource short names to harvest; empty: every resource in the feed"
    )
    schedule: StrictStr = Field(default="every 6h", description="when to harvest, as for peers")


class GbifQueryConfig(BaseModel):
    """A GBIF occurrence query to harvest."""

    model_config = STRICT

    name: Id = Field(
        description="the query's id, used in store paths", examples=["gx-gesneriaceae"]
    )
    predicate: dict[str, Any] = Field(
        description="GBIF occurrence search parameters",
        examples=[{"country": "CN", "stateProvince": "Guangxi", "family": "Gesneriaceae"}],
    )
    method: Literal["search", "download"] = Field(
        "search", description="`search` (under 100,000 records) or `download` (any size)"
    )
    schedule: StrictStr = Field(default="every 24h", description="when to harvest, as for peers")
    format: Literal["SIMPLE_PARQUET", "DWCA"] = Field(
        "SIMPLE_PARQUET", description="download format (download only)"
    )


class NodeSection(BaseModel):
    model_config = STRICT

    id: Id = Field(description="short lower-case id peers and agreements use for this node")
    name: Required = Field(description="the institution's name, shown to partners and in EML")
    country: StrictStr = Field(
        "", description="ISO 3166-1 alpha-2 code of the institution's country"
    )
    url: StrictStr = Field(
        default="",
        description="the public base URL partners use to reach this node; request signatures "
        "are bound to it",
    )
    contact_email: StrictStr = Field(
        default="", description="who to write to about this node's data"
    )


class ServerSection(BaseModel):
    model_config = STRICT

    host: StrictStr = Field(
        default="127.0.0.1",
        description="listen address; put a TLS reverse proxy in front for the internet",
    )
    port: Annotated[StrictInt, Field(ge=1, le=65535)] = Field(
        default=constants.DEFAULT_PORT, description="listen port"
    )
    trusted_proxies: Texts = Field(
        default=(),
        description="addresses or CIDRs of reverse proxies whose X-Forwarded-For, "
        "X-Forwarded-Proto and X-Forwarded-Host are believed; from anyone else they are ignored",
        examples=[["127.0.0.1", "::1"]],
    )
    max_connections: Annotated[StrictInt, Field(ge=16)] = Field(
        default=constants.MAX_CONNECTIONS,
        description="open client connections at most; lowered to stay below the process's "
        "file limit, with room left for the store and SQLite",
    )
    connections_per_client: Annotated[StrictInt, Field(ge=1)] = Field(
        default=constants.CONNECTIONS_PER_CLIENT,
        description="open connections at most from one address (trusted proxies exempt)",
    )
    anonymous_per_minute: Annotated[StrictInt, Field(ge=1)] = Field(
        default=constants.ANONYMOUS_RATE_LIMIT_PER_MIN,
        description="unsigned or unverified requests one address may make a minute (then 429)",
    )
    metrics_token: StrictStr = Field(
        default="",
        description="bearer token that opens /metrics to remote scrapers; empty: loopback only",
    )


class PublishingSection(BaseModel):
    model_config = STRICT

    versions_kept: Annotated[StrictInt, Field(ge=1)] = Field(
        default=constants.ARCHIVE_VERSIONS_KEPT,
        description="archive versions kept per dataset (older ones are deleted)",
    )


class GbifApiSection(BaseModel):
    model_config = STRICT

    url: StrictStr = Field(
        default=constants.GBIF_API_URL,
        description="GBIF API base URL; point at a mirror or a test server",
    )


class NodeFile(BaseModel):
    """node.toml as written: the layout of tables, each validated by its model."""

    model_config = STRICT

    node: NodeSection = Field(description="Who this node is.")
    server: ServerSection = Field(
        default=ServerSection(), description="Where the HTTP API listens."
    )
    publishing: PublishingSection = Field(
        default=PublishingSection(), description="Archive versions."
    )
    gbif_api: GbifApiSection = Field(default=GbifApiSection(), description="The GBIF API to use.")
    datasets: Annotated[tuple[DatasetConfig, ...], Strict(False)] = Field(
        (), description="One block per dataset this node publishes."
    )
    peers: Annotated[tuple[PeerConfig, ...], Strict(False)] = Field(
        default=(),
        description="One block per partner node to harvest (`fednode peer add` writes it; a "
        "running daemon schedules it within seconds).",
    )
    gbif: Annotated[tuple[GbifQueryConfig, ...], Strict(False)] = Field(
        (), description="One block per GBIF query to harvest."
    )
    ipt: Annotated[tuple[IptConfig, ...], Strict(False)] = Field(
        (),
        description="One block per GBIF IPT whose public resources are harvested "
        "(`fednode peer add --ipt URL` writes it).",
    )


_Declared = TypeVar("_Declared")


def _declared(
    items: Iterable[_Declared], wanted: str, key: Callable[[_Declared], str], what: str
) -> _Declared:
    """The one item of node.toml named `wanted`, or a ConfigError listing what is declared,
    so a typo on the command line is answered with the names that would have worked."""
    items = list(items)
    for item in items:
        if key(item) == wanted:
            return item
    known = ", ".join(key(item) for item in items) or "none"
    raise ConfigError(f"no {what} {wanted!r} in {CONFIG_FILE} (declared: {known})")


@dataclass(frozen=True)
class NodeConfig:
    home: Path
    id: str
    name: str
    country: str = ""
    url: str = ""
    contact_email: str = ""
    host: str = "127.0.0.1"
    port: int = constants.DEFAULT_PORT
    trusted_proxies: tuple[str, ...] = ()
    max_connections: int = constants.MAX_CONNECTIONS
    connections_per_client: int = constants.CONNECTIONS_PER_CLIENT
    anonymous_per_minute: int = constants.ANONYMOUS_RATE_LIMIT_PER_MIN
    metrics_token: str = field(default="", repr=False)
    gbif_api_url: str = constants.GBIF_API_URL
    archive_versions_kept: int = constants.ARCHIVE_VERSIONS_KEPT
    datasets: tuple[DatasetConfig, ...] = ()
    peers: tuple[PeerConfig, ...] = ()
    gbif: tuple[GbifQueryConfig, ...] = ()
    ipt: tuple[IptConfig, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def dataset(self, dataset_id: str) -> DatasetConfig:
        return _declared(self.datasets, dataset_id, lambda d: d.id, "dataset")

    def peer(self, peer_id: str) -> PeerConfig:
        return _declared(self.peers, peer_id, lambda p: p.id, "peer")

    def gbif_query(self, name: str) -> GbifQueryConfig:
        return _declared(self.gbif, name, lambda q: q.name, "GBIF query")

    def ipt_source(self, ipt_id: str) -> IptConfig:
        return _declared(self.ipt, ipt_id, lambda i: i.id, "IPT")

    def path(self, relative: str) -> Path:
        """Resolve a path written in node.toml relative to the node home."""
        p = Path(relative)
        return p if p.is_absolute() else self.home / p


def is_valid_id(value: object) -> bool:
    """The one rule for node, peer, dataset and query ids. Ids become folder names in the
    store, so the rule is also what keeps an id one harmless path segment: no `.`, `/`,
    `..`, upper case or trailing newline (hence `fullmatch`, not `match` with `$`)."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def check_id(value: str, where: str) -> str:
    """An id given outside node.toml (e.g. `init --id`) obeys the same rule as inside it."""
    if not is_valid_id(value):
        raise ConfigError(f"{where} {value!r} must be 2-63 lower-case letters, digits, - or _")
    return value


def load_config(home: Path) -> NodeConfig:
    """Read and validate `<home>/node.toml`; ConfigError lists every problem with its line."""
    home = Path(home)
    path = home / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(
            f"{path}: no node here; run `fednode init --home {home} --id ID --name NAME` first"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return config_from_text(home, text)


def config_from_text(home: Path, text: str) -> NodeConfig:
    """node.toml's text validated as `load_config` does: a change is checked before it is
    written, so a refused one leaves the file as it was."""
    home = Path(home)
    path = home / CONFIG_FILE
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    settings = validate_toml(NodeFile, raw, text=text, source=str(path), error=ConfigError)
    _refuse_duplicates(settings, text, path)
    return NodeConfig(
        home=home,
        id=settings.node.id,
        name=settings.node.name,
        country=settings.node.country,
        url=settings.node.url,
        contact_email=settings.node.contact_email,
        host=settings.server.host,
        port=settings.server.port,
        trusted_proxies=settings.server.trusted_proxies,
        max_connections=settings.server.max_connections,
        connections_per_client=settings.server.connections_per_client,
        anonymous_per_minute=settings.server.anonymous_per_minute,
        metrics_token=settings.server.metrics_token,
        gbif_api_url=settings.gbif_api.url,
        archive_versions_kept=settings.publishing.versions_kept,
        datasets=settings.datasets,
        peers=settings.peers,
        gbif=settings.gbif,
        ipt=settings.ipt,
    )


def _refuse_duplicates(settings: NodeFile, text: str, path: Path) -> None:
    """Two blocks with one id would make every lookup by id pick one of them silently."""
    lines = TomlLines(text)
    problems = []
    for table, ids in (
        ("datasets", [d.id for d in settings.datasets]),
        ("peers", [p.id for p in settings.peers]),
        ("gbif", [q.name for q in settings.gbif]),
        ("ipt", [i.id for i in settings.ipt]),
    ):
        key = "name" if table == "gbif" else "id"
        for n, value in enumerate(ids):
            if value in ids[:n]:
                line = lines.line((table, n, key))
                problems.append(
                    f"{path} line {line}: {table}#{n + 1}.{key}: {value!r} declared twice"
                )
    # An IPT's id names its records' source, as a peer's does: the two share one space.
    peer_ids = {p.id for p in settings.peers} | {settings.node.id, "gbif"}
    for n, ipt in enumerate(settings.ipt):
        if ipt.id in peer_ids:
            problems.append(
                f"{path} line {lines.line(('ipt', n, 'id'))}: ipt#{n + 1}.id: {ipt.id!r} is "
                "already this node's, GBIF's or a peer's id"
            )
    if problems:
        raise ConfigError("\n".join(problems))
