"""Agreements and record tables for the agreement tests, built the way a node builds them.

Agreements are TOML text signed with real Ed25519 keys; tables come from text columns
through `node.store.records.to_stored_layout`, so they have the stored layout enforcement receives.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agreements.model import Agreement
from agreements.parse import parse_agreement
from agreements.signing import public_key_to_text, sign
from node.store.records import to_stored_layout

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
DATASET = "gxib-karst-flora"

# One key pair per party, made once: Ed25519 generation is cheap but not free.
KEYS = {"gxib": Ed25519PrivateKey.generate(), "vnmn": Ed25519PrivateKey.generate()}

HEADER = """\
id = "gxib-vnmn"
version = 3
title = "Guangxi - Northern Vietnam karst flora data sharing"
valid_from = 2026-01-01
valid_until = 2028-12-31

[parties.gxib]
name = "Guangxi Institute of Botany"
url = "https://node.gxib.example"
key = "{gxib}"

[parties.vnmn]
name = "Vietnam National Museum of Nature"
url = "https://node.vnmn.example"
key = "{vnmn}"
"""

# A rule most tests share: critically endangered records stay home.
WITHHOLD_CR = """
[[flows.sensitive]]
threat = ["CR"]
action = "withhold"
"""
FLOW = """
[[flows]]
from = "gxib"
to = "vnmn"
datasets = ["gxib-karst-flora"]
licence = "CC-BY-NC-4.0"
attribution = "Guangxi Institute of Botany (GXIB)"
purposes = ["research", "conservation"]
"""


def agreement_text(flows: str = FLOW, **replace: str) -> str:
    """The design's example agreement with real keys; `replace` swaps header lines."""
    keys = {party: public_key_to_text(key.public_key()) for party, key in KEYS.items()}
    header = HEADER.format(**keys)
    for key, value in replace.items():
        line = next(line for line in header.splitlines() if line.startswith(f"{key} ="))
        header = header.replace(line, f"{key} = {value}")
    return header + flows


def signed(text: str, **kwargs: object) -> Agreement:
    """Both parties' signatures added, then loaded as a node loads it."""
    for party, key in KEYS.items():
        text = sign(text, party, key)
    return parse_agreement(text, "gxib-vnmn.toml", **kwargs)  # type: ignore[arg-type]


def records(provenance: dict[str, object] | None = None, **columns: list[str | None]) -> pa.Table:
    """A stored-layout table from verbatim text columns (one list per Darwin Core term)."""
    return to_stored_layout(
        pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()}), provenance
    )
