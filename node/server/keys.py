"""The typed keys of the aiohttp application, apart from the app so every handler can import them.

Each area's module adds its own routes to the app; they find the node's configuration,
identity and metrics under these keys, and the app module imports those areas in turn.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from node.core.config import NodeConfig
from node.core.identity import Identity

CONFIG = web.AppKey("config", NodeConfig)
IDENTITY = web.AppKey("identity", Identity)
STARTED = web.AppKey("started", float)


@dataclass
class RunState:
    """Mutable while the app runs (aiohttp freezes the app's own mapping at start-up)."""

    ready: bool = False


STATE = web.AppKey("state", RunState)


class Metrics:
    """Per-app registry so that several nodes in one process (tests, demo) do not collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "fednode_http_requests",
            "HTTP requests served",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "fednode_http_request_seconds",
            "Time to answer a request",
            ["route"],
            registry=self.registry,
        )
        self.archives = Counter(
            "fednode_archives_served",
            "Archives sent",
            ["dataset", "party"],
            registry=self.registry,
        )
        self.denied = Counter(
            "fednode_requests_denied",
            "Requests refused by authentication or agreements",
            ["reason"],
            registry=self.registry,
        )
        self.harvests = Counter(
            "fednode_harvest_runs",
            "Harvest runs finished",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.connections_refused = Counter(
            "fednode_connections_refused",
            "Connections closed by the server's limits (node.server.connections)",
            ["reason"],
            registry=self.registry,
        )
        self.connections_open = Gauge(
            "fednode_connections_open", "Client connections open", registry=self.registry
        )
        self.records = Gauge(
            "fednode_harvested_records",
            "Records held from each source",
            ["source"],
            registry=self.registry,
        )


METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
