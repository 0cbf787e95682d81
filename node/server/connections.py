"""Connection discipline for `fednode serve`: slow or numerous clients cannot starve it.

aiohttp waits forever for a request's headers and accepts every connection it can. A
thousand clients that send half a request and wait then hold every file descriptor the
process may open (systemd's default is 1,024): `accept()` fails, the loop logs a traceback
per attempt, and SQLite, the store and partners' harvests find no descriptor left. So:

- a connection must deliver its first request's headers within `HEADER_TIMEOUT_S`; idle
  keep-alive connections are closed by aiohttp after `KEEPALIVE_TIMEOUT_S`;
- open connections are capped below the process's file limit, leaving `FD_HEADROOM`
  descriptors for everything else; at the cap the oldest connection still waiting for its
  headers makes room (a slow client loses its slot, not the health check that just came);
  if every connection is busy with a request, the newcomer is closed;
- one address holds at most `connections_per_client` (trusted proxies are exempt: every
  request through them shares their address);
- every connection closed by a limit is counted in `fednode_connections_refused{reason}`,
  never logged one by one; an `accept()` that fails anyway is counted the same way.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
from collections import Counter
from collections.abc import Callable
from typing import Any

from aiohttp import web

from node.core.constants import FD_HEADROOM, HEADER_TIMEOUT_S
from node.wire.proxies import TrustedProxies

log = logging.getLogger("fednode.connections")

_HEADERS_END = b"\r\n\r\n"
_MIN_CONNECTIONS = 16


def connection_cap(configured: int, backlog: int, headroom: int = FD_HEADROOM) -> int:
    """`configured`, lowered to stay below the soft RLIMIT_NOFILE.

    What is subtracted: descriptors open now (SQLite, logs, the loop), `headroom` for the
    store and harvests, and `backlog`, since the loop accepts up to that many sockets in
    one go before the guard sees any of them.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return configured
    return max(_MIN_CONNECTIONS, min(configured, soft - _open_descriptors() - headroom - backlog))


def _open_descriptors() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:  # not Linux: assume a busy process
        return 64


class ConnectionGuard:
    """Admission and header deadlines for every connection of one listening site."""

    def __init__(
        self,
        cap: int,
        per_client: int,
        proxies: TrustedProxies,
        on_refused: Callable[[str], None],
        on_count: Callable[[int], None] = lambda n: None,
        header_timeout_s: float = HEADER_TIMEOUT_S,
    ) -> None:
        self.cap = cap
        self.per_client = per_client
        self.proxies = proxies
        self.on_refused = on_refused
        self.on_count = on_count
        self.header_timeout_s = header_timeout_s
        self.open: dict[_Guarded, None] = {}  # insertion order: oldest first
        self.by_address: Counter[str] = Counter()

    def admit(self, conn: _Guarded) -> bool:
        address = conn.address
        if (
            address is not None
            and not self.proxies.trusts(address)
            and self.by_address[address] >= self.per_client
        ):
            self.on_refused("per_client")
            return False
        if len(self.open) >= self.cap and not self._evict_one():
            self.on_refused("cap")
            return False
        self.open[conn] = None
        if address is not None:
            self.by_address[address] += 1
        self.on_count(len(self.open))
        return True

    def _evict_one(self) -> bool:
        for conn in self.open:
            if not conn.headers_seen:
                self.on_refused("evicted")
                self.release(conn)  # now: the socket closes on the next loop turn
                conn.close()
                return True
        return False

    def release(self, conn: _Guarded) -> None:
        if conn in self.open:
            del self.open[conn]
            address = conn.address
            if address is not None:
                self.by_address[address] -= 1
                if self.by_address[address] <= 0:
                    del self.by_address[address]
            self.on_count(len(self.open))


class _Guarded(asyncio.Protocol):
    """Wraps aiohttp's protocol: admits, watches for the first headers, then delegates."""

    def __init__(self, guard: ConnectionGuard, make_inner: Callable[[], Any]) -> None:
        self.guard = guard
        self.make_inner = make_inner
        self.inner: Any = None
        self.transport: asyncio.Transport | None = None
        self.address: str | None = None
        self.headers_seen = False
        self._tail = b""
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.address = str(peer[0]) if isinstance(peer, tuple) and peer else None
        if not self.guard.admit(self):
            transport.abort()
            return
        self._deadline = asyncio.get_running_loop().call_later(
            self.guard.header_timeout_s, self._too_slow
        )
        self.inner = self.make_inner()
        self.inner.connection_made(transport)

    def _too_slow(self) -> None:
        if not self.headers_seen:
            self.guard.on_refused("header_timeout")
            self.close()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        if self.inner is None:
            return
        if not self.headers_seen:
            window = self._tail + data
            if _HEADERS_END in window:
                self.headers_seen = True
                if self._deadline is not None:
                    self._deadline.cancel()
            self._tail = window[-3:]
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self.guard.release(self)
        if self.inner is not None:
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()


class GuardedSite(web.TCPSite):
    """`web.TCPSite` whose connections pass through a `ConnectionGuard`."""

    def __init__(
        self, runner: web.BaseRunner, host: str, port: int, guard: ConnectionGuard, **kwargs: Any
    ) -> None:
        super().__init__(runner, host, port, **kwargs)
        self.guard = guard

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        self._server = await loop.create_server(
            lambda: _Guarded(self.guard, server),
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port


def quiet_accept_errors(loop: asyncio.AbstractEventLoop, on_refused: Callable[[str], None]) -> None:
    """Count `accept()` failures (no descriptor left) instead of a traceback per attempt."""
    previous = loop.get_exception_handler()

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and "accept" in str(context.get("message", "")):
            on_refused("accept_failed")
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handle)
