"""Agreement endpoints: a party reads the document; a party posts its countersignature.

Both require a signed request from a key the agreement itself pins for a party, whether
or not the agreement is active yet: countersigning is how it becomes active.
"""

from __future__ import annotations

import datetime as dt

from aiohttp import web

from agreements.parse import parse_agreement
from agreements.signing import add_signature, verify_signatures
from node.core.errors import (
    AgreementDenied,
    InvalidAgreement,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from node.server.jsonbody import parse_json_body
from node.server.sharing import SHARING, Sharing
from node.store.agreement_book import HeldAgreement
from node.store.store import write_atomic
from node.wire.auth import verify_request


async def _party(request: web.Request, sharing: Sharing) -> tuple[HeldAgreement, str]:
    agreement_id = request.match_info["agreement"]
    sharing.book.refresh()
    entry = sharing.book.get(agreement_id)
    if entry is None or entry.agreement is None:
        raise NotFound(f"no agreement {agreement_id!r} on this node")
    keys = {p.key: p.id for p in entry.agreement.parties}
    # As for archives: a request signed for another node's URL is refused here.
    origins = [sharing.config.url] if sharing.config.url else None
    peer = await verify_request(
        request,
        lambda keyid: keyid if keyid in keys else None,
        sharing.nonces,
        own_origins=origins,
    )
    if peer is None:
        raise Unauthenticated("agreements are shown only to their parties; sign the request")
    return entry, keys[peer.key]


async def get_agreement(request: web.Request) -> web.Response:
    entry, _ = await _party(request, request.app[SHARING])
    return web.Response(
        body=entry.path.read_bytes(), content_type="application/toml", charset="utf-8"
    )


async def post_signature(request: web.Request) -> web.Response:
    """Body: {"party": id, "version": n, "signature": base64} from that party's node."""
    sharing = request.app[SHARING]
    entry, party = await _party(request, sharing)
    assert entry.agreement is not None
    body = parse_json_body(await request.read())
    if not isinstance(body, dict) or not {"party", "version", "signature"} <= set(body):
        raise InvalidInput('body must be {"party": ..., "version": ..., "signature": ...}')
    if body["party"] != party:
        raise AgreementDenied(f"the request is signed by {party!r}, not {body['party']!r}")
    if body["version"] != entry.agreement.version:
        raise InvalidAgreement(
            f"this node holds version {entry.agreement.version}, the signature is for "
            f"version {body['version']}: exchange the current document first"
        )
    text = add_signature(entry.path.read_text(encoding="utf-8"), party, str(body["signature"]))

    candidate = parse_agreement(text, entry.path.name, base_dir=entry.path.parent)
    if verify_signatures(candidate).get(party) is not True:
        raise InvalidAgreement(
            f"the signature does not verify for {party!r} over version {entry.agreement.version}"
        )
    write_atomic(entry.path, text.encode("utf-8"))
    sharing.book.refresh(force=True)
    sharing.audit.append(
        "agreement",
        peer=party,
        agreement=candidate.ref,
        agreement_sha256=candidate.sha256,
        detail=f"countersigned by {party}",
    )
    state = candidate.status(dt.datetime.now(dt.UTC))
    return web.json_response(
        {"agreement": candidate.ref, "status": state.status.value, "reason": state.reason}
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/agreements/{agreement}", get_agreement)
    app.router.add_post("/agreements/{agreement}/signatures", post_signature)
