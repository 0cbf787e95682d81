"""node.toml: the node's settings, declared as data and validated on load.

Every setting has a default and a one-line documentation string in `SETTINGS`; `init`
writes the commented file from them and a test checks each one is documented.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agreements.model import PURPOSE_WORD
from node import constants
from node.errors import ConfigError

CONFIG_FILE = "node.toml"
_ID = re.compile(r"[a-z0-9][a-z0-9_-]{1,62}")
DATASET_TYPES = ("occurrence", "checklist")
GBIF_METHODS = ("search", "download")
GBIF_FORMATS = ("SIMPLE_PARQUET", "DWCA")


@dataclass(frozen=True)
class DatasetConfig:
    id: str
    title: str
    type: str
    source: str
    licence: str
    mapping: str | None = None
    encoding: str | None = None
    public: bool = False
    abstract: str = ""
    creator: str = ""
    contact_email: str = ""
    keywords: tuple[str, ...] = ()
    language: str = "en"


@dataclass(frozen=True)
class PeerConfig:
    id: str
    url: str
    key: str
    datasets: tuple[str, ...] = ()
    schedule: str = "every 6h"
    purpose: str = "research"  # sent, signed, with every request; the flow must list it


@dataclass(frozen=True)
class GbifQueryConfig:
    name: str
    predicate: dict[str, Any]
    method: str = "search"
    schedule: str = "every 24h"
    format: str = "SIMPLE_PARQUET"  # download format: SIMPLE_PARQUET or DWCA


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
    gbif_api_url: str = constants.GBIF_API_URL
    archive_versions_kept: int = constants.ARCHIVE_VERSIONS_KEPT
    datasets: tuple[DatasetConfig, ...] = ()
    peers: tuple[PeerConfig, ...] = ()
    gbif: tuple[GbifQueryConfig, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def dataset(self, dataset_id: str) -> DatasetConfig:
        for d in self.datasets:
            if d.id == dataset_id:
                return d
        known = ", ".join(d.id for d in self.datasets) or "none"
        raise ConfigError(f"no dataset {dataset_id!r} in {CONFIG_FILE} (declared: {known})")

    def peer(self, peer_id: str) -> PeerConfig:
        for p in self.peers:
            if p.id == peer_id:
                return p
        known = ", ".join(p.id for p in self.peers) or "none"
        raise ConfigError(f"no peer {peer_id!r} in {CONFIG_FILE} (declared: {known})")

    def gbif_query(self, name: str) -> GbifQueryConfig:
        for q in self.gbif:
            if q.name == name:
                return q
        known = ", ".join(q.name for q in self.gbif) or "none"
        raise ConfigError(f"no GBIF query {name!r} in {CONFIG_FILE} (declared: {known})")

    def path(self, relative: str) -> Path:
        """Resolve a path written in node.toml relative to the node home."""
        p = Path(relative)
        return p if p.is_absolute() else self.home / p


def _require(table: dict[str, Any], key: str, where: str) -> Any:
    if key not in table or table[key] in ("", None):
        raise ConfigError(f"{CONFIG_FILE}: {where} needs `{key}`")
    return table[key]


def _check_keys(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(
            f"{CONFIG_FILE}: {where} has unknown setting(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(allowed))}"
        )


def is_valid_id(value: object) -> bool:
    """The one rule for node, peer, dataset and query ids. Ids become folder names in the
    store, so the rule is also what keeps an id one harmless path segment: no `.`, `/`,
    `..`, upper case or trailing newline (hence `fullmatch`, not `match` with `$`)."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def _check_id(value: str, where: str) -> str:
    if not is_valid_id(value):
        raise ConfigError(
            f"{CONFIG_FILE}: {where} id {value!r} must be 2-63 lower-case letters, digits, - or _"
        )
    return value


def _dataset(raw: dict[str, Any], n: int) -> DatasetConfig:
    where = f"[[datasets]] #{n + 1}"
    _check_keys(raw, set(DatasetConfig.__dataclass_fields__), where)
    kind = _require(raw, "type", where)
    if kind not in DATASET_TYPES:
        raise ConfigError(f"{CONFIG_FILE}: {where} type {kind!r} must be one of {DATASET_TYPES}")
    values = dict(raw)
    values["id"] = _check_id(_require(raw, "id", where), where)
    for key in ("title", "source", "licence"):
        _require(raw, key, where)
    values["keywords"] = tuple(raw.get("keywords", ()))
    return DatasetConfig(**values)


def _peer(raw: dict[str, Any], n: int) -> PeerConfig:
    where = f"[[peers]] #{n + 1}"
    _check_keys(raw, set(PeerConfig.__dataclass_fields__), where)
    values = dict(raw)
    values["id"] = _check_id(_require(raw, "id", where), where)
    _require(raw, "url", where)
    key = _require(raw, "key", where)
    if not str(key).startswith("ed25519:"):
        raise ConfigError(f"{CONFIG_FILE}: {where} key must look like 'ed25519:<base64>'")
    values["datasets"] = tuple(raw.get("datasets", ()))
    purpose = values.get("purpose", PeerConfig.purpose)
    if not isinstance(purpose, str) or not PURPOSE_WORD.match(purpose):
        raise ConfigError(
            f"{CONFIG_FILE}: {where} purpose {purpose!r} must be one lower-case word the "
            "agreement's flow lists, e.g. 'research'"
        )
    return PeerConfig(**values)


def _gbif(raw: dict[str, Any], n: int) -> GbifQueryConfig:
    where = f"[[gbif]] #{n + 1}"
    _check_keys(raw, set(GbifQueryConfig.__dataclass_fields__), where)
    values = dict(raw)
    values["name"] = _check_id(_require(raw, "name", where), where)
    if values.get("method", "search") not in GBIF_METHODS:
        raise ConfigError(f"{CONFIG_FILE}: {where} method must be one of {GBIF_METHODS}")
    values["predicate"] = dict(_require(raw, "predicate", where))
    if values.get("format", "SIMPLE_PARQUET") not in GBIF_FORMATS:
        raise ConfigError(f"{CONFIG_FILE}: {where} format must be one of {GBIF_FORMATS}")
    return GbifQueryConfig(**values)


def load_config(home: Path) -> NodeConfig:
    """Read and validate `<home>/node.toml`."""
    home = Path(home)
    path = home / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(
            f"{path}: no node here; run `fednode init --home {home} --id ID --name NAME` first"
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    _check_keys(
        raw, {"node", "server", "gbif_api", "publishing", "datasets", "peers", "gbif"}, "top level"
    )
    node = raw.get("node", {})
    _check_keys(node, {"id", "name", "country", "url", "contact_email"}, "[node]")
    server = raw.get("server", {})
    _check_keys(server, {"host", "port"}, "[server]")
    gbif_api = raw.get("gbif_api", {})
    _check_keys(gbif_api, {"url"}, "[gbif_api]")
    publishing = raw.get("publishing", {})
    _check_keys(publishing, {"versions_kept"}, "[publishing]")
    datasets = tuple(_dataset(d, i) for i, d in enumerate(raw.get("datasets", [])))
    peers = tuple(_peer(p, i) for i, p in enumerate(raw.get("peers", [])))
    queries = tuple(_gbif(q, i) for i, q in enumerate(raw.get("gbif", [])))
    for kind, ids in (("dataset", [d.id for d in datasets]), ("peer", [p.id for p in peers])):
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ConfigError(f"{CONFIG_FILE}: {kind} id(s) declared twice: {', '.join(dupes)}")
    return NodeConfig(
        home=home,
        id=_check_id(_require(node, "id", "[node]"), "[node]"),
        name=_require(node, "name", "[node]"),
        country=node.get("country", ""),
        url=node.get("url", ""),
        contact_email=node.get("contact_email", ""),
        host=server.get("host", "127.0.0.1"),
        port=int(server.get("port", constants.DEFAULT_PORT)),
        gbif_api_url=gbif_api.get("url", constants.GBIF_API_URL),
        archive_versions_kept=int(publishing.get("versions_kept", constants.ARCHIVE_VERSIONS_KEPT)),
        datasets=datasets,
        peers=peers,
        gbif=queries,
    )
