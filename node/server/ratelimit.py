"""Per-peer token buckets, so one partner's harvester cannot monopolise archive builds.

Each key gets a bucket of PEER_RATE_LIMIT_PER_MIN tokens refilled continuously at that
rate: a peer may burst a whole minute's allowance (a harvest run fetches its archives back
to back) and is then held to the steady rate. Buckets live in memory: a restart forgives
everyone, which costs at most one extra burst. Key the limiter by the pinned peer key
(`VerifiedPeer.key`); anonymous callers can share one key or be keyed by client address.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from node.core.constants import PEER_RATE_LIMIT_PER_MIN
from node.core.errors import RateLimited
from node.core.identity import KEY_PREFIX, fingerprint

_PRUNE_EVERY = 1024  # checks between sweeps of idle buckets; keeps memory bounded


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """`check(key)` spends one token from the key's bucket or raises `RateLimited` (429)."""

    def __init__(
        self,
        per_minute: int = PEER_RATE_LIMIT_PER_MIN,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        subject: str = "peer",
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.rate_per_s = per_minute / 60.0
        self.capacity = float(burst if burst is not None else per_minute)
        self.clock = clock
        self.subject = subject  # how refusals name the key: a peer's key or an address
        self._buckets: dict[str, _Bucket] = {}
        self._checks = 0

    def check(self, peer_key: str) -> None:
        now = self.clock()
        bucket = self._buckets.get(peer_key)
        if bucket is None:
            bucket = self._buckets[peer_key] = _Bucket(self.capacity, now)
        else:
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(self.capacity, bucket.tokens + elapsed * self.rate_per_s)
            bucket.updated = now
        self._checks += 1
        if self._checks % _PRUNE_EVERY == 0:
            self._prune(now)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return
        retry_after_s = max(1, math.ceil((1.0 - bucket.tokens) / self.rate_per_s))
        raise RateLimited(
            f"{self.subject} {_label(peer_key)} is over "
            f"{self.rate_per_s * 60:g} requests a minute; "
            f"retry after {retry_after_s} s",
            retry_after_s=retry_after_s,
        )

    def _prune(self, now: float) -> None:
        """Drop buckets that have refilled completely: they equal a fresh one."""
        full_after_s = self.capacity / self.rate_per_s
        for key in [k for k, b in self._buckets.items() if now - b.updated >= full_after_s]:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)


def _label(peer_key: str) -> str:
    if peer_key.startswith(KEY_PREFIX):
        try:
            return fingerprint(peer_key)
        except ValueError:
            pass
    return repr(peer_key[:40])
