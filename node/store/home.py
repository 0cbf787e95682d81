"""Creating a node home: `fednode init` writes node.toml, keys and the folder layout."""

from __future__ import annotations

from pathlib import Path

from node.core.config import CONFIG_FILE
from node.core.constants import DEFAULT_PORT
from node.core.errors import ConfigError
from node.core.identity import Identity, create_identity
from node.core.settings_doc import template
from node.store.store import write_atomic


def init_home(
    home: Path, node_id: str, name: str, url: str = "", country: str = "", port: int = DEFAULT_PORT
) -> Identity:
    """Create a node home; refuse to overwrite an existing one (its key is its identity)."""
    home = Path(home)
    if (home / CONFIG_FILE).exists():
        raise ConfigError(f"{home / CONFIG_FILE} already exists; refusing to overwrite a node")
    home.mkdir(parents=True, exist_ok=True)
    for sub in ("agreements", "sources", "store", "mappings"):
        (home / sub).mkdir(exist_ok=True)
    node = {
        "id": node_id,
        "name": name,
        "country": country.upper(),
        "url": url or f"http://127.0.0.1:{port}",
    }
    text = template({"node": node, "server": {"port": port}})
    write_atomic(home / CONFIG_FILE, text.encode("utf-8"))
    return create_identity(home)
