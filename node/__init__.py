"""One institution's fednode: configuration, identity, store, archives, server, CLI."""

__version__ = "0.1.0"
