"""One HTTP client policy for peer harvesting: timeouts, retries, back-off, User-Agent.

Retries cover what is worth retrying (5xx, 429, connection errors, timeouts), honour
`Retry-After`, and back off exponentially with full jitter so that many nodes retrying
the same peer spread out instead of arriving together.

A peer is untrusted: its answers are never decompressed (a 1 MB gzip body can expand to
gigabytes), redirects are never followed (they would carry the signed headers to another
host, or to this node's own loopback-only pages), bodies are read under a byte cap, and
every request has a wall-clock deadline over all its attempts.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp

from node import __version__
from node.core import constants
from node.core.errors import HarvestError

USER_AGENT = f"fednode/{__version__} (+https://github.com/fednode)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


# How a retry waits: asyncio.sleep in the daemon; tests pass one that records and returns.
Sleep = Callable[[float], Awaitable[None]]


def client_session() -> aiohttp.ClientSession:
    timeout = aiohttp.ClientTimeout(
        total=constants.DOWNLOAD_TIMEOUT_S, connect=10, sock_read=constants.HTTP_TIMEOUT_S
    )
    return aiohttp.ClientSession(timeout=timeout, headers={"User-Agent": USER_AGENT})


def retry_after_s(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    import datetime as dt

    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def backoff_s(
    attempt: int,
    hint: float | None = None,
    *,
    base_s: float = constants.HARVEST_BACKOFF_BASE_S,
    max_s: float = constants.HARVEST_BACKOFF_MAX_S,
) -> float:
    """The wait before retry `attempt` (from 0), for peers and GBIF alike.

    A server's Retry-After is honoured as asked (callers refuse one longer than `max_s`
    first). Otherwise half the exponential step fixed and half random: the growth stays
    visible, and many nodes retrying one server at once spread apart.
    """
    if hint is not None:
        return min(hint, max_s)
    step = min(max_s, base_s * 2**attempt)
    return step / 2 + random.uniform(0, step / 2)


def refuse_encoded(response: aiohttp.ClientResponse, what: str) -> None:
    """HarvestError (not retried) for a body sent with a Content-Encoding.

    Requests ask for `identity`; an encoded answer is either a misconfigured proxy or a
    decompression bomb, and retrying it gives the same answer.
    """
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        raise HarvestError(
            f"{what}: the peer sent Content-Encoding: {encoding}; fednode bodies are sent "
            "unencoded (an archive is already compressed), so it is refused unread"
        )


async def read_capped(response: aiohttp.ClientResponse, limit: int, what: str) -> bytes:
    """The raw body, refused as soon as it passes `limit` bytes (announced or received)."""
    refuse_encoded(response, what)
    declared = response.content_length
    if declared is not None and declared > limit:
        raise HarvestError(f"{what}: the peer announces {declared:,} bytes; the limit is {limit:,}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise HarvestError(f"{what}: the body exceeds {limit:,} bytes; reading stopped")
        chunks.append(chunk)
    return b"".join(chunks)


async def request_with_retries(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    headers: Callable[[], Mapping[str, str]],
    handle: Callable[[aiohttp.ClientResponse], Awaitable[object]],
    retries: int | None = None,
    sleep: Sleep = asyncio.sleep,
    timeout_s: float | None = None,
    deadline_s: float | None = None,
) -> object:
    """Send, retrying transient failures; `headers()` is called per attempt (fresh nonce).

    `handle` consumes the response (e.g. streams the body to disk); errors it raises for a
    truncated body are retried too. `retries` defaults to HARVEST_RETRIES, read per call.
    `timeout_s` bounds one attempt, `deadline_s` all attempts and back-offs together.
    """
    if deadline_s is None:
        return await _attempts(session, method, url, headers, handle, retries, sleep, timeout_s)
    try:
        async with asyncio.timeout(deadline_s):
            return await _attempts(session, method, url, headers, handle, retries, sleep, timeout_s)
    except TimeoutError:
        raise HarvestError(
            f"{url}: no complete answer within {deadline_s:,.0f} s (all attempts together); "
            "the next scheduled run will retry"
        ) from None


async def _attempts(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    headers: Callable[[], Mapping[str, str]],
    handle: Callable[[aiohttp.ClientResponse], Awaitable[object]],
    retries: int | None,
    sleep: Sleep,
    timeout_s: float | None,
) -> object:
    if retries is None:
        retries = constants.HARVEST_RETRIES
    timeout = (
        aiohttp.ClientTimeout(total=timeout_s, connect=10, sock_read=constants.HTTP_TIMEOUT_S)
        if timeout_s is not None
        else None
    )
    options: dict[str, Any] = {"timeout": timeout} if timeout is not None else {}
    last_error = ""
    for attempt in range(retries + 1):
        try:
            async with session.request(
                method,
                url,
                headers={**headers(), "Accept-Encoding": "identity"},
                allow_redirects=False,
                auto_decompress=False,
                **options,
            ) as response:
                if response.status in RETRY_STATUSES and attempt < retries:
                    last_error = f"HTTP {response.status} from {url}"
                    hint = retry_after_s(response.headers.get("Retry-After"))
                    if hint is not None and hint > constants.HARVEST_BACKOFF_MAX_S:
                        # Waiting inside this run would hold the source's lock for as long;
                        # asking again sooner would ignore the peer. The schedule retries.
                        raise HarvestError(
                            f"{url}: HTTP {response.status}, the peer asks to wait "
                            f"{hint:,.0f} s (Retry-After); the next scheduled run will retry"
                        )
                    await sleep(backoff_s(attempt, hint))
                    continue
                return await handle(response)
        except aiohttp.ClientSSLError as exc:
            # A certificate that does not verify will not verify in a minute either.
            raise HarvestError(f"{url}: TLS refused: {exc}") from None
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
            last_error = f"{type(exc).__name__} talking to {url}: {exc}".rstrip(": ")
            if attempt < retries:
                await sleep(backoff_s(attempt))
                continue
    raise HarvestError(f"gave up after {retries + 1} attempts: {last_error}")
