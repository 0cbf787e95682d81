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

from agreements.model import PUBLIC, Agreement, AgreementState, Flow, load_agreement
from node.config import NodeConfig
from node.errors import InvalidAgreement

log = logging.getLogger("fednode.agreements")


@dataclass(frozen=True)
class Entry:
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
    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.folder = Path(config.home) / "agreements"
        self._stamps: dict[Path, tuple[float, int]] = {}
        self._entries: dict[Path, Entry] = {}
        self._checked: dt.date | None = None

    def refresh(self, force: bool = False, now: dt.datetime | None = None) -> None:
        """Re-read changed files; recompute states daily (validity windows move)."""
        now = now or dt.datetime.now(dt.UTC)
        files = sorted(self.folder.glob("*.toml")) if self.folder.is_dir() else []
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
        entries = {}
        for path, stamp in stamps.items():
            previous = self._entries.get(path)
            if (
                not force
                and previous
                and self._stamps.get(path) == stamp
                and self._checked == now.date()
            ):
                entries[path] = previous
                continue
            entries[path] = self._load(path, known, now)
        self._entries, self._stamps, self._checked = entries, stamps, now.date()

    def _load(self, path: Path, known: set[str], now: dt.datetime) -> Entry:
        try:
            agreement = load_agreement(path, known_datasets=known, own_party=self.config.id)
        except InvalidAgreement as exc:
            log.warning("agreement %s shares nothing: %s", path.name, exc.detail)
            return Entry(path, None, None, exc.detail)
        if agreement.party(self.config.id) is None:
            reason = f"this node ({self.config.id}) is not a party to it"
            return Entry(path, agreement, None, reason)
        state = agreement.status(now)
        if not state.active:
            log.info("agreement %s shares nothing: %s", agreement.ref, state.reason)
        return Entry(path, agreement, state)

    def entries(self) -> list[Entry]:
        self.refresh()
        return list(self._entries.values())

    def active(self) -> list[Agreement]:
        return [e.agreement for e in self.entries() if e.active and e.agreement is not None]

    def get(self, agreement_id: str) -> Entry | None:
        return next(
            (
                e
                for e in self.entries()
                if e.agreement is not None and e.agreement.id == agreement_id
            ),
            None,
        )

    def pinned_key(self, key_text: str) -> str | None:
        """The key as an active agreement pins it for a party other than this node."""
        for agreement in self.active():
            for party in agreement.parties:
                if party.id != self.config.id and party.key == key_text:
                    return party.key
        return None

    def parties_for_key(self, key_text: str) -> set[str]:
        return {
            party.id
            for agreement in self.active()
            for party in agreement.parties
            if party.id != self.config.id and party.key == key_text
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
            if party.id != self.config.id and party.key == key_text
            if (flow := agreement.flow_for(self.config.id, party.id, dataset_id)) is not None
        ]
