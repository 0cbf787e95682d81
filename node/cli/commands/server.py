"""`fednode serve`: the daemon, until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import errno
import signal
from pathlib import Path

import click
from aiohttp import web

from node.cli.group import home_option, main
from node.core import logs
from node.core.config import load_config
from node.core.constants import KEEPALIVE_TIMEOUT_S
from node.core.errors import NodeError
from node.core.identity import load_identity
from node.server.app import build_app
from node.server.connections import (
    ConnectionGuard,
    GuardedSite,
    connection_cap,
    quiet_accept_errors,
)
from node.server.keys import CONFIG, METRICS
from node.server.services import SERVICES, reload_sources
from node.server.sharing import SHARING
from node.wire.proxies import TrustedProxies

BACKLOG = 128  # pending connections; also how many the loop accepts in one go


class PortInUse(NodeError):
    status = 500
    code = "port_in_use"


async def serve_until_stopped(app: web.Application, host: str, port: int, announce: bool) -> None:
    runner = web.AppRunner(
        app, handle_signals=False, access_log=None, keepalive_timeout=KEEPALIVE_TIMEOUT_S
    )
    await runner.setup()
    config, metrics = app[CONFIG], app[METRICS]

    def refused(reason: str) -> None:
        metrics.connections_refused.labels(reason).inc()

    guard = ConnectionGuard(
        connection_cap(config.max_connections, BACKLOG),
        config.connections_per_client,
        TrustedProxies(config.trusted_proxies),
        on_refused=refused,
        on_count=metrics.connections_open.set,
    )
    quiet_accept_errors(asyncio.get_running_loop(), refused)
    site = GuardedSite(runner, host, port, guard, shutdown_timeout=10, backlog=BACKLOG)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(
                f"port {port} on {host} is already in use; stop the other process or choose "
                "another with --port"
            ) from exc
        raise PortInUse(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: _reload_agreements(app))
    if announce:
        click.echo(f"fednode serving on http://{host}:{port}/ (Ctrl-C to stop)", err=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def _reload_agreements(app: web.Application) -> None:
    """SIGHUP: re-read every agreement file and node.toml's sources now (both are also
    picked up without it, within seconds)."""

    app[SHARING].book.refresh(force=True)
    services = app[SERVICES]
    if services.runtime is not None and services.scheduler is not None:
        reload_sources(services.runtime, services.scheduler)


@main.command()
@home_option
@click.option("--host", default=None, help="Listen address (default from node.toml).")
@click.option("--port", default=None, type=int, help="Listen port (default from node.toml).")
@click.option("--log-level", default="INFO", show_default=True)
def serve(home: Path, host: str | None, port: int | None, log_level: str) -> None:
    """Run the node: HTTP API and harvest schedule, until SIGTERM."""

    logs.configure(log_level)
    config = load_config(home)
    app = build_app(config, load_identity(home))
    asyncio.run(serve_until_stopped(app, host or config.host, port or config.port, True))
