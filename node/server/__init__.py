"""The node's daemon: the aiohttp application, who may receive what, the status page."""
