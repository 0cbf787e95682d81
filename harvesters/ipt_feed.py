"""An IPT's public RSS feed (`<ipt>/rss.do`) read as the list of resources to harvest.

Each published resource is one `<item>` carrying its archive (`ipt:dwca`), metadata
(`ipt:eml`), `guid` (`<uuid>/v<version>`) and `pubDate`. The feed is untrusted: it is
parsed with the same DTD-free, size-capped parser as an archive's EML, anything that is not
an RSS document (an HTML error page, a login form, malformed XML) is refused whole with one
line saying why, and an archive link to another origin than the IPT's own is refused, so a
feed cannot point this node at other hosts or at its own loopback-only pages.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from node.core import constants
from node.core.config import is_valid_id
from node.core.errors import HarvestError, NodeError
from node.dwca.eml import _children, _local, _parse, _text

IPT_NS = "http://ipt.gbif.org/"
FEED_PATH = "/rss.do"


@dataclass(frozen=True)
class IptResource:
    """One item of the feed: where its archive is and which version it announces."""

    name: str  # the resource's short name, lower-cased: the stored dataset's id
    title: str
    dwca_url: str
    eml_url: str
    guid: str
    published: str  # the item's pubDate as the IPT wrote it (RFC 822), or ""


def feed_url(base: str) -> str:
    """The feed of an IPT given by its base URL (or by the feed's own URL)."""
    base = base.strip().rstrip("/")
    return base if base.endswith(FEED_PATH) else base + FEED_PATH


def _origin(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _short_name(dwca_url: str) -> str:
    """The IPT names a resource by `?r=<shortname>` in every link it writes."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(dwca_url).query)
    names = query.get("r", [])
    return names[0].lower() if len(names) == 1 else ""


def parse_feed(body: bytes, base: str) -> tuple[list[IptResource], list[str]]:
    """Resources the feed lists, and one line per item refused (with its reason).

    Raises HarvestError when the body is not an IPT-shaped RSS feed at all: the caller then
    keeps every resource's last good snapshot.
    """
    where = feed_url(base)
    if len(body) > constants.MAX_LISTING_BYTES:
        raise HarvestError(
            f"{where}: the feed is {len(body):,} bytes; the limit is "
            f"{constants.MAX_LISTING_BYTES:,}, so it is refused whole"
        )
    head = body.lstrip()[:200].lower()
    if head.startswith((b"<!doctype html", b"<html")):
        raise HarvestError(f"{where}: the answer is an HTML page, not the IPT's RSS feed")
    try:
        root = _parse(body, where)
    except NodeError as exc:
        raise HarvestError(f"not an RSS feed: {exc.detail}") from None
    channel = next(iter(_children(root, "channel")), None)
    if _local(root.tag) != "rss" or channel is None:
        raise HarvestError(
            f"{where}: the document's root is <{_local(root.tag)}>, not an RSS <rss><channel>"
        )
    items = _children(channel, "item")
    if len(items) > constants.MAX_LISTED_DATASETS:
        raise HarvestError(
            f"{where}: the feed lists {len(items):,} resources; the limit is "
            f"{constants.MAX_LISTED_DATASETS:,}, so it is refused whole"
        )
    origin = _origin(where)
    found: list[IptResource] = []
    refused: list[str] = []
    seen: set[str] = set()
    for item in items:
        title = _text(next(iter(_children(item, "title")), None))
        dwca = _text(item.find(f"{{{IPT_NS}}}dwca"))
        if not dwca:
            continue  # a metadata-only resource: nothing to harvest
        name = _short_name(dwca)
        shown = name or repr(dwca[:80])
        if _origin(dwca) != origin:
            refused.append(f"{shown}: its archive link {dwca[:120]!r} leaves the IPT's origin")
        elif not is_valid_id(name):
            refused.append(
                f"{shown}: the short name is not a usable id (2-63 letters, digits, - or _)"
            )
        elif name in seen:
            refused.append(f"{name}: listed twice (short names are compared lower-cased)")
        else:
            seen.add(name)
            found.append(
                IptResource(
                    name,
                    title,
                    dwca,
                    _text(item.find(f"{{{IPT_NS}}}eml")),
                    _text(next(iter(_children(item, "guid")), None)),
                    _text(next(iter(_children(item, "pubDate")), None)),
                )
            )
    return found, refused
