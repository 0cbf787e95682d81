"""`keys/statements.json`: the key rotations and revocations this node knows, its own and
its partners', kept beside the keys.

Beside the keys, so a backup carries them with the keys and the agreement book notices a
change by the file's stamp, as it does for node.toml. Every statement is verified again
whenever the file is read: a file that cannot be read, or holds one statement that does not
verify, is treated as the most restrictive case (ChainUnreadable; the book then trusts no
agreement), because dropping it silently could forget a revocation.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from node.core.errors import ConfigError
from node.core.keychain import MAX_STATEMENTS, BadKeyStatement, KeyChain, read_key_statement
from node.store.store import write_atomic

STATEMENTS_FILE = Path("keys/statements.json")


class ChainUnreadable(ConfigError):
    """keys/statements.json exists but cannot be trusted."""


def statements_path(home: Path) -> Path:
    return Path(home) / STATEMENTS_FILE


def load_wires(home: Path) -> list[str]:
    """The statements' wire forms, in the order they were learnt (none when no file)."""
    path = statements_path(home)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise ChainUnreadable(f"{path}: cannot be read ({exc}); no agreement is trusted") from None
    wires = data.get("statements") if isinstance(data, dict) else None
    if not isinstance(wires, list) or not all(isinstance(w, str) for w in wires):
        raise ChainUnreadable(f'{path}: must be {{"statements": [...]}}; no agreement is trusted')
    return wires


def load_chain(home: Path) -> KeyChain:
    """Every statement, verified; ChainUnreadable if any one fails."""
    wires = load_wires(home)
    try:
        return KeyChain(read_key_statement(wire) for wire in wires)
    except BadKeyStatement as exc:
        raise ChainUnreadable(
            f"{statements_path(home)}: {exc}; no agreement is trusted until it is repaired"
        ) from None


def add_statements(home: Path, wires: Iterable[str]) -> list[str]:
    """Verify and keep the statements not held yet; returns those added."""
    held = load_wires(home)
    added = []
    for wire in wires:
        if wire in held or wire in added:
            continue
        try:
            read_key_statement(wire)
        except BadKeyStatement as exc:
            raise ChainUnreadable(f"a key statement is refused: {exc}") from None
        added.append(wire)
    if not added:
        return []
    if len(held) + len(added) > MAX_STATEMENTS:
        raise ChainUnreadable(f"more than {MAX_STATEMENTS} key statements; refusing more")
    path = statements_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"statements": held + added}, indent=1) + "\n"
    write_atomic(path, text.encode("utf-8"))
    return added


def own_statements(home: Path, node_id: str) -> list[str]:
    """The statements about this node's own keys, to publish; none if the file is unusable
    (partners then keep the pins they have, which is the restrictive case)."""
    try:
        wires = load_wires(home)
        return [w for w in wires if read_key_statement(w).node == node_id]
    except (ChainUnreadable, BadKeyStatement):
        return []
