"""The `fednode` command line."""

from node.cli.group import main

__all__ = ["main"]
