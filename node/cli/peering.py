"""Pinning a partner node: its identity is taken from `/.well-known/fednode` once, checked
against a fingerprint the partner gave by another channel, and written to node.toml.
Recording a GBIF IPT: it has no identity to pin, so its feed is read once instead."""

from __future__ import annotations

import asyncio
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import tomlkit

from harvesters.http import client_session
from harvesters.ipt import fetch_feed
from harvesters.ipt_feed import FEED_PATH, IptResource
from harvesters.schedule import parse_schedule
from node.core.config import (
    CONFIG_FILE,
    DEFAULT_PURPOSE,
    check_id,
    config_from_text,
    load_config,
)
from node.core.constants import PURPOSE_WORD, WELL_KNOWN_PATH
from node.core.errors import HarvestError, InvalidInput
from node.core.identity import fingerprint, parse_public_key
from node.store.store import write_atomic


@dataclass(frozen=True)
class PinnedPeer:
    id: str
    name: str
    country: str
    url: str
    key: str
    fingerprint: str
    already: bool = False


def fetch_well_known(url: str) -> dict[str, object]:
    async def fetch() -> dict[str, object]:
        async with (
            client_session() as session,
            session.get(url.rstrip("/") + WELL_KNOWN_PATH) as response,
        ):
            if response.status != 200:
                raise InvalidInput(f"{url}: {WELL_KNOWN_PATH} answered HTTP {response.status}")
            return dict(await response.json())

    try:
        return asyncio.run(fetch())
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise InvalidInput(f"cannot reach {url}: {exc}") from exc


def pin_peer(
    home: Path,
    url: str,
    expected: str = "",
    schedule: str = "every 6h",
    purpose: str = DEFAULT_PURPOSE,
) -> PinnedPeer:
    config = load_config(home)
    parse_schedule(schedule)
    if not PURPOSE_WORD.match(purpose):
        raise InvalidInput(f"--purpose {purpose!r} must be one lower-case word, e.g. 'research'")
    info = fetch_well_known(url)
    key = str(info.get("public_key", ""))
    parse_public_key(key)
    actual = fingerprint(key)
    if expected and expected.replace(":", "").lower() != actual.replace(":", "").lower():
        raise InvalidInput(
            f"{url} presents key fingerprint {actual}, not the expected {expected}; "
            "not pinning it (check with the partner by another channel)"
        )
    peer_id = str(info.get("id", ""))
    if peer_id == config.id:
        raise InvalidInput(f"{url} is this node ({peer_id})")
    pinned = PinnedPeer(
        peer_id,
        str(info.get("name", "")),
        str(info.get("country", "")),
        str(info.get("url") or url),
        key,
        actual,
    )
    path = Path(home) / CONFIG_FILE
    document = tomlkit.parse(path.read_text(encoding="utf-8"))
    peers = document.setdefault("peers", tomlkit.aot())
    for existing in peers:
        if existing.get("id") == peer_id:
            if existing.get("key") != key:
                raise InvalidInput(
                    f"peer {peer_id} is already pinned with another key; remove it from "
                    f"{CONFIG_FILE} first if the partner really changed keys"
                )
            return PinnedPeer(**{**pinned.__dict__, "already": True})
    entry = tomlkit.table()
    entry.update(
        {
            "id": peer_id,
            "url": pinned.url,
            "key": key,
            "datasets": [],
            "schedule": schedule,
            "purpose": purpose,
        }
    )
    peers.append(entry)
    write_atomic(path, tomlkit.dumps(document).encode("utf-8"))
    load_config(home)
    return pinned


@dataclass(frozen=True)
class AddedIpt:
    id: str
    url: str
    resources: list[str]  # what its feed lists now
    refused: list[str]  # feed items that will not be harvested, with the reason
    already: bool = False


def _ipt_id_from(url: str) -> str:
    """A default id from the IPT's host, e.g. `ipt.gxib.example` -> `ipt-gxib-example`."""
    host = urllib.parse.urlsplit(url).hostname or ""
    return re.sub(r"[^a-z0-9]+", "-", host.lower()).strip("-")[:63]


def add_ipt(home: Path, url: str, ipt_id: str = "", schedule: str = "every 6h") -> AddedIpt:
    """Record an IPT in node.toml after reading its feed once, so a wrong URL (an HTML
    page, a login form) is refused now, in one line, rather than at the first harvest."""
    config = load_config(home)
    parse_schedule(schedule)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"--ipt {url!r}: give the IPT's http(s) base URL")
    base = url.strip().rstrip("/").removesuffix(FEED_PATH)
    ipt_id = check_id(ipt_id or _ipt_id_from(base), "--id")

    async def fetch() -> tuple[list[IptResource], list[str]]:
        async with client_session() as session:
            return await fetch_feed(session, base)

    try:
        found, refused = asyncio.run(fetch())
    except HarvestError as exc:
        raise InvalidInput(f"{base} is not an IPT this node can harvest: {exc.detail}") from exc
    added = AddedIpt(ipt_id, base, [r.name for r in found], refused)
    for existing in config.ipt:
        if existing.id == ipt_id:
            if existing.url.rstrip("/") != base:
                raise InvalidInput(
                    f"IPT {ipt_id} is already recorded with {existing.url}; pass another --id"
                )
            return AddedIpt(**{**added.__dict__, "already": True})
    path = Path(home) / CONFIG_FILE
    document = tomlkit.parse(path.read_text(encoding="utf-8"))
    entry = tomlkit.table()
    entry.update({"id": ipt_id, "url": base, "resources": [], "schedule": schedule})
    document.setdefault("ipt", tomlkit.aot()).append(entry)
    text = tomlkit.dumps(document)
    # Checked before it is written: an id a peer already uses is refused, node.toml kept.
    config_from_text(home, text)
    write_atomic(path, text.encode("utf-8"))
    return added
