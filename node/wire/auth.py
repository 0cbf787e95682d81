"""Who is asking: RFC 9421 HTTP Message Signatures on every request between nodes.

The profile (the README's "Wire protocol" section):
`ed25519` only, named in `alg` and checked, so there is nothing to downgrade to; covered
components `@method` and `@target-uri`, so a signature is good for one method on one URL
of one node; parameters `created`, `nonce` (128 random bits, base64url), `keyid`, `alg`
and `tag="fednode"`, under the label `fednode`.

A request may declare why it asks in a `Fednode-Purpose` header (one lower-case word such
as `research`, so that a flow limited to purposes sees a purpose the requester signed).
When the header is sent it must be covered too, as the component `fednode-purpose`:
otherwise anyone on the path could turn a refused purpose into an allowed one. Requests
without the header stay valid here; whether a flow needs one is decided by `node.server.sharing`.

`keyid` is the signer's public key text (`ed25519:<base64>`), not its fingerprint. A
self-describing key lets the server check the signature before asking whether an
agreement pins the key, which gives the two refusals distinct, honest meanings: 401 "this
request is not what its key signed" (tampered, stale, replayed, malformed) and 403 "the
signature is good, but no agreement pins this key". With a fingerprint, a request from an
unknown key could not be checked at all, so a forgery and a genuine request from an
unpinned key would look the same. Taking the key from the request is safe because access
is decided by the pin, never by a valid signature alone. People still see fingerprints.

http-message-signatures 3.0 builds and parses the signature base, checks `alg`, the tag,
the covered components and the Ed25519 signature. Its aiohttp middlewares are not used:
they raise one exception for every failure (the node needs anonymous / 401 / 403), take
the target URI from aiohttp's `request.url` with no opt-in proxy trust, read the clock
themselves (tests and the nonce cache need one `now`), and buffer request bodies. The
library does not track nonces (`node.wire.nonces.NonceCache` does) nor decide which keys are
trusted (the `keys` resolver does).

Behind a reverse proxy the server rebuilds `@target-uri` from the scheme, the Host header
and the raw path and query. The proxy must pass the client's Host unchanged (nginx:
`proxy_set_header Host $http_host;`) and, when it terminates TLS, the scheme in
`X-Forwarded-Proto`; the server believes that header only from `[server]
trusted_proxies` (node.wire.proxies rewrites the request's scheme before it gets here; the
`trust_forwarded_proto=True` of this module is for callers without that middleware).
Give `own_origins` (the node's public URLs) so that a request signed for another node and
re-sent here with that node's Host is refused; the signed target is then the configured
origin, never the request's Host.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import secrets
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import hdrs, web
from http_message_signatures import (
    HTTPMessageSignaturesException,
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    InvalidSignature,
    algorithms,
)
from yarl import URL

from node.core.constants import (
    PURPOSE_HEADER,
    PURPOSE_WORD,
    SIGNATURE_CLOCK_SKEW_S,
    SIGNATURE_MAX_AGE_S,
    SIGNATURE_NONCE_BYTES,
)
from node.core.errors import AgreementDenied, InvalidInput, Unauthenticated
from node.core.identity import Identity, fingerprint, parse_public_key
from node.wire.nonces import NonceCache

SIGNATURE_LABEL = "fednode"
SIGNATURE_TAG = "fednode"
COVERED_COMPONENTS = ("@method", "@target-uri")
PURPOSE_COMPONENT = PURPOSE_HEADER.lower()  # covered whenever the purpose header is sent
ALGORITHM = algorithms.ED25519
_NONCE = re.compile(r"^[A-Za-z0-9_-]{22,128}$")  # base64url of >= 128 bits, bounded in size
_DEFAULT_PORTS = {"http": "80", "https": "443"}

KeyResolver = Callable[[str], str | None]
"""keyid (an `ed25519:` key text) -> the key an agreement pins for it, or None."""


@dataclass(frozen=True)
class VerifiedPeer:
    """A request whose signature checked out and whose key an agreement pins."""

    key: str  # the pinned party key text, `ed25519:<base64>`
    keyid: str
    created: int
    nonce: str

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key)


@dataclass
class _Message:
    """The request as http-message-signatures reads it: method, absolute URL, headers."""

    method: str
    url: str
    headers: Any


def new_nonce() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(SIGNATURE_NONCE_BYTES)).decode().rstrip("=")


def target_uri(url: str | URL) -> str:
    """The `@target-uri` of a URL as aiohttp will send it: encoded, no default port."""
    parsed = URL(url) if isinstance(url, str) else url
    if not parsed.absolute or not parsed.host or parsed.scheme not in _DEFAULT_PORTS:
        shown = str(parsed.with_user(None)) if parsed.absolute else str(parsed)
        raise InvalidInput(f"cannot sign {shown!r}: an absolute http(s) URL is needed")
    return f"{parsed.scheme}://{parsed.host_port_subcomponent}{parsed.raw_path_qs}"


class _SigningKey(HTTPSignatureKeyResolver):
    def __init__(self, identity: Identity) -> None:
        self._identity = identity

    def resolve_private_key(self, key_id: str) -> Any:
        if key_id != self._identity.public_key_text:
            raise HTTPMessageSignaturesException("keyid is not this node's public key")
        return self._identity.private_key


def sign_headers(
    method: str,
    url: str | URL,
    identity: Identity,
    *,
    created: int | None = None,
    nonce: str | None = None,
    purpose: str | None = None,
) -> dict[str, str]:
    """`Signature-Input` and `Signature` headers for one request; sign just before sending.

    With a `purpose`, the result also holds the `Fednode-Purpose` header and the signature
    covers it; send all the returned headers as they are.

    Put any query in `url` (not aiohttp's `params=`), so that the signed URL is the sent one.
    aiohttp re-sends these headers on a redirect, which the next URL refuses (401): follow
    redirects by hand or use `signing_middleware`, which signs every hop.
    """
    headers: dict[str, str] = {}
    covered: tuple[str, ...] = COVERED_COMPONENTS
    if purpose is not None:
        headers[PURPOSE_HEADER] = check_purpose(purpose)
        covered = (*COVERED_COMPONENTS, PURPOSE_COMPONENT)
    message = _Message(method.upper(), target_uri(url), headers)
    signer = HTTPMessageSigner(signature_algorithm=ALGORITHM, key_resolver=_SigningKey(identity))
    signer.sign(
        message,
        key_id=identity.public_key_text,
        created=dt.datetime.fromtimestamp(time.time() if created is None else created, dt.UTC),
        nonce=new_nonce() if nonce is None else nonce,
        label=SIGNATURE_LABEL,
        tag=SIGNATURE_TAG,
        include_alg=True,
        covered_component_ids=covered,
    )
    return dict(message.headers)


def signing_middleware(identity: Identity) -> aiohttp.ClientMiddlewareType:
    """Client middleware that signs every request, including each redirect hop and retry.

    A `Fednode-Purpose` header already on the request is covered by the signature.
    `aiohttp.ClientSession(middlewares=(signing_middleware(identity),))`.
    """

    async def sign(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        purpose = request.headers.get(PURPOSE_HEADER)
        signed = sign_headers(request.method, request.url, identity, purpose=purpose)
        for name, value in signed.items():
            request.headers[name] = value
        return await handler(request)

    return sign


def check_purpose(purpose: str) -> str:
    """`purpose` if it is one lower-case word (what flows list), else InvalidInput (400)."""
    if not PURPOSE_WORD.match(purpose):
        raise InvalidInput(
            f"{PURPOSE_HEADER} {purpose[:60]!r} must be one lower-case word, e.g. 'research'"
        )
    return purpose


def declared_purpose(request: web.Request) -> str | None:
    """The purpose the request declares in `Fednode-Purpose`, or None when it declares none.

    For a signed request, `verify_request` has already made sure the signature covers it.
    """
    values = request.headers.getall(PURPOSE_HEADER, [])
    if not values:
        return None
    if len(values) > 1:
        raise InvalidInput(f"send one {PURPOSE_HEADER} header, not {len(values)}")
    return check_purpose(values[0].strip())


class _KeyFromKeyid(HTTPSignatureKeyResolver):
    """The verification key is the keyid itself; whether it is trusted is decided later."""

    def resolve_public_key(self, key_id: str) -> Any:
        try:
            return parse_public_key(key_id)
        except InvalidInput as exc:
            raise InvalidSignature(
                f"keyid must be the signer's public key 'ed25519:<base64>' ({exc.detail})"
            ) from None


class _StaleSignature(InvalidSignature):
    """`created` or `expires` out of the window: told apart from a forgery in the audit log."""


class _Verifier(HTTPMessageVerifier):
    """The library's verifier, judging `created` against one given `now`."""

    max_clock_skew = dt.timedelta(seconds=SIGNATURE_CLOCK_SKEW_S)

    def __init__(self, now: float) -> None:
        super().__init__(signature_algorithm=ALGORITHM, key_resolver=_KeyFromKeyid())
        self.now = now

    def validate_created_and_expires(self, sig_input: Any, max_age: Any = None) -> None:
        skew_s = SIGNATURE_CLOCK_SKEW_S
        created = sig_input.params.get("created")
        if type(created) is not int:
            raise _StaleSignature("signature has no integer `created` parameter")
        if created > self.now + skew_s:
            raise _StaleSignature(
                f"signature `created` is {int(created - self.now)} s in the future; "
                "check the signer's clock (NTP)"
            )
        # No skew on this side: a signer whose clock is behind still has most of the
        # window, since requests are signed just before they are sent.
        if created < self.now - SIGNATURE_MAX_AGE_S:
            raise _StaleSignature(
                f"signature is {int(self.now - created)} s old, more than the "
                f"{SIGNATURE_MAX_AGE_S} s allowed; sign each request just before sending it"
            )
        expires = sig_input.params.get("expires")
        if expires is not None and (type(expires) is not int or expires < self.now - skew_s):
            raise _StaleSignature("signature `expires` is in the past")


def request_target_uri(request: web.Request, *, trust_forwarded_proto: bool = False) -> str:
    """`@target-uri` as the client addressed this node: scheme, Host, raw path and query."""
    scheme = request.scheme
    if trust_forwarded_proto and hdrs.X_FORWARDED_PROTO in request.headers:
        forwarded = request.headers[hdrs.X_FORWARDED_PROTO].split(",")[0].strip().lower()
        if forwarded not in _DEFAULT_PORTS:
            raise Unauthenticated(
                f"X-Forwarded-Proto {forwarded!r} is neither http nor https", reason="malformed"
            )
        scheme = forwarded
    hosts = request.headers.getall(hdrs.HOST, [])
    if len(hosts) != 1 or not hosts[0].strip():
        raise Unauthenticated("a signed request needs exactly one Host header", reason="malformed")
    authority = hosts[0].strip().lower()
    default_port = ":" + _DEFAULT_PORTS[scheme]
    if authority.endswith(default_port):
        authority = authority[: -len(default_port)]
    path = request.raw_path
    if not path.startswith("/"):
        raise Unauthenticated(
            "a signed request must use an origin-form target (/path?query)", reason="malformed"
        )
    return f"{scheme}://{authority}{path}"


def _origin(url: str) -> str:
    parsed = URL(url)
    return f"{parsed.scheme}://{parsed.host_port_subcomponent}"


async def verify_request(
    request: web.Request,
    keys: KeyResolver,
    nonces: NonceCache,
    now: float | None = None,
    *,
    trust_forwarded_proto: bool = False,
    own_origins: Collection[str] | None = None,
    why_unpinned: Callable[[str], str] | None = None,
) -> VerifiedPeer | None:
    """The pinned peer that signed this request, or None for an unsigned (anonymous) one.

    `why_unpinned(key)` words the refusal of a good signature by a key no active agreement
    pins (an agreement may pin it and share nothing: the requester deserves the reason).

    Raises `Unauthenticated` (401) for anything wrong with the signature itself, and
    `AgreementDenied` (403) for a good signature by a key no agreement pins. The nonce is
    remembered only for pinned keys, so strangers cannot fill the nonce cache.
    """
    if "Signature-Input" not in request.headers and "Signature" not in request.headers:
        return None
    now = time.time() if now is None else now
    uri = request_target_uri(request, trust_forwarded_proto=trust_forwarded_proto)
    if own_origins is not None:
        origin = _origin(uri)
        if origin not in {_origin(o) for o in own_origins}:
            raise Unauthenticated(
                f"request addressed to {origin}, which is not this node; "
                "a signature is valid only for the node it was made for",
                reason="wrong_node",
            )
        # The signed target is the configured origin: a request's Host only selects it.
        uri = origin + request.raw_path
    message = _Message(request.method, uri, request.headers)
    required: tuple[str, ...] = COVERED_COMPONENTS
    if PURPOSE_HEADER in request.headers:
        # A declared purpose decides what a flow grants: an uncovered one could be swapped.
        required = (*COVERED_COMPONENTS, PURPOSE_COMPONENT)
    try:
        results = _Verifier(now).verify(
            message,
            max_age=dt.timedelta(seconds=SIGNATURE_MAX_AGE_S),
            expect_tag=SIGNATURE_TAG,
            require_components=required,
        )
    except HTTPMessageSignaturesException as exc:
        reason = "stale" if isinstance(exc, _StaleSignature) else "bad_signature"
        raise Unauthenticated(_explain(exc), reason=reason) from None
    if len(results) != 1:
        raise Unauthenticated(
            f"{len(results)} signatures tagged {SIGNATURE_TAG!r}; send one", reason="malformed"
        )
    params = results[0].parameters
    if params.get("alg") != ALGORITHM.algorithm_id:
        raise Unauthenticated(
            f"signature must name alg={ALGORITHM.algorithm_id!r}", reason="malformed"
        )
    nonce = params.get("nonce")
    if not isinstance(nonce, str) or not _NONCE.fullmatch(nonce):
        raise Unauthenticated(
            "signature needs a `nonce` of at least 128 random bits, base64url",
            reason="malformed",
        )
    keyid, created = str(params["keyid"]), int(params["created"])
    pinned = keys(keyid)
    if pinned is None:
        reason = why_unpinned(keyid) if why_unpinned else "no agreement pins this key"
        raise AgreementDenied(
            f"{reason} (fingerprint {fingerprint(keyid)}); "
            "ask the node's administrator to sign an agreement naming it",
            reason="unknown_key",
        )
    try:
        same_key = _raw(pinned) == _raw(keyid)
    except InvalidInput:
        same_key = False
    if not same_key:
        raise AgreementDenied(
            f"the key pinned for this party is not the signing key ({fingerprint(keyid)})",
            reason="unknown_key",
        )
    nonces.check_and_remember(keyid, nonce, created, now)
    return VerifiedPeer(key=pinned, keyid=keyid, created=created, nonce=nonce)


def _raw(key_text: str) -> bytes:
    return parse_public_key(key_text).public_bytes_raw()


def _explain(exc: HTTPMessageSignaturesException) -> str:
    text = str(exc)
    if not text:  # cryptography's InvalidSignature carries no message
        text = (
            "it does not match this request "
            "(method, URL, purpose or signature changed, or wrong key)"
        )
    return f"bad request signature: {text}"
