"""`fednode`: the command line. Each command's docstring is its help.

Domain errors become one line on stderr and exit status 1; usage errors exit 2 (click).
One-shot admin commands run exactly what the daemon's jobs run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from node import __version__
from node.core.allocator import use_steady_allocators
from node.core.config import check_id
from node.core.constants import DEFAULT_HOME, DEFAULT_PORT, HOME_ENV
from node.core.errors import NodeError
from node.store.home import init_home


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NodeError as exc:
            click.echo(f"fednode: {exc.detail}", err=True)
            sys.exit(1)


def home_option(func: Any) -> Any:
    return click.option(
        "--home",
        type=click.Path(file_okay=False, path_type=Path),
        default=lambda: os.environ.get(HOME_ENV, DEFAULT_HOME),
        show_default=f"{DEFAULT_HOME} or ${HOME_ENV}",
        help="The node's home folder.",
    )(func)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="fednode")
def main() -> None:
    """fednode: share biodiversity data across borders under signed agreements."""
    use_steady_allocators()


@main.command()
@home_option
@click.option("--id", "node_id", required=True, help="Short lower-case id, e.g. gxib.")
@click.option("--name", required=True, help="The institution's name.")
@click.option("--url", default="", help="Public base URL partners use to reach this node.")
@click.option("--country", default="", help="ISO 3166-1 alpha-2 country code, e.g. CN.")
@click.option("--port", default=None, type=int, help="Listen port (default 8701).")
def init(home: Path, node_id: str, name: str, url: str, country: str, port: int | None) -> None:
    """Create a node home: node.toml, an Ed25519 key pair, empty folders."""

    check_id(node_id, "--id")
    identity = init_home(home, node_id, name, url=url, country=country, port=port or DEFAULT_PORT)
    click.echo(f"Created node {node_id!r} in {home}")
    click.echo(f"  public key   {identity.public_key_text}")
    click.echo(f"  fingerprint  {identity.fingerprint}")
    click.echo(f"Next: declare datasets in {home / 'node.toml'}, then `fednode publish`.")
