"""The CLI's commands beyond `init`, one module per area, registered on `node.cli.main`."""

from node.cli.commands import agreements, datasets, demo, names_exports, operations, server  # noqa: F401
