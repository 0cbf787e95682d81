"""`fednode backup DIR` and `fednode restore DIR`: a node home, safely, while it runs."""

from __future__ import annotations

from pathlib import Path

import click

from node.cli.group import home_option, main
from node.store.backup import backup_home, restore_home


@main.command()
@home_option
@click.argument("target", type=click.Path(file_okay=False, path_type=Path))
def backup(home: Path, target: Path) -> None:
    """Copy the node home to TARGET (a new folder); safe while `fednode serve` runs."""
    done = backup_home(home, target)
    click.echo(f"backed up {home} to {done}; keep it as safe as the node's private key")


@main.command()
@home_option
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
def restore(home: Path, source: Path) -> None:
    """Make the node home from the backup SOURCE; the home must not hold a node yet."""
    done = restore_home(source, home)
    click.echo(f"restored {source} into {done}; run `fednode audit verify` before serving")
