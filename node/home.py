"""Creating a node home: `fednode init` writes node.toml, keys and the folder layout."""

from __future__ import annotations

from pathlib import Path

from node.config import CONFIG_FILE
from node.constants import DEFAULT_PORT, GBIF_API_URL
from node.errors import ConfigError
from node.identity import Identity, create_identity

TEMPLATE = """\
# fednode configuration for {name}.
# Every setting is documented here; paths are relative to this file's folder.

[node]
id = "{id}"                  # short lower-case id peers and agreements use for this node
name = "{name}"              # the institution's name, shown to partners and in EML
country = "{country}"        # ISO 3166-1 alpha-2 code of the institution's country
url = "{url}"                # the public base URL partners use to reach this node
contact_email = ""           # who to write to about this node's data

[server]
host = "127.0.0.1"           # listen address; put a TLS reverse proxy in front for the internet
port = {port}                # listen port

[publishing]
versions_kept = 5            # archive versions kept per dataset (older ones are deleted)

[gbif_api]
url = "{gbif}"  # GBIF API base URL; point at a mirror or a test server

# One block per dataset this node publishes.
# [[datasets]]
# id = "gxib-karst-flora"              # stable id, used in URLs and agreements
# title = "Karst flora of Guangxi"     # EML title
# type = "occurrence"                  # occurrence | checklist
# source = "sources/occurrences.csv"   # CSV/TSV/XLSX or an existing DwC-A
# mapping = "sources/occurrences.mapping.toml"   # optional column -> Darwin Core mapping
# encoding = "gb18030"                 # optional; detected when absent
# licence = "CC-BY-NC-4.0"             # CC0-1.0 | CC-BY-4.0 | CC-BY-NC-4.0
# public = false                       # true: anyone may download it without an agreement
# abstract = "..."                     # EML abstract
# creator = "..."                      # EML creator
# contact_email = "..."                # EML contact
# keywords = ["karst", "Gesneriaceae"]
# language = "zh"                      # language of the dataset's text (ISO 639-1), for the EML

# One block per partner node to harvest (see `fednode peer add`).
# [[peers]]
# id = "vnmn"
# url = "https://node.vnmn.example"
# key = "ed25519:..."                  # pinned public key
# datasets = []                        # empty: every dataset the peer shares with us
# schedule = "every 6h"                # "every 30m" | "every 6h" | cron "0 3 * * *"
# purpose = "research"                 # declared (signed) on each request; the flow must list it

# One block per GBIF query to harvest.
# [[gbif]]
# name = "guangxi-gesneriaceae"
# method = "search"                    # search (< 100,000 records) | download (any size)
# format = "SIMPLE_PARQUET"            # download only: SIMPLE_PARQUET | DWCA
# schedule = "every 24h"
# predicate = {{ country = "CN", stateProvince = "Guangxi", family = "Gesneriaceae" }}
"""


def init_home(
    home: Path, node_id: str, name: str, url: str = "", country: str = "", port: int = DEFAULT_PORT
) -> Identity:
    """Create a node home; refuse to overwrite an existing one (its key is its identity)."""
    home = Path(home)
    if (home / CONFIG_FILE).exists():
        raise ConfigError(f"{home / CONFIG_FILE} already exists; refusing to overwrite a node")
    home.mkdir(parents=True, exist_ok=True)
    for sub in ("agreements", "sources", "store", "mappings"):
        (home / sub).mkdir(exist_ok=True)
    text = TEMPLATE.format(
        id=node_id,
        name=name.replace('"', "'"),
        country=country.upper(),
        url=url or f"http://127.0.0.1:{port}",
        port=port,
        gbif=GBIF_API_URL,
    )
    (home / CONFIG_FILE).write_text(text, encoding="utf-8")
    return create_identity(home)
