"""The steps every archive harvester takes, whoever publishes the archive (a partner node,
a GBIF IPT): stream the body to disk under the size cap, refuse what is not a zip, read it
into the stored layout with its extensions beside it, and say in one line what went wrong.
One copy, so a cap or a refusal tightened for one kind of source holds for every kind."""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import aiohttp
import pyarrow as pa

from harvesters.http import refuse_encoded
from mappings.sources import open_source
from node.core import constants
from node.core.errors import ArchiveTooLarge, HarvestError, InvalidArchive, NodeError
from node.dwca.extension_tables import extract_extensions
from node.dwca.reader import open_archive
from node.store.records import to_stored_layout

log = logging.getLogger("fednode.harvest")


def explain_failure(exc: BaseException) -> str:
    """A failure in words for the run log; unexpected errors keep their type's name."""
    if isinstance(exc, NodeError):
        return exc.detail
    if isinstance(exc, (ValueError, pa.ArrowException)):
        return f"the archive could not be read: {type(exc).__name__}: {exc}"
    if isinstance(exc, (aiohttp.ClientError, OSError, TimeoutError)):
        return f"{type(exc).__name__}: {exc}"
    log.exception("unexpected error while harvesting")
    return f"unexpected {type(exc).__name__}: {exc} (see the node's log)"


def normalised_batches(
    archive: Path, kind: str, provenance: Mapping[str, object], workdir: Path
) -> Iterator[pa.Table]:

    source = open_source(archive, dataset_type=kind or "occurrence", workdir=workdir)
    empty = True
    for batch in source.batches():
        empty = False
        yield to_stored_layout(batch, provenance)
    if empty:
        # The peer shares no records (say its agreement now filters them all): store none.
        yield to_stored_layout(pa.table({source.id_term: pa.array([], pa.string())}), provenance)


def store_extensions(archive: Path, snapshot: Path, workdir: Path) -> None:
    """The archive's extensions, each its own table beside the records, swapped in with them."""
    with open_archive(archive, workdir) as opened:
        extract_extensions(opened, snapshot)


def require_zip(dataset_id: str, archive: Path) -> None:
    """A peer's archive is a zip DwC-A; anything else (an HTML error page) is refused."""
    if zipfile.is_zipfile(archive):
        return
    with open(archive, "rb") as handle:
        head = handle.read(32)
    raise InvalidArchive(
        f"{dataset_id}: the peer sent {archive.stat().st_size:,} bytes that are not a zip "
        f"archive (they start with {head!r}); keeping the last good copy"
    )


async def receive_archive(
    response: aiohttp.ClientResponse,
    target: Path,
    *,
    name: str,
    sender: str,
    prefix: str,
    conditional: bool,
) -> str | None:
    """The archive's SHA-256 once streamed to `target`, or None when a conditional GET got
    304. A 304 nobody asked for, a redirect, any other status or an encoded body is refused
    (`prefix` leads those messages; `sender` names who answered)."""
    if response.status == 304:
        if not conditional:
            raise HarvestError(
                f"{prefix}the {sender} answered 304 Not Modified to a request that was not "
                "conditional; nothing is held here to keep"
            )
        return None
    if 300 <= response.status < 400:
        raise HarvestError(
            f"{prefix}the {sender} answered HTTP {response.status} (a redirect to "
            f"{response.headers.get('Location', 'nowhere')[:120]!r}); redirects are not followed"
        )
    if response.status != 200:
        raise HarvestError(f"{prefix}HTTP {response.status}: {await error_detail(response)}")
    refuse_encoded(response, name)
    return await stream_to_file(response, target)


async def stream_to_file(response: aiohttp.ClientResponse, target: Path) -> str:
    """Stream the body to disk under the size cap; return its SHA-256 hex digest."""
    declared = response.content_length
    if declared is not None and declared > constants.MAX_ARCHIVE_BYTES:
        raise ArchiveTooLarge(
            f"peer announces {declared:,} bytes; the limit is {constants.MAX_ARCHIVE_BYTES:,}"
        )
    digest = hashlib.sha256()
    size = 0
    with open(target, "wb") as out:
        async for chunk in response.content.iter_chunked(constants.UNPACK_CHUNK_BYTES):
            size += len(chunk)
            if size > constants.MAX_ARCHIVE_BYTES:
                raise ArchiveTooLarge(
                    f"archive exceeds {constants.MAX_ARCHIVE_BYTES:,} bytes; download stopped"
                )
            digest.update(chunk)
            out.write(chunk)
    if declared is not None and size != declared:
        raise aiohttp.ClientPayloadError(
            f"body ended after {size:,} of {declared:,} bytes (peer died mid-transfer?)"
        )
    return digest.hexdigest()


async def error_detail(response: aiohttp.ClientResponse) -> str:
    """One line from an error body, read under a small cap and never decompressed."""
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        return f"(a {encoding}-encoded body, not read)"
    try:
        body = await response.content.read(constants.MAX_ERROR_BODY_BYTES)
    except (aiohttp.ClientError, TimeoutError) as exc:
        return f"(body unreadable: {type(exc).__name__})"
    text = body.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
        detail = data.get("detail") or data.get("error") or data
    except (ValueError, AttributeError):
        detail = text
    return " ".join(str(detail).split())[:200]
