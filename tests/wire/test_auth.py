"""Request signing between nodes, over real HTTP on 127.0.0.1.

A tiny node answers `/whoami` with the peer `verify_request` found, or with the JSON error
the real server sends; harvester-side code signs with `sign_headers` or the middleware.
"""

from __future__ import annotations

import base64
import logging
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from http_message_signatures import HTTPMessageSigner, HTTPSignatureKeyResolver, algorithms

from node.core.constants import PURPOSE_HEADER, SIGNATURE_MAX_AGE_S
from node.core.errors import InvalidInput, NodeError, Unauthenticated
from node.core.identity import Identity
from node.store import state
from node.wire.auth import new_nonce, sign_headers, signing_middleware, target_uri, verify_request
from node.wire.nonces import NONCE_WINDOW_S, NonceCache

log = logging.getLogger("fednode.test.node")


class TinyNode:
    """One route behind `verify_request`; NodeError becomes the wire's JSON error."""

    def __init__(self, home: Path, pinned: set[str], **verify_options: Any) -> None:
        self.home = home
        self.pinned = pinned
        self.verify_options = verify_options
        self.url = ""

    def keys(self, keyid: str) -> str | None:
        return keyid if keyid in self.pinned else None

    async def whoami(self, request: web.Request) -> web.Response:
        try:
            peer = await verify_request(request, self.keys, self.nonces, **self.verify_options)
        except NodeError as exc:
            log.warning("refused %s %s: %s", request.method, request.path_qs, exc.detail)
            return web.json_response({"error": exc.code, "detail": exc.detail}, status=exc.status)
        log.info("request from %s", peer.fingerprint if peer else "anonymous")
        return web.json_response({"peer": peer.fingerprint if peer else None})

    async def start(self) -> None:
        self.conn = state.connect(self.home)
        self.nonces = NonceCache(self.conn)
        app = web.Application()
        app.router.add_route("*", "/whoami", self.whoami)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/whoami"

    async def stop(self) -> None:
        await self.runner.cleanup()
        self.conn.close()


def new_identity() -> Identity:
    return Identity(Ed25519PrivateKey.generate())


@pytest.fixture
def peer() -> Identity:
    return new_identity()


@pytest.fixture
async def node(tmp_path: Path, peer: Identity):
    tiny = TinyNode(tmp_path, {peer.public_key_text})
    await tiny.start()
    yield tiny
    await tiny.stop()


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as client:
        yield client


async def call(
    session: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    async with session.request(method, url, headers=headers) as response:
        return response.status, await response.json()


def craft(identity: Identity, method: str, url: str, **overrides: Any) -> dict[str, str]:
    """Headers signed by the library directly, to send what `sign_headers` never would."""

    class Keys(HTTPSignatureKeyResolver):
        def resolve_private_key(self, key_id: str) -> Ed25519PrivateKey:
            return identity.private_key

    options: dict[str, Any] = {
        "key_id": identity.public_key_text,
        "nonce": new_nonce(),
        "label": "fednode",
        "tag": "fednode",
        "covered_component_ids": ("@method", "@target-uri"),
    }
    options.update(overrides)
    message = SimpleNamespace(method=method, url=url, headers={})
    signer = HTTPMessageSigner(signature_algorithm=algorithms.ED25519, key_resolver=Keys())
    signer.sign(message, **options)
    return message.headers


async def test_verify_request__signed_request_identifies_the_peer(node, session, peer):
    status, body = await call(session, "GET", node.url, sign_headers("GET", node.url, peer))
    assert (status, body) == (200, {"peer": peer.fingerprint})


async def test_verify_request__unsigned_request_is_anonymous(node, session):
    assert await call(session, "GET", node.url) == (200, {"peer": None})


async def test_verify_request__tampered_signature_is_401(node, session, peer):
    headers = sign_headers("GET", node.url, peer)
    signature = bytearray(base64.b64decode(headers["Signature"].split(":")[1]))
    signature[0] ^= 1
    forged = {**headers, "Signature": f"fednode=:{base64.b64encode(signature).decode()}:"}
    status, body = await call(session, "GET", node.url, forged)
    assert status == 401
    assert body["error"] == "unauthenticated"
    assert "does not match this request" in body["detail"]


async def test_verify_request__tampered_signature_input_is_401(node, session, peer):
    headers = sign_headers("GET", node.url, peer)
    old_nonce = headers["Signature-Input"].split('nonce="')[1].split('"')[0]
    forged = {
        **headers,
        "Signature-Input": headers["Signature-Input"].replace(old_nonce, new_nonce()),
    }
    status, _ = await call(session, "GET", node.url, forged)
    assert status == 401


async def test_verify_request__signature_for_another_url_is_401(node, session, peer):
    headers = sign_headers("GET", node.url + "?dataset=gxib-karst-flora", peer)
    status, body = await call(session, "GET", node.url, headers)
    assert status == 401, body


async def test_verify_request__signature_for_another_method_is_401(node, session, peer):
    status, body = await call(session, "POST", node.url, sign_headers("GET", node.url, peer))
    assert status == 401, body


async def test_verify_request__stale_created_is_401(node, session, peer):
    created = int(time.time()) - SIGNATURE_MAX_AGE_S - 1
    headers = sign_headers("GET", node.url, peer, created=created)
    status, body = await call(session, "GET", node.url, headers)
    assert status == 401
    assert f"more than the {SIGNATURE_MAX_AGE_S} s allowed" in body["detail"]


async def test_verify_request__created_in_the_future_is_401(node, session, peer):
    headers = sign_headers("GET", node.url, peer, created=int(time.time()) + 120)
    status, body = await call(session, "GET", node.url, headers)
    assert status == 401
    assert "in the future" in body["detail"]


async def test_verify_request__small_clock_skew_is_accepted(node, session, peer):
    headers = sign_headers("GET", node.url, peer, created=int(time.time()) + 10)
    assert (await call(session, "GET", node.url, headers))[0] == 200


async def test_verify_request__replayed_request_is_401(node, session, peer):
    headers = sign_headers("GET", node.url, peer)
    assert (await call(session, "GET", node.url, headers))[0] == 200
    status, body = await call(session, "GET", node.url, headers)
    assert status == 401
    assert "replay" in body["detail"]


async def test_verify_request__replay_is_refused_after_restart(tmp_path, session, peer):
    first = TinyNode(tmp_path, {peer.public_key_text})
    await first.start()
    headers = sign_headers("GET", first.url, peer)
    assert (await call(session, "GET", first.url, headers))[0] == 200
    await first.stop()

    # Same state.sqlite, fresh process state; same port so the signed URL still matches.
    second = TinyNode(tmp_path, {peer.public_key_text})
    second.conn = state.connect(tmp_path)
    second.nonces = NonceCache(second.conn)
    app = web.Application()
    app.router.add_route("*", "/whoami", second.whoami)
    second.runner = web.AppRunner(app)
    await second.runner.setup()
    port = int(first.url.split(":")[2].split("/")[0])
    await web.TCPSite(second.runner, "127.0.0.1", port).start()
    try:
        status, body = await call(session, "GET", first.url, headers)
    finally:
        await second.stop()
    assert status == 401
    assert "replay" in body["detail"]


async def test_verify_request__valid_signature_from_unpinned_key_is_403(node, session):
    stranger = new_identity()
    status, body = await call(session, "GET", node.url, sign_headers("GET", node.url, stranger))
    assert status == 403
    assert body["error"] == "forbidden"
    assert "no agreement pins this key" in body["detail"]
    assert stranger.fingerprint in body["detail"]


async def test_verify_request__bad_signature_from_unpinned_key_is_401(node, session):
    stranger = new_identity()
    headers = sign_headers("GET", node.url, stranger)
    status, _ = await call(session, "POST", node.url, headers)
    assert status == 401


async def test_verify_request__unpinned_key_does_not_fill_the_nonce_cache(node, session):
    stranger = new_identity()
    await call(session, "GET", node.url, sign_headers("GET", node.url, stranger))
    assert len(node.nonces) == 0


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"nonce": None}, "nonce"),
        ({"nonce": "abc"}, "nonce"),
        ({"tag": "another-federation"}, "tag"),
        ({"include_alg": False}, "alg"),
        ({"covered_component_ids": ("@method",)}, "@target-uri"),
        ({"covered_component_ids": ("@target-uri",)}, "@method"),
    ],
)
async def test_verify_request__profile_violations_are_401(node, session, peer, overrides, expected):
    status, body = await call(session, "GET", node.url, craft(peer, "GET", node.url, **overrides))
    assert status == 401
    assert expected in body["detail"]


async def test_verify_request__fingerprint_as_keyid_is_401(node, session, peer):
    headers = craft(peer, "GET", node.url, key_id=peer.fingerprint)
    status, body = await call(session, "GET", node.url, headers)
    assert status == 401
    assert "keyid must be the signer's public key" in body["detail"]


async def test_verify_request__signature_without_signature_input_is_401(node, session, peer):
    headers = sign_headers("GET", node.url, peer)
    status, _ = await call(session, "GET", node.url, {"Signature": headers["Signature"]})
    assert status == 401


async def test_verify_request__forwarded_https_needs_trusted_proxy(tmp_path, session, peer):
    for trusted, expected in ((False, 401), (True, 200)):
        tiny = TinyNode(
            tmp_path / str(trusted), {peer.public_key_text}, trust_forwarded_proto=trusted
        )
        tiny.home.mkdir()
        await tiny.start()
        try:
            public_url = tiny.url.replace("http://", "https://")
            headers = {**sign_headers("GET", public_url, peer), "X-Forwarded-Proto": "https"}
            status, body = await call(session, "GET", tiny.url, headers)
        finally:
            await tiny.stop()
        assert status == expected, body


async def test_verify_request__request_signed_for_another_node_is_401(tmp_path, session, peer):
    tiny = TinyNode(tmp_path, {peer.public_key_text}, own_origins=["http://node-a.example"])
    await tiny.start()
    try:
        ours = sign_headers("GET", "http://node-a.example/whoami", peer)
        status_ours, _ = await call(session, "GET", tiny.url, {**ours, "Host": "node-a.example"})
        theirs = sign_headers("GET", "http://node-b.example/whoami", peer)
        status, body = await call(session, "GET", tiny.url, {**theirs, "Host": "node-b.example"})
    finally:
        await tiny.stop()
    assert status_ours == 200
    assert status == 401
    assert "not this node" in body["detail"]


async def test_sign_headers__query_with_spaces_and_chinese_verifies(node, session, peer):
    url = node.url + "?name=Paphiopedilum hirsutissimum&vernacular=带叶兜兰"
    status, body = await call(session, "GET", url, sign_headers("GET", url, peer))
    assert (status, body) == (200, {"peer": peer.fingerprint})


async def test_sign_headers__header_format(peer):
    headers = sign_headers("get", "http://Node.GXIB.example:80/datasets", peer, created=1767225600)
    assert set(headers) == {"Signature-Input", "Signature"}
    assert headers["Signature-Input"].startswith(
        f'fednode=("@method" "@target-uri");created=1767225600;keyid="{peer.public_key_text}";'
        'alg="ed25519";nonce="'
    )
    assert headers["Signature-Input"].endswith(';tag="fednode"')
    assert headers["Signature"].startswith("fednode=:")


async def test_sign_headers__purpose_is_sent_and_covered(node, session, peer):
    headers = sign_headers("GET", node.url, peer, created=int(time.time()), purpose="research")
    assert set(headers) == {PURPOSE_HEADER, "Signature-Input", "Signature"}
    assert headers[PURPOSE_HEADER] == "research"
    assert headers["Signature-Input"].startswith(
        'fednode=("@method" "@target-uri" "fednode-purpose");'
    )
    status, body = await call(session, "GET", node.url, headers)
    assert (status, body) == (200, {"peer": peer.fingerprint})


async def test_verify_request__purpose_changed_or_added_after_signing_is_401(node, session, peer):
    changed = {**sign_headers("GET", node.url, peer, purpose="research"), PURPOSE_HEADER: "x"}
    added = {**sign_headers("GET", node.url, peer), PURPOSE_HEADER: "research"}
    status, body = await call(session, "GET", node.url, changed)
    assert status == 401
    assert "purpose" in body["detail"]
    status, body = await call(session, "GET", node.url, added)
    assert status == 401
    assert '"fednode-purpose" was not covered' in body["detail"]


def test_sign_headers__purpose_must_be_one_lower_case_word(peer):
    with pytest.raises(InvalidInput, match="one lower-case word"):
        sign_headers("GET", "http://node.example/", peer, purpose="Research, commercial")


def test_target_uri__matches_what_aiohttp_sends():
    assert target_uri("HTTP://Node.example:80/a b?q=x y") == "http://node.example/a%20b?q=x+y"
    assert target_uri("https://node.example:8443") == "https://node.example:8443/"
    with pytest.raises(InvalidInput):
        target_uri("/datasets")


async def test_signing_middleware__signs_every_request_afresh(node, peer):
    async with aiohttp.ClientSession(middlewares=(signing_middleware(peer),)) as signed:
        for _ in range(2):
            async with signed.get(node.url, params={"lang": "vi"}) as response:
                assert response.status == 200
                assert await response.json() == {"peer": peer.fingerprint}


async def test_signing_middleware__covers_the_request_purpose(node, peer):
    async with (
        aiohttp.ClientSession(middlewares=(signing_middleware(peer),)) as signed,
        signed.get(node.url, headers={PURPOSE_HEADER: "research"}) as response,
    ):
        assert response.status == 200
        assert await response.json() == {"peer": peer.fingerprint}


async def test_verify_request__secrets_never_logged(node, session, peer, caplog):
    caplog.set_level(logging.DEBUG)
    raw = peer.private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    pem = peer.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    pem_body = "".join(pem.decode().splitlines()[1:-1])
    secrets = [base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode(), raw.hex()]
    secrets += [pem_body, pem_body[20:60]]

    seen: list[str] = [repr(peer), str(peer)]
    headers = sign_headers("GET", node.url, peer)
    for method, sent in (("GET", headers), ("GET", headers), ("POST", headers)):
        _, body = await call(session, method, node.url, sent)
        seen.append(str(body))
    try:
        sign_headers("GET", "/relative", peer)
    except InvalidInput as exc:
        log.exception("signing failed for %r", peer)
        seen.append(str(exc))

    seen.append(caplog.text)
    seen.extend(str(record.args) for record in caplog.records)
    assert any("replay" in text for text in seen)  # the failure paths did run
    for text in seen:
        for secret in secrets:
            assert secret not in text


def test_nonce_cache__refuses_a_nonce_twice_per_key(tmp_path):
    cache = NonceCache(state.connect(tmp_path))
    now = time.time()
    cache.check_and_remember("ed25519:a", "n" * 22, int(now), now)
    cache.check_and_remember("ed25519:b", "n" * 22, int(now), now)  # another key may
    with pytest.raises(Unauthenticated, match="replay"):
        cache.check_and_remember("ed25519:a", "n" * 22, int(now), now + 1)


def test_nonce_cache__prunes_nonces_older_than_the_window(tmp_path):
    cache = NonceCache(state.connect(tmp_path))
    start = time.time()
    cache.check_and_remember("ed25519:a", "old-nonce-0123456789ab", int(start), start)
    later = start + NONCE_WINDOW_S + 2
    cache.check_and_remember("ed25519:a", "new-nonce-0123456789ab", int(later), later)
    assert len(cache) == 1
    # ...and the pruned one can never come back: its signature is now too old.
    with pytest.raises(Unauthenticated, match="older than"):
        cache.check_and_remember("ed25519:a", "old-nonce-0123456789ab", int(start), later)
