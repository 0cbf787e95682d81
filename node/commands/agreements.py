"""`fednode peer add` and `fednode agreement new|check|sign|send`."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import click
import tomlkit

from node.cli import home_option, main
from node.errors import InvalidInput, NodeError


def _fetch_well_known(url: str) -> dict[str, object]:
    import aiohttp

    from harvesters.http import client_session
    from node.constants import WELL_KNOWN_PATH

    async def fetch() -> dict[str, object]:
        async with client_session() as session:
            async with session.get(url.rstrip("/") + WELL_KNOWN_PATH) as response:
                if response.status != 200:
                    raise InvalidInput(f"{url}: {WELL_KNOWN_PATH} answered HTTP {response.status}")
                return dict(await response.json())

    try:
        return asyncio.run(fetch())
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise InvalidInput(f"cannot reach {url}: {exc}") from exc


@main.group()
def peer() -> None:
    """Partner nodes this node harvests."""


@peer.command("add")
@home_option
@click.argument("url")
@click.option("--fingerprint", "expected", default="", help="Refuse the peer unless its key has this fingerprint (from the partner, out of band).")
@click.option("--schedule", default="every 6h", show_default=True)
def peer_add(home: Path, url: str, expected: str, schedule: str) -> None:
    """Pin a peer's identity from its /.well-known/fednode and add it to node.toml."""
    from harvesters.schedule import parse_schedule
    from node.config import CONFIG_FILE, load_config
    from node.identity import fingerprint, parse_public_key

    config = load_config(home)
    parse_schedule(schedule)
    info = _fetch_well_known(url)
    key = str(info.get("public_key", ""))
    parse_public_key(key)
    actual = fingerprint(key)
    if expected and expected.replace(":", "").lower() != actual.replace(":", "").lower():
        raise InvalidInput(
            f"{url} presents key fingerprint {actual}, not the expected {expected}; "
            "not pinning it (check with the partner by another channel)"
        )
    peer_id = str(info.get("id", ""))
    if peer_id == config.id:
        raise InvalidInput(f"{url} is this node ({peer_id})")
    document = tomlkit.parse((home / CONFIG_FILE).read_text(encoding="utf-8"))
    peers = document.setdefault("peers", tomlkit.aot())
    for existing in peers:
        if existing.get("id") == peer_id:
            if existing.get("key") != key:
                raise InvalidInput(
                    f"peer {peer_id} is already pinned with another key; remove it from "
                    f"{CONFIG_FILE} first if the partner really changed keys"
                )
            click.echo(f"peer {peer_id} already pinned ({actual})")
            return
    entry = tomlkit.table()
    entry.update({"id": peer_id, "url": str(info.get("url") or url), "key": key,
                  "datasets": [], "schedule": schedule})
    peers.append(entry)
    (home / CONFIG_FILE).write_text(tomlkit.dumps(document), encoding="utf-8")
    load_config(home)
    click.echo(f"Pinned peer {peer_id} ({info.get('name', '')}, {info.get('country', '')})")
    click.echo(f"  key fingerprint {actual}" + ("" if expected else "  <- confirm it with the partner"))


@main.group()
def agreement() -> None:
    """Write, check and sign sharing agreements."""


@agreement.command("new")
@home_option
@click.option("--peer", "peer_id", required=True, help="The pinned peer this agreement is with.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
def agreement_new(home: Path, peer_id: str, output: Path | None) -> None:
    """Write a commented agreement template with both parties filled in."""
    from agreements.model import Party, render_template
    from node.config import load_config
    from node.identity import load_identity

    config = load_config(home)
    peer_config = config.peer(peer_id)
    own = Party(config.id, config.name, config.url, load_identity(home).public_key_text)
    other = Party(peer_config.id, peer_config.id, peer_config.url, peer_config.key)
    text = render_template(own, other, [d.id for d in config.datasets])
    output = output or home / "agreements" / f"{config.id}-{peer_id}.toml"
    if output.exists():
        raise InvalidInput(f"{output} exists; choose another file with -o")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    click.echo(f"Wrote {output}: edit it, then `fednode agreement check {output}`")


@agreement.command("check")
@home_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--examples", default=3, show_default=True, help="Example rows per flow.")
def agreement_check(home: Path, file: Path, as_json: bool, examples: int) -> None:
    """Validate an agreement and preview, on this node's data, what each flow would send."""
    from agreements.model import load_agreement
    from agreements.preview import preview
    from node.config import load_config
    from node.store import PART_NAME, Store, read_parquet

    config = load_config(home)
    document = load_agreement(file, known_datasets={d.id for d in config.datasets}, own_party=config.id)
    now = dt.datetime.now(dt.UTC)
    state = document.status(now)
    result: dict[str, object] = {
        "agreement": document.ref, "status": state.status.value, "reason": state.reason,
        "sha256": document.sha256, "flows": [],
    }
    store = Store(home)
    for flow in document.flows:
        if flow.from_party != config.id:
            result["flows"].append({"flow": flow.label, "note": "sent by the other party"})  # type: ignore[union-attr]
            continue
        for dataset_id in flow.datasets:
            path = store.local(dataset_id)
            if not (path / PART_NAME).exists():
                result["flows"].append({"flow": flow.label, "dataset": dataset_id,  # type: ignore[union-attr]
                                        "note": "not published yet: nothing to preview"})
                continue
            shown = preview(read_parquet(path), document, flow, now, dataset_id, examples=examples)
            result["flows"].append({"flow": flow.label, "dataset": dataset_id, **shown})  # type: ignore[union-attr]
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False, default=str))
        return
    click.echo(f"{document.ref}: valid document; state: {state.status.value} ({state.reason})")
    for item in result["flows"]:  # type: ignore[union-attr]
        click.echo(f"\n{item['flow']}" + (f", dataset {item['dataset']}" if "dataset" in item else ""))
        if "note" in item:
            click.echo(f"  {item['note']}")
            continue
        for line in _preview_lines(item):
            click.echo(f"  {line}")


def _preview_lines(item: dict[str, object]) -> list[str]:
    lines = []
    report = item.get("report", {})
    if isinstance(report, dict):
        for key, value in report.items():
            if isinstance(value, (int, float)):
                lines.append(f"{key:<28} {value:>10,}")
            elif isinstance(value, dict) and value:
                for sub, count in value.items():
                    lines.append(f"{key + ' / ' + str(sub):<28} {count:>10,}")
    for example in item.get("examples", []) or []:  # type: ignore[union-attr]
        lines.append(f"example: {json.dumps(example, ensure_ascii=False, default=str)}")
    return lines


@agreement.command("sign")
@home_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--send", "send_to", default="", help="Also post the signature to this pinned peer's node.")
def agreement_sign(home: Path, file: Path, send_to: str) -> None:
    """Add this node's signature over the agreement's canonical form."""
    from agreements.model import load_agreement
    from agreements.signing import sign
    from node.config import load_config
    from node.identity import load_identity

    config = load_config(home)
    identity = load_identity(home)
    load_agreement(file, known_datasets={d.id for d in config.datasets}, own_party=config.id)
    text = sign(file, config.id, identity.private_key)
    tmp = file.with_suffix(file.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(file)
    document = load_agreement(file, own_party=config.id)
    state = document.status(dt.datetime.now(dt.UTC))
    click.echo(f"Signed {document.ref} as {config.id}; state: {state.status.value} ({state.reason})")
    installed = home / "agreements" / file.name
    if file.resolve() != installed.resolve():
        click.echo(f"Copy it to {installed} (or give it to the partner) to put it in force.")
    if send_to:
        _send_signature(home, file, send_to)


def _send_signature(home: Path, file: Path, peer_id: str) -> None:
    import aiohttp

    from agreements.model import load_agreement
    from harvesters.http import client_session
    from node.auth import sign_headers
    from node.config import load_config
    from node.identity import load_identity

    config = load_config(home)
    identity = load_identity(home)
    document = load_agreement(file, own_party=config.id)
    signature = document.signature(config.id)
    url = f"{config.peer(peer_id).url.rstrip('/')}/agreements/{document.id}/signatures"
    body = {"party": config.id, "version": document.version, "signature": signature}

    async def post() -> dict[str, object]:
        async with client_session() as session:
            headers = sign_headers("POST", url, identity)
            async with session.post(url, json=body, headers=headers) as response:
                answer = await response.json(content_type=None)
                if response.status != 200:
                    raise InvalidInput(f"{peer_id} refused the signature: {answer.get('detail', answer)}")
                return dict(answer)

    try:
        answer = asyncio.run(post())
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise NodeError(f"cannot reach {peer_id}: {exc}") from exc
    click.echo(f"{peer_id} accepted the signature: {answer.get('status')} ({answer.get('reason')})")
