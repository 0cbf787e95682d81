"""The agreements a node holds (`<home>/agreements/*.toml`), reloaded when files change.

Each file is parsed, validated and its state (active, awaiting signature, expired,
tampered, ...) computed; an agreement that fails any check shares nothing, and the
reason is kept for `fednode status` and the status page. Reload is cheap (a stat per
file), so the server calls `refresh()` on each request: edits take effect without a
restart, and SIGHUP forces a full reload.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

from agreements.model import PUBLIC, Agreement, AgreementState, Flow, Status
from agreements.parse import load_agreement
from agreements.trust import trust_state
from node.core.config import CONFIG_FILE, NodeConfig, load_config
from node.core.errors import ConfigError, InvalidAgreement, NodeError
from node.core.identity import load_identity
from node.core.keychain import KeyChain
from node.store.key_statements import ChainUnreadable, load_chain, statements_path

log = logging.getLogger("fednode.agreements")


@dataclass(frozen=True)
class HeldAgreement:
    """One agreement file: the parsed agreement, or why it could not be loaded."""

    path: Path
    agreement: Agreement | None
    state: AgreementState | None
    error: str = ""

    @property
    def active(self) -> bool:
        return (
            self.agreement is not None
            and self.state is not None
            and self.state.active
            and not self.error
        )

    @property
    def status_text(self) -> str:
        if self.agreement is None or self.state is None:
            return f"invalid: {self.error}"
        return f"{self.state.status.value}: {self.state.reason}"


class AgreementBook:
    def __init__(self, config: NodeConfig, own_key: str | None = None) -> None:
        """`own_key`: this node's public key text; read from its key pair when not given."""
        self.config = config
        self.own_key = own_key or _own_key(config)
        self.folder = Path(config.home) / "agreements"
        self._stamps: dict[Path, tuple[float, int]] = {}
        self._entries: dict[Path, HeldAgreement] = {}
        self._checked: dt.date | None = None
        self._pinned: dict[str, str] = {}
        self.chain = KeyChain()
        self._chain_error = ""

    def refresh(self, force: bool = False, now: dt.datetime | None = None) -> None:
        """Re-read changed files; recompute states daily (validity windows move)."""
        now = now or dt.datetime.now(dt.UTC)
        files = sorted(self.folder.glob("*.toml")) if self.folder.is_dir() else []
        # node.toml pins the partners' keys: `fednode peer add` while the daemon runs, or a
        # removed peer, changes which agreements are trusted.
        files.append(Path(self.config.home) / CONFIG_FILE)
        # Key rotations and revocations change which keys an agreement's pins stand for.
        files.append(statements_path(self.config.home))
        stamps = {}
        for path in files:
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            stamps[path] = (st.st_mtime, st.st_size)
        if not force and stamps == self._stamps and self._checked == now.date():
            return
        known = {d.id for d in self.config.datasets}
        config_path = Path(self.config.home) / CONFIG_FILE
        chain_path = statements_path(self.config.home)
        config_changed = any(
            stamps.get(p) != self._stamps.get(p) for p in (config_path, chain_path)
        )
        if force or config_changed or self._checked != now.date():
            self._pinned = _pinned_peers(self.config)
            self.chain, self._chain_error = _chain(self.config)
        entries = {}
        for path, stamp in stamps.items():
            if path in (config_path, chain_path):
                continue
            previous = self._entries.get(path)
            if (
                not force
                and not config_changed
                and previous
                and self._stamps.get(path) == stamp
                and self._checked == now.date()
            ):
                entries[path] = previous
                continue
            entries[path] = self._load(path, known, now)
        self._entries, self._stamps, self._checked = entries, stamps, now.date()

    def _load(self, path: Path, known: set[str], now: dt.datetime) -> HeldAgreement:
        try:
            agreement = load_agreement(path, known_datasets=known, own_party=self.config.id)
        except InvalidAgreement as exc:
            log.warning("agreement %s shares nothing: %s", path.name, exc.detail)
            return HeldAgreement(path, None, None, exc.detail)
        if agreement.party(self.config.id) is None:
            reason = f"this node ({self.config.id}) is not a party to it"
            return HeldAgreement(path, agreement, None, reason)
        if self._chain_error:
            state: AgreementState | None = AgreementState(Status.UNTRUSTED, self._chain_error)
        else:
            state = trust_state(agreement, self.config.id, self.own_key, self._pinned, self.chain)
        state = state or agreement.status(now)
        if not state.active:
            log.info("agreement %s shares nothing: %s", agreement.ref, state.reason)
        return HeldAgreement(path, agreement, state)

    def state_of(self, agreement: Agreement) -> AgreementState | None:
        """The state this book gives the agreement (trust included); None if not held."""
        for entry in self.entries():
            if entry.agreement is not None and entry.agreement.sha256 == agreement.sha256:
                return entry.state
        return None

    def refusal(self, key_text: str) -> str:
        """Why a request signed by this key receives nothing, in the true words."""
        held = []
        for entry in self.entries():
            agreement = entry.agreement
            if agreement is None:
                continue
            for party in agreement.parties:
                if party.id != self.config.id and self.holds(party.key, key_text):
                    held.append(f"agreement {agreement.ref} ({entry.status_text})")
        if not held:
            return "no agreement pins this key"
        return "this key is pinned only by agreements that share nothing: " + "; ".join(held)

    def entries(self) -> list[HeldAgreement]:
        self.refresh()
        return list(self._entries.values())

    def active(self) -> list[Agreement]:
        return [e.agreement for e in self.entries() if e.active and e.agreement is not None]

    def get(self, agreement_id: str) -> HeldAgreement | None:
        return next(
            (
                e
                for e in self.entries()
                if e.agreement is not None and e.agreement.id == agreement_id
            ),
            None,
        )

    def holds(self, pinned: str, key_text: str) -> bool:
        """Whether the holder of `key_text` is who an agreement pinning `pinned` names:
        the same key, or the key it was rotated to (nothing revoked on the way)."""
        return self.chain.honours(pinned, key_text)

    def current_key(self, pinned: str) -> str | None:
        """The key `pinned` stands for now; None when revoked on the way."""
        self.refresh()
        return None if self._chain_error else self.chain.current(pinned)

    def pinned_key(self, key_text: str) -> str | None:
        """The signing key, when an active agreement pins it (or its predecessor) for a
        party other than this node."""
        for agreement in self.active():
            for party in agreement.parties:
                if party.id != self.config.id and self.holds(party.key, key_text):
                    return key_text
        return None

    def parties_for_key(self, key_text: str) -> set[str]:
        return {
            party.id
            for agreement in self.active()
            for party in agreement.parties
            if party.id != self.config.id and self.holds(party.key, key_text)
        }

    def flows_to(self, key_text: str | None, dataset_id: str) -> list[tuple[Agreement, Flow]]:
        """Active flows from this node granting `dataset_id` to the holder of `key_text`
        (None: public flows).

        A flow names a party by id, and ids are chosen by each institution: the same id may
        name different institutions (with different keys) in different agreements. So a flow
        grants only to the key its own agreement pins for the party it names, never to a key
        that another agreement pins under the same id; and a key pinned under two ids in two
        agreements receives what each of them grants.
        """
        if key_text is None:
            return [
                (agreement, flow)
                for agreement in self.active()
                if (flow := agreement.flow_for(self.config.id, PUBLIC, dataset_id)) is not None
            ]
        return [
            (agreement, flow)
            for agreement in self.active()
            for party in agreement.parties
            if party.id != self.config.id and self.holds(party.key, key_text)
            if (flow := agreement.flow_for(self.config.id, party.id, dataset_id)) is not None
        ]

    def governing_flow(
        self, key_text: str | None, dataset_id: str
    ) -> tuple[Agreement, Flow] | None:
        """The one flow whose terms apply when the holder of `key_text` asks for `dataset_id`.

        The requester's own flows first; a public flow applies only when it has none, so a
        partner never escapes its own terms (purposes, withheld fields) by asking as the
        public. Loading forbids two flows for one dataset and direction within an agreement;
        across agreements the newest agreement version governs. Listing and downloading both
        ask here, so what a partner is shown and what it receives cannot disagree.
        """
        flows = self.flows_to(key_text, dataset_id) if key_text else []
        flows = flows or self.flows_to(None, dataset_id)
        if not flows:
            return None
        return max(flows, key=lambda af: (af[0].valid_from, af[0].version, af[0].id))


def _own_key(config: NodeConfig) -> str | None:
    """This node's public key, from its private key; None (trust nothing) if unreadable."""
    try:
        return load_identity(config.home).public_key_text
    except (ConfigError, OSError, ValueError) as exc:
        log.warning("agreements share nothing: this node's key cannot be read (%s)", exc)
        return None


def _chain(config: NodeConfig) -> tuple[KeyChain, str]:
    """The verified key chain, or (empty, why) when its file cannot be trusted."""
    try:
        return load_chain(config.home), ""
    except ChainUnreadable as exc:
        log.warning("agreements share nothing: %s", exc.detail)
        return KeyChain(), exc.detail


def _pinned_peers(config: NodeConfig) -> dict[str, str]:
    """Peer id -> key as node.toml pins them now; none (trust nothing) if it cannot load."""
    try:
        current = load_config(config.home) if (config.home / CONFIG_FILE).exists() else config
    except NodeError as exc:
        log.warning("node.toml cannot be read, no partner is trusted: %s", exc.detail)
        return {}
    return {peer.id: peer.key for peer in current.peers}
