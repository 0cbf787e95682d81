"""Keep the signed audit head a partner sends with each archive.

The head is the partner's word, under its pinned key, that its audit log held entry N
with hash H when it sent us data. Kept here, it lets that partner (`fednode audit verify
--against`) prove its log was not cut short or rewritten since, even by someone who also
deleted its own checkpoints. A head that is missing or does not verify against the pinned
key fails the download like a bad archive signature: the archive is refused and the last
good copy kept, since a partner whose exports cannot be anchored is not what was agreed.
"""

from __future__ import annotations

from collections.abc import Mapping

from node.core.config import NodeConfig, PeerConfig
from node.core.constants import AUDIT_HEAD_HEADER
from node.core.errors import HarvestError, InvalidInput
from node.store.audit_anchor import ReceivedHeads, SignedHead
from node.store.state import connect


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
