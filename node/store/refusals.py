"""Every refusal (401, 403, 429) in the audit log, without letting strangers grow it.

Anyone on the network can make the node refuse them, as often as they like. One entry per
refused request would let a stranger fill the disk and bury a partner's refusals under
noise, so refusals are grouped per (source, reason) and calendar minute (UTC):

- the first refusal of a group is written at once, in full (detail, dataset, agreement),
  so a single forged request is on record even if the node dies a second later;
- the rest of that minute are only counted, then written as one summary entry when the
  minute closes (a timer checks every few seconds) or when the node stops.

The chain is append-only, so a count is never updated in place. Each entry's
`counts["refused.<reason>"]` is how many requests it stands for: summing them over the
log gives every refusal. The source is the party id when the request's signature checked
out against a pinned key, else the client's address (never a key a request merely claims:
a forger could name a partner's). Addresses are not trusted for much either, so once a
minute has `MAX_GROUPS_PER_MINUTE` open groups, further sources share one overflow group.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from node.core.errors import AgreementDenied, NodeError, NotFound
from node.store.audit import DENIED, AuditLog

REFUSED_STATUSES = frozenset({401, 403, 429})
MAX_GROUPS_PER_MINUTE = 256  # distinct (source, reason) pairs written in full per minute
OVERFLOW_SOURCE = "many sources"
FLUSH_EVERY_S = 5.0  # how soon after a minute closes its summary entries are written
SOURCE_KEY = web.RequestKey("refusal_source", str)  # the verified party, once known


class Withheld(NotFound):
    """A dataset that does not exist or is not for this requester: one answer for both,
    so ids cannot be probed, yet audited as a refusal like a 401 or 403."""

    def __init__(self, dataset_id: str) -> None:
        super().__init__(
            f"no dataset {dataset_id[:80]!r} is available to this request; partners sign "
            "their requests with the key their agreement pins",
            reason="withheld",
        )


def is_refusal(exc: NodeError) -> bool:
    return exc.status in REFUSED_STATUSES or isinstance(exc, Withheld)


@dataclass
class _Group:
    """Refusals of one source for one reason in one minute, after the first."""

    minute: dt.datetime
    first_seq: int
    count: int = 0
    last: dt.datetime | None = None
    # Fields shared by every refusal counted so far; one that differs becomes None.
    fields: dict[str, Any] = field(default_factory=dict)  # AuditLog.append's own keywords


class RefusalLog:
    """Writes refusals to the audit log, one entry per source, reason and minute."""

    def __init__(self, audit: AuditLog, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.audit = audit
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._groups: dict[tuple[str, str], _Group] = {}

    def refused(
        self,
        source: str,
        reason: str,
        detail: str,
        *,
        dataset: str | None = None,
        agreement: str | None = None,
        agreement_sha256: str | None = None,
    ) -> None:
        now = self.clock()
        minute = now.replace(second=0, microsecond=0)
        self.flush(before=minute)
        fields = {"dataset": dataset, "agreement": agreement, "agreement_sha256": agreement_sha256}
        key = (source, reason)
        if key not in self._groups and len(self._groups) >= MAX_GROUPS_PER_MINUTE:
            key = (OVERFLOW_SOURCE, reason)
        group = self._groups.get(key)
        if group is not None:
            group.count += 1
            group.last = now
            for name, value in fields.items():
                if group.fields.get(name) != value:
                    group.fields[name] = None
            return
        entry = self.audit.append(
            DENIED,
            peer=key[0],
            counts={f"refused.{reason}": 1},
            detail=detail if key[0] == source else f"{source}: {detail}",
            now=now,
            **fields,
        )
        self._groups[key] = _Group(minute, entry.seq, fields=dict(fields))

    def flush(self, before: dt.datetime | None = None) -> int:
        """Write the summaries of groups from minutes before `before` (all when None)."""
        written = 0
        for key in [k for k, g in self._groups.items() if before is None or g.minute < before]:
            group = self._groups.pop(key)
            if group.count == 0 or group.last is None:
                continue
            source, reason = key
            end = group.minute + dt.timedelta(minutes=1)
            self.audit.append(
                DENIED,
                peer=source,
                counts={f"refused.{reason}": group.count},
                detail=(
                    f"{group.count} more {reason} refusals from {source} between "
                    f"{group.minute:%H:%M} and {end:%H:%M} UTC, after entry {group.first_seq}"
                ),
                **group.fields,
            )
            written += 1
        return written

    def flush_closed(self) -> int:
        """Write the summaries of minutes that are over; what the node's timer calls."""
        return self.flush(before=self.clock().replace(second=0, microsecond=0))

    def record(self, request: web.Request, exc: NodeError) -> None:
        """Audit a refused request: the errors middleware calls this for 401, 403, 429."""
        source = request.get(SOURCE_KEY) or request.remote or "unknown address"
        refusing = exc if isinstance(exc, AgreementDenied) else None
        self.refused(
            str(source),
            exc.reason,
            exc.detail,
            dataset=request.match_info.get("dataset"),
            agreement=refusing.agreement if refusing else None,
            agreement_sha256=refusing.agreement_sha256 if refusing else None,
        )
