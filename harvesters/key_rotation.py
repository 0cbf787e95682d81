"""Following a partner's key rotation before harvesting it, with no hand step.

Before each harvest the peer's `/.well-known/fednode` is read for its current key and its
key statements. Only statements that extend the chain from the key node.toml pins are
kept (a peer cannot fill the file with others), each verified against the key that must
have signed it. When they lead to the key the peer now presents, node.toml is re-pinned
and the audit log says so; when they do not, nothing is harvested (fail closed). When
the peer cannot be asked, the harvest goes on with the key already pinned: every archive
is still checked against it, so nothing is believed that the pin does not vouch for.
"""

from __future__ import annotations

import json
import logging

import aiohttp

from harvesters.http import read_capped
from node.core import constants
from node.core.config import NodeConfig, PeerConfig
from node.core.errors import HarvestError
from node.core.identity import fingerprint
from node.core.keychain import (
    ROTATE,
    BadKeyStatement,
    KeyChain,
    KeyStatement,
    normal,
    read_key_statement,
)
from node.store.audit import AuditLog
from node.store.key_statements import add_statements, load_chain
from node.store.peer_pins import repin_peer
from node.store.state import connect

log = logging.getLogger("fednode.harvest")

_WELL_KNOWN_TIMEOUT_S = 10


async def follow_key_change(
    session: aiohttp.ClientSession, config: NodeConfig, peer: PeerConfig
) -> PeerConfig:
    """The peer as it is to be harvested now: re-pinned after a verified rotation."""
    held = load_chain(config.home)
    offered = await _well_known(session, peer)
    if offered is None:
        current = held.current(peer.key)
        if current is None:
            raise HarvestError(_revoked(peer, held))
        return peer if current == normal(peer.key) else peer.model_copy(update={"key": current})
    presented, wires = offered
    extending = _extending(peer.key, wires)
    chain = KeyChain([*held.statements, *(s for _, s in extending)])
    current = chain.current(peer.key)
    if current is None:
        # The pinned key is revoked: its successor is followed only for what it signs
        # from now on; agreements pinning the revoked key stay untrusted (sign again).
        following = chain.successor(peer.key)
        current = chain.current(following) if following else None
    if extending:
        add_statements(config.home, [w for w, _ in extending])
    if current is None:
        _audit(config, peer.id, f"{peer.id}'s key {fingerprint(peer.key)} is revoked")
        raise HarvestError(_revoked(peer, chain))
    if current != normal(presented):
        raise HarvestError(
            f"{peer.id} now presents key {_fp(presented)}, which no rotation signed by the "
            f"pinned key {fingerprint(peer.key)} leads to; nothing is harvested until the "
            "new key is checked with the partner by another channel"
        )
    if current == normal(peer.key):
        return peer
    if repin_peer(config.home, peer.id, peer.key, current):
        revoked = " (the old key is revoked)" if chain.revoked(peer.key) else ""
        _audit(
            config,
            peer.id,
            f"{peer.id} rotated its key {fingerprint(peer.key)} -> {fingerprint(current)}; "
            f"re-pinned in node.toml{revoked}",
        )
        log.info("%s rotated its key; re-pinned %s", peer.id, fingerprint(current))
    return peer.model_copy(update={"key": current})


async def _well_known(
    session: aiohttp.ClientSession, peer: PeerConfig
) -> tuple[str, list[str]] | None:
    """(presented key, statements) from the peer, or None when it cannot be asked."""
    url = peer.url.rstrip("/") + constants.WELL_KNOWN_PATH
    try:
        timeout = aiohttp.ClientTimeout(total=_WELL_KNOWN_TIMEOUT_S)
        async with session.get(url, timeout=timeout, allow_redirects=False) as response:
            if response.status != 200:
                return None
            body = await read_capped(response, constants.MAX_LISTING_BYTES, url)
        data = json.loads(body)
    except (aiohttp.ClientError, TimeoutError, ValueError, HarvestError) as exc:
        log.info("%s: %s unreadable (%s); keeping the pinned key", peer.id, url, exc)
        return None
    if not isinstance(data, dict) or not isinstance(data.get("public_key"), str):
        return None
    wires = data.get("key_statements", [])
    if not isinstance(wires, list):
        wires = []
    return data["public_key"], [w for w in wires if isinstance(w, str)]


def _extending(pinned: str, wires: list[str]) -> list[tuple[str, KeyStatement]]:
    """The statements on the path from `pinned`: rotations signed by each key in turn, and
    revocations of those keys. Anything else a peer sends is ignored unread."""
    statements = []
    for wire in wires[: 4 * 200]:
        try:
            statements.append((wire, read_key_statement(wire)))
        except BadKeyStatement:
            continue
    path = [normal(pinned)]
    chosen: list[tuple[str, KeyStatement]] = []
    while len(path) < 200:
        step = [(w, s) for w, s in statements if s.kind == ROTATE and normal(s.key) == path[-1]]
        if not step:
            break
        chosen.extend(step)  # two successors are both kept: the chain then refuses both
        following = normal(step[0][1].new_key or "")
        if following in path:
            break
        path.append(following)
    chosen.extend((w, s) for w, s in statements if s.kind != ROTATE and normal(s.key) in path)
    return chosen


def _revoked(peer: PeerConfig, chain: KeyChain) -> str:
    why = chain.why_not(peer.key) or "it is revoked"
    return (
        f"{peer.id}: {why}; nothing is harvested until the partner's new key is pinned "
        "(`fednode peer add`) and the agreements are signed again"
    )


def _audit(config: NodeConfig, peer_id: str, detail: str) -> None:
    conn = connect(config.home)
    try:
        AuditLog(conn).append("key", peer=peer_id, detail=detail)
    finally:
        conn.close()


def _fp(key_text: str) -> str:
    try:
        return fingerprint(key_text)
    except ValueError:
        return repr(key_text[:24])
