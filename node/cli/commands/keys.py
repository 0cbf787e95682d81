"""`fednode key rotate` and `fednode key revoke`: change this node's key without a phone call."""

from __future__ import annotations

from pathlib import Path

import click

from node.cli.group import home_option, main
from node.core.identity import fingerprint
from node.store.own_keys import revoke_key, rotate_key

_RESTART = (
    "restart the daemon (`systemctl restart fednode`) so it signs with the new key; partners "
    "follow the rotation on their next harvest"
)


@main.group()
def key() -> None:
    """This node's signing key: rotate it routinely, revoke it if it was stolen."""


@key.command("rotate")
@home_option
def key_rotate(home: Path) -> None:
    """Make a new key; publish a statement, signed by the old key, that it replaces it.

    Partners that pinned the old key re-pin the new one on their next contact, and
    agreements carry on without being signed again.
    """
    change = rotate_key(home)
    assert change.new is not None
    click.echo(f"rotated: {fingerprint(change.old)} -> {fingerprint(change.new)}")
    click.echo(_RESTART)


@key.command("revoke")
@home_option
@click.option("--key", "key_text", default=None, help="A retired key; default: the current key.")
@click.option("--reason", default="", help="Why, for the partners' audit logs.")
def key_revoke(home: Path, key_text: str | None, reason: str) -> None:
    """Stop partners honouring a key (stolen, lost); the current key is rotated away first.

    Agreements pinning the revoked key share nothing until both parties sign them again.
    """
    change = revoke_key(home, key_text, reason)
    assert change.revoked is not None
    click.echo(f"revoked: {fingerprint(change.revoked)}")
    if change.new is not None:
        click.echo(f"new key: {fingerprint(change.new)}")
        click.echo(_RESTART)
    click.echo("agreements pinning the revoked key must be signed again by both parties")
