"""Per-peer token buckets: a burst of a minute's allowance, then the steady rate."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.core.constants import PEER_RATE_LIMIT_PER_MIN
from node.core.errors import NodeError, RateLimited
from node.core.identity import Identity
from node.server.ratelimit import RateLimiter
from node.store import state
from node.wire.auth import sign_headers, verify_request
from node.wire.nonces import NonceCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter__allows_a_minutes_burst_then_refuses():
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    for _ in range(PEER_RATE_LIMIT_PER_MIN):
        limiter.check("ed25519:vnmn")
    with pytest.raises(RateLimited) as refused:
        limiter.check("ed25519:vnmn")
    assert refused.value.status == 429
    assert refused.value.retry_after_s == 1  # 2 tokens a second at 120 a minute


def test_rate_limiter__refills_at_the_steady_rate():
    clock = Clock()
    limiter = RateLimiter(per_minute=6, clock=clock)  # one token every 10 s
    for _ in range(6):
        limiter.check("peer")
    clock.now += 4
    with pytest.raises(RateLimited) as refused:
        limiter.check("peer")
    assert refused.value.retry_after_s == 6
    assert "retry after 6 s" in refused.value.detail
    clock.now += 6
    limiter.check("peer")
    with pytest.raises(RateLimited):
        limiter.check("peer")


def test_rate_limiter__peers_do_not_share_a_bucket():
    limiter = RateLimiter(per_minute=1, clock=Clock())
    limiter.check("ed25519:gxib")
    limiter.check("ed25519:vnmn")
    with pytest.raises(RateLimited):
        limiter.check("ed25519:gxib")


def test_rate_limiter__refused_calls_do_not_spend_tokens():
    clock = Clock()
    limiter = RateLimiter(per_minute=6, clock=clock)
    for _ in range(6):
        limiter.check("peer")
    for _ in range(50):
        with pytest.raises(RateLimited):
            limiter.check("peer")
    clock.now += 10
    limiter.check("peer")


def test_rate_limiter__names_a_key_by_its_fingerprint():
    identity = Identity(Ed25519PrivateKey.generate())
    limiter = RateLimiter(per_minute=1, clock=Clock())
    limiter.check(identity.public_key_text)
    with pytest.raises(RateLimited, match=identity.fingerprint):
        limiter.check(identity.public_key_text)


def test_rate_limiter__forgets_idle_peers():
    clock = Clock()
    limiter = RateLimiter(per_minute=60, clock=clock)
    for i in range(1000):
        limiter.check(f"anonymous:{i}")
    clock.now += 61  # every bucket is full again, indistinguishable from a new one
    for _ in range(100):
        limiter.check("ed25519:vnmn")
        clock.now += 1
    assert len(limiter) < 10


async def test_rate_limiter__signed_peer_gets_429_with_retry_after(tmp_path: Path):
    peer = Identity(Ed25519PrivateKey.generate())
    conn = state.connect(tmp_path)
    nonces = NonceCache(conn)
    limiter = RateLimiter(per_minute=2)

    def pinned(keyid: str) -> str | None:
        return keyid if keyid == peer.public_key_text else None

    async def archive(request: web.Request) -> web.Response:
        try:
            who = await verify_request(request, pinned, nonces)
            limiter.check(who.key if who else "anonymous")
        except NodeError as exc:
            headers = {}
            if isinstance(exc, RateLimited):
                headers["Retry-After"] = str(exc.retry_after_s)
            body = {"error": exc.code, "detail": exc.detail}
            return web.json_response(body, status=exc.status, headers=headers)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/datasets/gxib-karst-flora/archive", archive)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    url = f"http://{host}:{port}/datasets/gxib-karst-flora/archive"
    statuses = []
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(3):
                async with session.get(url, headers=sign_headers("GET", url, peer)) as response:
                    statuses.append(response.status)
                    last = response.headers.get("Retry-After"), await response.json()
    finally:
        await runner.cleanup()
        conn.close()
    assert statuses == [200, 200, 429]
    retry_after, body = last
    assert retry_after == "30"
    assert body["error"] == "rate_limited"
