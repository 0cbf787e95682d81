"""One HTTP client policy for peer harvesting: timeouts, retries, back-off, User-Agent.

Retries cover what is worth retrying (5xx, 429, connection errors, timeouts), honour
`Retry-After`, and back off exponentially with full jitter so that many nodes retrying
the same peer spread out instead of arriving together.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
from collections.abc import Awaitable, Callable, Mapping

import aiohttp

from node import __version__, constants
from node.errors import HarvestError

USER_AGENT = f"fednode/{__version__} (+https://github.com/fednode)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


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


def backoff_s(attempt: int, hint: float | None = None) -> float:
    if hint is not None:
        return min(hint, constants.HARVEST_BACKOFF_MAX_S)
    ceiling = min(constants.HARVEST_BACKOFF_MAX_S, constants.HARVEST_BACKOFF_BASE_S * 2**attempt)
    return random.uniform(0, ceiling)


async def request_with_retries(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    headers: Callable[[], Mapping[str, str]],
    handle: Callable[[aiohttp.ClientResponse], Awaitable[object]],
    retries: int | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> object:
    """Send, retrying transient failures; `headers()` is called per attempt (fresh nonce).

    `handle` consumes the response (e.g. streams the body to disk); errors it raises for a
    truncated body are retried too. `retries` defaults to HARVEST_RETRIES, read per call.
    """
    if retries is None:
        retries = constants.HARVEST_RETRIES
    last_error = ""
    for attempt in range(retries + 1):
        try:
            async with session.request(method, url, headers=dict(headers())) as response:
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
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
            last_error = f"{type(exc).__name__} talking to {url}: {exc}".rstrip(": ")
            if attempt < retries:
                await sleep(backoff_s(attempt))
                continue
    raise HarvestError(f"gave up after {retries + 1} attempts: {last_error}")
