"""The one place the node talks to GBIF's API: pygbif configured once, requests paced and retried.

pygbif is synchronous, has no retries, no timeout unless asked, a fixed User-Agent, and its
`__init__` calls `logging.basicConfig(level=INFO)`, which takes over the host's root logger.
This module imports it with that side effect undone, points its module-level base URLs at
`NodeConfig.gbif_api_url`, runs every call in a worker thread (`asyncio.to_thread`), keeps
about one request a second (GBIF's request to clients, rgbif#320), and retries 420/429/5xx,
timeouts and broken bodies with exponential back-off and jitter, honouring `Retry-After`.

pygbif 0.7's download functions hard-code `http://api.gbif.org` (Basic credentials over plain
HTTP, and no way to reach another base URL) and pass no timeout, so the three download calls
(request, status, fetch) are sent here with `requests`, the transport pygbif itself uses.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import requests

from harvesters.http import backoff_s, retry_after_s
from node import __version__
from node.core import constants
from node.core.config import NodeConfig
from node.core.errors import ArchiveTooLarge, HarvestError, InvalidInput

log = logging.getLogger("fednode.gbif")

T = TypeVar("T")
# 420 "Enhance Your Calm" is what GBIF's download service answers when too many run at once.
RETRY_STATUSES = frozenset({420, 429, 500, 502, 503, 504})
_PYGBIF_LOCK = threading.Lock()


class GbifRefused(HarvestError):
    """GBIF answered with a status that asking again will not change (400, 401, 404, ...)."""

    def __init__(self, detail: str, http_status: int) -> None:
        super().__init__(detail)
        self.http_status = http_status


def import_pygbif() -> ModuleType:
    """Import pygbif once, putting back the root logger's handlers and level it changes."""
    with _PYGBIF_LOCK:
        if "pygbif" in sys.modules:
            return sys.modules["pygbif"]
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        try:
            import pygbif
        finally:
            for handler in root.handlers[:]:
                if handler not in handlers:
                    root.removeHandler(handler)
            root.setLevel(level)
        return pygbif


def configure_pygbif(api_url: str, user_agent: str) -> ModuleType:
    """Point every pygbif module at `api_url` and make it send `user_agent` (process-wide).

    pygbif's modules copy `gbif_baseurl` at import (`from pygbif.gbifutils import
    gbif_baseurl`), so the constant is set in each of them; `gbif_GET` builds its headers by
    calling `gbifutils.make_ua` at request time, which is where the User-Agent is set.
    """
    pygbif = import_pygbif()
    base = api_url.rstrip("/") + "/"
    with _PYGBIF_LOCK:
        for name, module in list(sys.modules.items()):
            if name.startswith("pygbif") and hasattr(module, "gbif_baseurl"):
                vars(module)["gbif_baseurl"] = base
        headers = {"user-agent": user_agent}
        vars(sys.modules["pygbif.gbifutils"])["make_ua"] = lambda: dict(headers)
    return pygbif


def user_agent(config: NodeConfig | None = None) -> str:
    """Names the node, so GBIF can tell who is asking (and whom to contact) from its logs."""
    who = f"; node {config.id}" if config else ""
    contact = f"; {config.contact_email}" if config and config.contact_email else ""
    return (
        f"fednode/{__version__} (+https://github.com/fednode{who}{contact}) "
        f"pygbif/{metadata.version('pygbif')} python-requests/{requests.__version__}"
    )


@dataclass(frozen=True)
class GbifLimits:
    """Politeness and patience; tests shrink these to keep runs fast."""

    min_interval_s: float = constants.GBIF_MIN_INTERVAL_S
    search_page: int = constants.GBIF_SEARCH_PAGE
    timeout_s: float = constants.GBIF_HTTP_TIMEOUT_S
    attempts: int = constants.HARVEST_RETRIES
    backoff_base_s: float = constants.HARVEST_BACKOFF_BASE_S
    backoff_max_s: float = constants.HARVEST_BACKOFF_MAX_S
    poll_interval_s: float = constants.GBIF_DOWNLOAD_POLL_S
    download_max_wait_s: float = constants.GBIF_DOWNLOAD_MAX_WAIT_S
    max_download_bytes: int = constants.MAX_ARCHIVE_BYTES


@dataclass(frozen=True)
class GbifAccount:
    """A GBIF user for the download service; the password stays out of reprs and logs."""

    user: str
    email: str
    password: str = field(repr=False)
    origin: str = "the environment"


class GbifClient:
    """GBIF's API for one harvest: paced, retried, off the event loop."""

    def __init__(
        self, api_url: str, *, agent: str | None = None, limits: GbifLimits | None = None
    ) -> None:
        self.api_url = api_url.rstrip("/") + "/"
        self.agent = agent or user_agent()
        self.limits = limits or GbifLimits()
        self.requests_sent = 0
        self.retries = 0
        self._pace = asyncio.Lock()
        self._next_at = 0.0

    @classmethod
    def for_node(cls, config: NodeConfig, limits: GbifLimits | None = None) -> GbifClient:
        return cls(config.gbif_api_url, agent=user_agent(config), limits=limits)

    def url(self, path: str) -> str:
        return self.api_url + path.lstrip("/")

    @property
    def _headers(self) -> dict[str, str]:
        return {"User-Agent": self.agent, "Accept": "application/json"}

    # -- calls through pygbif ----------------------------------------------------------
    async def search(self, params: Mapping[str, Any], *, limit: int, offset: int) -> dict[str, Any]:
        """One page of occurrence search (`limit=0` gives just the `count`)."""
        pygbif = configure_pygbif(self.api_url, self.agent)
        timeout = self.limits.timeout_s
        return await self._call(
            f"occurrence search (offset {offset:,})",
            lambda: pygbif.occurrences.search(
                limit=limit, offset=offset, timeout=timeout, **params
            ),
        )

    async def describe_download_format(self, name: str) -> dict[str, Any]:
        """The fields GBIF puts in a download format (`simpleCsv`, `simpleParquet`, `dwca`)."""
        return dict(await self.get_json(f"occurrence/download/describe/{name}", {}))

    async def get_json(self, path: str, params: Mapping[str, Any]) -> Any:
        """Any GET below the base URL, through pygbif's own transport."""
        configure_pygbif(self.api_url, self.agent)
        from pygbif.gbifutils import gbif_GET

        url, timeout = self.url(path), self.limits.timeout_s
        return await self._call(path, lambda: gbif_GET(url, dict(params), timeout=timeout))

    # -- the download service ----------------------------------------------------------
    async def request_download(
        self,
        predicate: Mapping[str, Any],
        fmt: str,
        account: GbifAccount,
        checklist_key: str | None = None,
    ) -> str:
        """Ask GBIF to build a download; return its key (e.g. `0040513-240906103802322`)."""
        payload: dict[str, Any] = {
            "creator": account.user,
            "notificationAddresses": [account.email],
            "sendNotification": False,
            "format": fmt,
            "predicate": dict(predicate),
        }
        if checklist_key:
            payload["checklistKey"] = checklist_key
        url, timeout = self.url("occurrence/download/request"), self.limits.timeout_s

        def post() -> str:
            response = requests.post(
                url,
                json=payload,
                headers=self._headers,
                timeout=timeout,
                auth=(account.user, account.password),
            )
            response.raise_for_status()
            return response.text.strip().strip('"')

        explain = {
            401: f"GBIF refused the user name or password of {account.user!r} "
            f"(from {account.origin})"
        }
        return await self._call("download request", post, explain, idempotent=False)

    async def download_status(self, key: str) -> dict[str, Any]:
        return dict(await self.get_json(f"occurrence/download/{key}", {}))

    async def fetch_download(self, url: str, dest: Path, expected_bytes: int | None = None) -> int:
        """Stream the zip to `dest` under the size cap; a short body is retried."""
        cap, timeout = self.limits.max_download_bytes, self.limits.timeout_s
        if expected_bytes and expected_bytes > cap:
            raise ArchiveTooLarge(
                f"GBIF's download is {expected_bytes:,} bytes; the node accepts at most "
                f"{cap:,} (MAX_ARCHIVE_BYTES): narrow the query's predicate"
            )

        def fetch() -> int:
            headers = {"User-Agent": self.agent}
            with requests.get(url, headers=headers, stream=True, timeout=timeout) as response:
                response.raise_for_status()
                declared = int(response.headers.get("Content-Length") or 0) or None
                if declared and declared > cap:
                    raise ArchiveTooLarge(f"download announces {declared:,} bytes; limit {cap:,}")
                written = 0
                with open(dest, "wb") as out:
                    for chunk in response.iter_content(constants.UNPACK_CHUNK_BYTES):
                        written += len(chunk)
                        if written > cap:
                            raise ArchiveTooLarge(f"download exceeds {cap:,} bytes; stopped")
                        out.write(chunk)
            if declared and written != declared and not response.headers.get("Content-Encoding"):
                raise requests.exceptions.ChunkedEncodingError(
                    f"body ended after {written:,} of {declared:,} bytes"
                )
            return written

        return await self._call("download file", fetch)

    # -- pacing and retries ------------------------------------------------------------
    async def _paced(self) -> None:
        async with self._pace:
            wait = self._next_at - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._next_at = time.monotonic() + self.limits.min_interval_s

    def _delay_s(self, attempt: int, hint: float | None, what: str) -> float:
        if hint is not None and hint > self.limits.backoff_max_s:
            raise HarvestError(
                f"{what}: GBIF asked to wait {hint:.0f} s (Retry-After), longer than a run "
                f"waits ({self.limits.backoff_max_s:.0f} s); the next scheduled run retries"
            )
        return backoff_s(
            attempt, hint, base_s=self.limits.backoff_base_s, max_s=self.limits.backoff_max_s
        )

    async def _call(
        self,
        what: str,
        call: Callable[[], T],
        explain: Mapping[int, str] | None = None,
        idempotent: bool = True,
    ) -> T:
        """Run `call` in a thread; retry what is worth retrying; fail in words.

        A call that is not idempotent (the download request) is repeated only when GBIF
        surely did not act on it: an error status, or no connection at all.
        """
        started = time.monotonic()
        problem = ""
        attempts = max(1, self.limits.attempts)
        for attempt in range(attempts):
            if attempt:
                self.retries += 1
            await self._paced()
            self.requests_sent += 1
            hint: float | None = None
            reached = True
            try:
                return await asyncio.to_thread(call)
            except requests.HTTPError as exc:
                response = exc.response
                status = response.status_code if response is not None else 0
                reason = response.reason if response is not None else ""
                if status not in RETRY_STATUSES:
                    detail = (explain or {}).get(status) or _excerpt(response)
                    message = f"{what}: GBIF answered HTTP {status} {reason}: {detail}"
                    raise GbifRefused(message, status) from exc
                problem, reached = f"GBIF answered HTTP {status} {reason}".rstrip(), False
                if response is not None:
                    hint = retry_after_s(response.headers.get("Retry-After"))
            except requests.exceptions.JSONDecodeError:
                problem = "GBIF's answer was not complete JSON (truncated body?)"
            except requests.exceptions.ChunkedEncodingError:
                problem = "GBIF's answer was cut short (the connection closed mid-body)"
            except requests.ConnectionError as exc:
                problem = f"could not reach GBIF at {self.api_url} ({_reason(exc)})"
                reached = not isinstance(exc, requests.ConnectTimeout) and (
                    "NewConnectionError" not in repr(exc)
                )
            except requests.Timeout:
                problem = f"GBIF did not answer within {self.limits.timeout_s:g} s"
            except Exception as exc:
                gbifutils = sys.modules.get("pygbif.gbifutils")
                if gbifutils and isinstance(exc, gbifutils.NoResultException):
                    # pygbif insists on exactly `application/json`; a proxy's error page is not.
                    raise HarvestError(f"{what}: GBIF's answer was not JSON ({exc})") from exc
                raise
            if reached and not idempotent:
                raise HarvestError(f"{what}: {problem}; not sent again, as GBIF may have acted")
            if attempt + 1 < attempts:
                delay = self._delay_s(attempt, hint, what)
                log.warning("%s: %s; retrying in %.1f s", what, problem, delay)
                await asyncio.sleep(delay)
        elapsed = time.monotonic() - started
        raise HarvestError(
            f"{what}: {problem}; gave up after {attempts} attempts in {elapsed:.0f} s"
        )


def _excerpt(response: requests.Response | None) -> str:
    if response is None:
        return "no response"
    text = " ".join(response.text.split())
    return text[:300] or "(empty body)"


def _reason(exc: BaseException) -> str:
    """The OS-level cause inside urllib3's long message, e.g. `[Errno 111] Connection refused`."""
    found = re.search(r"\[Errno -?\d+\] [^'\")]+", str(exc))
    return found.group(0) if found else type(exc).__name__


# -- GBIF's query language: node.toml predicate -> search parameters and download JSON ----
COL_XR_CHECKLIST = "7ddf754f-d193-4cc9-b351-99906754a03b"  # pygbif 0.7's default taxonomy
_VALUES = {  # filter -> (search parameter, download predicate key)
    "country": ("country", "COUNTRY"),
    "taxon_key": ("taxonKey", "TAXON_KEY"),
    "scientific_name": ("scientificName", "SCIENTIFIC_NAME"),
    "dataset_key": ("datasetKey", "DATASET_KEY"),
    "basis_of_record": ("basisOfRecord", "BASIS_OF_RECORD"),
}
_RANGES = {  # filter -> (search parameter, download key, |limit| of a coordinate)
    "year": ("year", "YEAR", None),
    "decimal_latitude": ("decimalLatitude", "DECIMAL_LATITUDE", 90.0),
    "decimal_longitude": ("decimalLongitude", "DECIMAL_LONGITUDE", 180.0),
}
PREDICATE_KEYS = (*_VALUES, *_RANGES, "bbox", "geometry", "has_coordinate", "checklist_key")
# GBIF's own spellings work too: taxonKey, basisOfRecord, decimalLatitude, ...
_ALIASES = {re.sub(r"_([a-z])", lambda m: m.group(1).upper(), k): k for k in PREDICATE_KEYS}


@dataclass(frozen=True)
class GbifQuery:
    """One query in both of GBIF's dialects: search parameters and a download predicate."""

    search_params: dict[str, Any]
    download_predicate: dict[str, Any]
    checklist_key: str | None = None


def _values(key: str, value: Any, where: str) -> list[Any]:
    values = list(value) if isinstance(value, list | tuple) else [value]
    if not values or any(v in (None, "") for v in values):
        raise InvalidInput(f"{where}: give a value or a list of values")
    if key == "country":
        values = [str(v).strip().upper() for v in values]
        if any(not re.fullmatch(r"[A-Z]{2}", v) for v in values):
            raise InvalidInput(f"{where}: countries are ISO 3166 two-letter codes, e.g. 'CN', 'VN'")
    if key == "basis_of_record":  # Darwin Core's PreservedSpecimen is GBIF's PRESERVED_SPECIMEN
        values = [
            v if v.isupper() else re.sub(r"(?<!^)(?=[A-Z])", "_", v).upper()
            for v in map(str, values)
        ]
    return values


def _range(value: Any, where: str, key: str) -> tuple[str, str]:
    parts = value if isinstance(value, list | tuple) else str(value).split(",")
    limit = _RANGES[key][2]
    try:
        bounds = [int(p) if limit is None else float(p) for p in parts]
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{where}: {value!r} is not a number or a [low, high] range") from exc
    if len(bounds) not in (1, 2) or bounds[0] > bounds[-1]:
        raise InvalidInput(f"{where}: give one value or [low, high] with low <= high")
    if limit is not None and not -limit <= bounds[0] <= bounds[-1] <= limit:
        raise InvalidInput(f"{where}: {value!r} lies outside -{limit:g}..{limit:g}")
    return str(bounds[0]), str(bounds[-1])


def _range_predicate(key: str, low: str, high: str) -> dict[str, Any]:
    if low == high:
        return {"type": "equals", "key": key, "value": low}
    return {
        "type": "and",
        "predicates": [
            {"type": "greaterThanOrEquals", "key": key, "value": low},
            {"type": "lessThanOrEquals", "key": key, "value": high},
        ],
    }


def _geometry(value: Any, where: str) -> str:
    """GBIF wants polygons wound counter-clockwise; pygbif's `wkt_rewind` fixes the order."""
    wkt = " ".join(str(value).split())
    if not re.match(r"(?i)^(MULTI)?POLYGON\s*\(", wkt):
        raise InvalidInput(f"{where}: a WKT POLYGON or MULTIPOLYGON, e.g. 'POLYGON((104 21, ...))'")
    digits = max((len(d) for d in re.findall(r"\.(\d+)", wkt)), default=0)
    try:
        return str(import_pygbif().utils.wkt_rewind(wkt, digits=digits))
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise InvalidInput(f"{where}: not valid WKT ({exc})") from exc


def translate(predicate: Mapping[str, Any]) -> GbifQuery:
    """node.toml's `predicate = {...}` -> GBIF search parameters and download predicate.

    Filters combine with AND; a list inside one filter means any of its values (OR).
    """
    search: dict[str, Any] = {}
    parts: list[dict[str, Any]] = []
    checklist: str | None = None
    items = list(predicate.items())
    for raw, value in items:
        key, where = _ALIASES.get(raw, raw), f"predicate.{raw}"
        if key == "bbox":  # [min_lon, min_lat, max_lon, max_lat]: two coordinate ranges
            if not isinstance(value, list | tuple) or len(value) != 4:
                raise InvalidInput(f"{where}: [min_lon, min_lat, max_lon, max_lat] in degrees")
            items += [("decimal_longitude", value[0::2]), ("decimal_latitude", value[1::2])]
        elif key in _VALUES:
            values = _values(key, value, where)
            param, name = _VALUES[key]
            search[param] = values if len(values) > 1 else values[0]
            parts.append(
                {"type": "in", "key": name, "values": [str(v) for v in values]}
                if len(values) > 1
                else {"type": "equals", "key": name, "value": str(values[0])}
            )
        elif key in _RANGES:
            low, high = _range(value, where, key)
            param, name, _ = _RANGES[key]
            search[param] = low if low == high else f"{low},{high}"
            parts.append(_range_predicate(name, low, high))
        elif key == "geometry":
            search["geometry"] = wkt = _geometry(value, where)
            parts.append({"type": "within", "geometry": wkt})
        elif key == "has_coordinate":
            search["hasCoordinate"] = bool(value)
            parts.append(
                {"type": "equals", "key": "HAS_COORDINATE", "value": str(bool(value)).lower()}
            )
        elif key == "checklist_key":
            checklist = str(value)
        else:
            raise InvalidInput(f"{where}: unknown filter; known: {', '.join(PREDICATE_KEYS)}")
    if not parts:
        raise InvalidInput("predicate has no filter: that would ask for all of GBIF")
    taxa = search.get("taxonKey")
    if taxa is not None and checklist is None:
        # Numeric keys are GBIF Backbone keys; others are Catalogue of Life (COL XR) ids.
        numeric = all(str(k).isdigit() for k in (taxa if isinstance(taxa, list) else [taxa]))
        checklist = None if numeric else COL_XR_CHECKLIST
    # Always explicit: pygbif 0.7 otherwise adds COL XR to every search, whatever the keys.
    search["checklistKey"] = checklist
    return GbifQuery(search, {"type": "and", "predicates": parts}, checklist)
