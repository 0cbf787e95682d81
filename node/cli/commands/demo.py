"""`fednode demo`."""

from __future__ import annotations

from pathlib import Path

import click

from node.cli.group import main
from node.demo import run_demo


@main.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to create the two node homes (default: a temporary folder).",
)
@click.option("--keep", is_flag=True, help="Keep the homes for inspection afterwards.")
def demo(directory: Path | None, keep: bool) -> None:
    """Two nodes on loopback, end to end: publish, agree, harvest, reconcile, export."""
    run_demo(click.get_current_context().find_root().command, directory, keep)
