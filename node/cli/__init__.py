"""The `fednode` command line: the group and `init` in group.py, the rest in commands/.

Importing this package registers every command on `main`, which is what the `fednode`
entry point and the demo run.
"""

from node.cli import commands  # noqa: F401  (registers the commands on `main`)
from node.cli.group import main

__all__ = ["main"]
