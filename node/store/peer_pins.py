"""Re-pinning a partner's key in node.toml after a verified rotation, without a hand step.

Only the one `key` line of the one peer changes, with comments and layout kept, and only
when node.toml still pins the key the rotation starts from: an administrator's own edit in
between wins.
"""

from __future__ import annotations

from pathlib import Path

import tomlkit

from node.core.config import CONFIG_FILE, load_config
from node.core.keychain import normal
from node.store.store import write_atomic


def repin_peer(home: Path, peer_id: str, old_key: str, new_key: str) -> bool:
    """Pin `new_key` for `peer_id` where `old_key` was pinned; False if it was not."""
    path = Path(home) / CONFIG_FILE
    document = tomlkit.parse(path.read_text(encoding="utf-8"))
    for peer in document.get("peers", []):
        if peer.get("id") != peer_id:
            continue
        if normal(str(peer.get("key", ""))) != normal(old_key):
            return False
        peer["key"] = new_key
        write_atomic(path, tomlkit.dumps(document).encode("utf-8"))
        load_config(home)  # the edit keeps node.toml valid, or says why not
        return True
    return False
