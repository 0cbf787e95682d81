"""The CLI's commands beyond `init`, one module per area, registered on `node.cli.main`."""

from node.cli.commands import (  # noqa: F401
    agreements,
    backup,
    datasets,
    demo,
    keys,
    names_exports,
    names_trilingual,
    operations,
    server,
)
