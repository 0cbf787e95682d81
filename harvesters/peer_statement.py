"""What a harvester believes about a peer's archive: only what the peer signed, checked.

The signed statement (node/wire/statement.py) is verified against the key pinned for the peer,
then every claim in it is checked against what this node knows first-hand: the dataset it
asked for, its own key, the bytes it received, the version it already holds, and its own
copy of the signed agreement. Licence and agreement stored with the records come from
here, never from unsigned response headers.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.core.errors import HarvestError
from node.core.identity import Identity, parse_public_key
from node.publish.versions import version_key
from node.store.agreement_book import AgreementBook
from node.wire.statement import STATEMENT_HEADER, Statement, verify_statement


@dataclass(frozen=True)
class Accepted:
    """The verified terms a harvested archive is stored under."""

    statement: Statement
    agreement: str | None  # id@version from this node's own copy; None: a public dataset
    licence: str


def accept_statement(
    header: str,
    *,
    peer_id: str,
    peer_key: str,
    dataset_id: str,
    identity: Identity,
    digest: str,
    held_version: str | None,
    book: AgreementBook,
) -> Accepted:
    """The archive's verified terms, or HarvestError naming the claim that fails."""
    where = f"{dataset_id}"
    statement = verify_statement(parse_public_key(peer_key), header, where)
    if statement.dataset != dataset_id:
        raise HarvestError(
            f"{where}: the peer's signed statement is for dataset {statement.dataset!r}; "
            "refusing one dataset's archive served as another"
        )
    if statement.recipient_key != identity.public_key_text:
        raise HarvestError(
            f"{where}: the peer's signed statement names another recipient; refusing an "
            "archive made for someone else"
        )
    if statement.sha256 != digest:
        raise HarvestError(
            f"{where}: the archive received does not match the SHA-256 in the peer's signed "
            f"{STATEMENT_HEADER}; refusing it and keeping the last good copy"
        )
    _check_version(where, statement.version, held_version)
    if statement.agreement is None:
        # A public dataset: no agreement governs it, and the licence is the peer's signed word.
        return Accepted(statement, None, statement.licence)
    return Accepted(statement, statement.agreement, _agreed_licence(statement, peer_key, book))


def _check_version(where: str, version: str, held: str | None) -> None:
    try:
        offered = version_key(version)
        current = version_key(held) if held else None
    except ValueError:
        raise HarvestError(
            f"{where}: dataset version {version!r} in the signed statement is not a version "
            "number (major.minor); refusing it"
        ) from None
    if current is not None and offered < current:
        raise HarvestError(
            f"{where}: the peer offers version {version}, older than version {held} held "
            "here; refusing the rollback and keeping the newer copy"
        )


def _agreed_licence(statement: Statement, peer_key: str, book: AgreementBook) -> str:
    """The licence this node's own copy of the agreement sets for the dataset's flow."""
    where = statement.dataset
    agreement_id, _, _ = (statement.agreement or "").partition("@")
    entry = book.get(agreement_id)
    agreement = entry.agreement if entry is not None and entry.active else None
    if agreement is None or agreement.ref != statement.agreement:
        raise HarvestError(
            f"{where}: the peer sends it under agreement {statement.agreement}, which this "
            "node does not hold as an active signed agreement; refusing it"
        )
    if agreement.sha256 != statement.agreement_sha256:
        raise HarvestError(
            f"{where}: the peer's copy of agreement {agreement.ref} differs from this node's "
            "(SHA-256 mismatch); refusing the archive"
        )
    own = book.config.id
    if statement.recipient_party != own:
        raise HarvestError(
            f"{where}: the signed statement names party {statement.recipient_party!r}, not "
            f"this node ({own}); refusing it"
        )
    senders = [p.id for p in agreement.parties if p.id != own and book.holds(p.key, peer_key)]
    flows = [f for s in senders if (f := agreement.flow_for(s, own, statement.dataset))]
    if not flows:
        raise HarvestError(
            f"{where}: agreement {agreement.ref} has no flow of this dataset from the peer's "
            "key to this node; refusing it"
        )
    licence = flows[0].licence
    if statement.licence != licence:
        raise HarvestError(
            f"{where}: the peer labels it {statement.licence}, but agreement {agreement.ref} "
            f"sets {licence}; refusing the relabelled archive"
        )
    return licence
