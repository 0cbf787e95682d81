"""Signed audit heads between partners: keep the one each archive carries, fetch ours back.

The head is the partner's word, under its pinned key, that its audit log held entry N
with hash H when it sent us data. Kept here, it lets that partner (`fednode audit verify
--against`) prove its log was not cut short or rewritten since, even by someone who also
deleted its own checkpoints. A head that is missing or does not verify against the pinned
key fails the download like a bad archive signature: the archive is refused and the last
good copy kept, since a partner whose exports cannot be anchored is not what was agreed.
"""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

from harvesters.http import client_session
from node.core.config import NodeConfig, PeerConfig
from node.core.constants import AUDIT_HEAD_HEADER
from node.core.errors import HarvestError, InvalidInput
from node.core.identity import Identity
from node.store.audit_anchor import ReceivedHeads, SignedHead
from node.store.state import connect
from node.wire.auth import sign_headers


def keep_audit_head(
    config: NodeConfig, peer: PeerConfig, dataset_id: str, headers: Mapping[str, str]
) -> SignedHead:
    """Verify the archive's `Fednode-Audit-Head` against the peer's pinned key and keep it."""
    token = headers.get(AUDIT_HEAD_HEADER, "")
    if not token:
        raise HarvestError(
            f"{dataset_id}: {peer.id} sent no {AUDIT_HEAD_HEADER}; refusing the archive and "
            "keeping the last good copy"
        )
    conn = connect(config.home)
    try:
        return ReceivedHeads(conn).keep(peer.id, peer.key, token.strip())
    except InvalidInput as exc:
        raise HarvestError(
            f"{dataset_id}: {peer.id}'s {AUDIT_HEAD_HEADER} is refused ({exc.detail}); "
            "refusing the archive and keeping the last good copy"
        ) from None
    finally:
        conn.close()


async def fetch_heads_from(peer_url: str, peer_id: str, identity: Identity) -> list[str]:
    """The heads of this node's log that a partner holds, asked for with a signed request.

    The heads are this node's own signatures, so the partner cannot forge any; what it
    could do is withhold them, which shows as fewer heads, never as a clean bill.
    """
    url = peer_url.rstrip("/") + "/audit/heads"
    try:
        async with (
            client_session() as session,
            session.get(url, headers=sign_headers("GET", url, identity)) as response,
        ):
            body = await response.json(content_type=None)
            status = response.status
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise HarvestError(
            f"{peer_id}: could not fetch {url}: {type(exc).__name__}: {exc}"
        ) from None
    if status != 200:
        detail = body.get("detail") if isinstance(body, dict) else None
        raise HarvestError(f"{peer_id}: {url} answered HTTP {status}: {detail or body!r:.200}")
    heads = body.get("heads") if isinstance(body, dict) else None
    if not isinstance(heads, list) or not all(isinstance(h, str) for h in heads):
        raise HarvestError(f"{peer_id}: {url} did not return a list of heads")
    return heads
