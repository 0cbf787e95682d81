"""Whose agreement is it: the keys an agreement pins, checked against the keys this node trusts.

Signatures prove that the keys named in a document signed it, not that those keys are the
right ones. A document that pins some other key under this node's id, signed by that key
and a partner's, verifies perfectly and was never signed by this node. So an agreement is
trusted only when the key it pins for this node is this node's own key, and the key it
pins for each partner is the key this node pinned for that partner in node.toml
(`fednode peer add`, checked against a fingerprint). Anything else shares nothing, and
the reason says which key differs.

Keys change: after `fednode key rotate` an agreement still pins the old key. A pinned key
counts as the key it was rotated to when the verified chain of rotation statements (each
signed by the key it replaces, node/core/keychain.py) leads from one to the other with no
revoked key on the way; so agreements carry on through a rotation without being signed
again, and a revocation stops every agreement that pins the revoked key.
"""

from __future__ import annotations

from collections.abc import Mapping

from agreements.model import Agreement, AgreementState, Status
from node.core.keychain import KeyChain


def trust_state(
    agreement: Agreement,
    own_id: str,
    own_key: str | None,
    pinned_peers: Mapping[str, str],
    chain: KeyChain | None = None,
) -> AgreementState | None:
    """None when every key the agreement pins is one this node trusts, else why not.

    Args:
        own_key: this node's public key text; None (unknown) trusts nothing.
        pinned_peers: party id -> key text, as node.toml's [[peers]] pin them.
        chain: the verified key rotations and revocations this node knows.
    """
    chain = chain or KeyChain()
    own = agreement.party(own_id)
    if own is None:
        return _untrusted(f"this node ({own_id}) is not a party to it")
    if own_key is not None and chain.why_not(own.key):
        return _untrusted(f"the key it pins for {own_id}: {chain.why_not(own.key)}; sign it again")
    if own_key is None or not chain.honours(own.key, own_key):
        return _untrusted(
            f"the key it pins for {own_id} is not this node's key: this node never signed "
            "it; share nothing"
        )
    for party in agreement.parties:
        if party.id == own_id:
            continue
        pinned = pinned_peers.get(party.id)
        if pinned is None:
            return _untrusted(
                f"partner {party.id} is not pinned in node.toml: run `fednode peer add "
                f"{party.url}` with the fingerprint the partner gave you"
            )
        if chain.why_not(party.key):
            return _untrusted(
                f"the key it pins for {party.id}: {chain.why_not(party.key)}; both parties "
                "must sign it again with their current keys"
            )
        if not chain.honours(party.key, pinned):
            return _untrusted(
                f"the key it pins for {party.id} is not the key node.toml pins for that "
                "peer: check the fingerprint with the partner"
            )
    return None


def _untrusted(reason: str) -> AgreementState:
    return AgreementState(Status.UNTRUSTED, reason)
