"""`fednode peer add` and `fednode agreement new|check|sign|send`."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import click
import pyarrow.compute as pc

from agreements.disclosure import NON_LOCATING_TERMS
from agreements.embargo import latest_dates
from agreements.model import Party, render_template
from agreements.parse import load_agreement
from agreements.preview import preview_with_table
from agreements.pseudonyms import pseudonym_key
from agreements.signing import sign
from agreements.threat import unreadable_examples
from agreements.trust import trust_state
from harvesters.http import client_session
from node.cli.group import home_option, main
from node.cli.peering import add_ipt, fetch_well_known, pin_peer
from node.core.config import load_config
from node.core.errors import InvalidAgreement, InvalidInput, NodeError
from node.core.identity import load_identity
from node.export.crosswalks import family_index, with_inferred_family
from node.maps.png import svg_to_png
from node.maps.received import render_received_map
from node.publish.licences import relicensing_problem
from node.publish.own_checklists import own_names, with_trusted_accepted_names
from node.store.key_statements import load_chain
from node.store.store import PART_NAME, Store, read_parquet, write_atomic
from node.wire.auth import sign_headers


@main.group()
def peer() -> None:
    """Partner nodes this node harvests."""


@peer.command("add")
@home_option
@click.argument("url", required=False)
@click.option(
    "--ipt",
    "ipt_url",
    default="",
    help="Record a GBIF IPT (its base URL) and harvest its public resources from its RSS feed.",
)
@click.option("--id", "ipt_id", default="", help="The IPT's id here (default: from its host).")
@click.option(
    "--fingerprint",
    "expected",
    default="",
    help="Refuse the peer unless its key has this fingerprint (from the partner, out of band).",
)
@click.option("--schedule", default="every 6h", show_default=True)
@click.option(
    "--purpose",
    default="research",
    show_default=True,
    help="Purpose declared on every request to this peer; its agreement's flow must list it.",
)
def peer_add(
    home: Path,
    url: str | None,
    ipt_url: str,
    ipt_id: str,
    expected: str,
    schedule: str,
    purpose: str,
) -> None:
    """Pin a peer's identity from its /.well-known/fednode and add it to node.toml, or
    with --ipt record a GBIF IPT whose public resources are harvested as public data."""

    given = _given_options(click.get_current_context())
    if ipt_url:
        if url or expected:
            raise click.UsageError("--ipt takes the IPT's URL; an IPT has no key to pin")
        if "purpose" in given:
            raise click.UsageError(
                "--purpose does not apply to an IPT: its public resources are fetched "
                "without an agreement, so no purpose is declared"
            )
        added = add_ipt(home, ipt_url, ipt_id, schedule)
        verb = "already recorded" if added.already else "Recorded"
        click.echo(f"{verb} IPT {added.id} ({added.url}): {len(added.resources)} resource(s)")
        for line in added.refused:
            click.echo(f"  not harvested: {line}")
        return
    if not url:
        raise click.UsageError("give the peer's URL, or --ipt URL for a GBIF IPT")
    if "ipt_id" in given:
        raise click.UsageError(
            "--id applies to an IPT only: a partner node's id is the one its key is pinned with"
        )
    pinned = pin_peer(home, url, expected, schedule, purpose)
    if pinned.already:
        click.echo(f"peer {pinned.id} already pinned ({pinned.fingerprint})")
        return
    click.echo(f"Pinned peer {pinned.id} ({pinned.name}, {pinned.country})")
    click.echo(
        f"  key fingerprint {pinned.fingerprint}"
        + ("" if expected else "  <- confirm it with the partner by another channel")
    )


def _given_options(context: click.Context) -> set[str]:
    """Options typed (or set in the environment), not defaulted: an option that does not
    apply must be refused rather than silently ignored, and a default was never asked for."""
    return {
        name
        for name in context.params
        if context.get_parameter_source(name)
        not in (None, click.core.ParameterSource.DEFAULT, click.core.ParameterSource.DEFAULT_MAP)
    }


@main.group()
def agreement() -> None:
    """Write, check and sign sharing agreements."""


@agreement.command("new")
@home_option
@click.option("--peer", "peer_id", required=True, help="The pinned peer this agreement is with.")
@click.option(
    "--peer-name",
    default=None,
    help="The partner institution's name; by default read from its /.well-known/fednode.",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
def agreement_new(home: Path, peer_id: str, peer_name: str | None, output: Path | None) -> None:
    """Write a commented agreement template with both parties filled in."""

    config = load_config(home)
    peer_config = config.peer(peer_id)
    if peer_name is None:
        try:
            peer_name = str(fetch_well_known(peer_config.url).get("name") or "").strip()
        except NodeError as exc:
            raise InvalidInput(
                f"cannot read {peer_id}'s name from {peer_config.url} ({exc.detail}); "
                "pass --peer-name"
            ) from exc
        if not peer_name:
            raise InvalidInput(f"{peer_config.url} publishes no name; pass --peer-name")
    own = Party(config.id, config.name, config.url, load_identity(home).public_key_text)
    other = Party(peer_config.id, peer_name, peer_config.url, peer_config.key)
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
@click.option(
    "--map",
    "map_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also write, per flow, an SVG and a PNG map of the records as the partner receives them.",
)
def agreement_check(
    home: Path, file: Path, as_json: bool, examples: int, map_dir: Path | None
) -> None:
    """Validate an agreement and preview, on this node's data, what each flow would send."""

    config = load_config(home)
    document = load_agreement(
        file, known_datasets={d.id for d in config.datasets}, own_party=config.id
    )
    now = dt.datetime.now(dt.UTC)
    identity = load_identity(home)
    pinned = {peer.id: peer.key for peer in config.peers}
    chain = load_chain(home)  # key rotations: the same trust the daemon gives it
    state = trust_state(document, config.id, identity.public_key_text, pinned, chain)
    state = state or document.status(now)
    names = own_names(config)
    families = family_index(config)
    key = pseudonym_key(identity.private_key.private_bytes_raw())
    flows: list[dict[str, Any]] = []
    result: dict[str, object] = {
        "agreement": document.ref,
        "status": state.status.value,
        "reason": state.reason,
        "sha256": document.sha256,
        "flows": flows,
    }
    refused: list[str] = []
    result["refused"] = refused
    store = Store(home)
    for flow in document.flows:
        if flow.from_party != config.id:
            flows.append({"flow": flow.label, "note": "sent by the other party"})
            continue
        for dataset_id in flow.datasets:
            problem = relicensing_problem(config.dataset(dataset_id).licence, flow.licence)
            if problem:
                refused.append(f"{flow.label}, dataset {dataset_id}: {problem}")
            path = store.local(dataset_id)
            if not (path / PART_NAME).exists():
                flows.append(
                    {
                        "flow": flow.label,
                        "dataset": dataset_id,
                        "note": "not published yet: nothing to preview",
                    }
                )
                continue
            table = read_parquet(path)
            table = with_trusted_accepted_names(table, names.synonyms)
            table = with_inferred_family(table, families)
            shown, sent = preview_with_table(
                table, document, flow, now, dataset_id, examples, names.red_list, state, key
            )
            if map_dir is not None:
                shown["map"] = _write_map(map_dir, document.id, flow, dataset_id, sent, shown)
            shown["allow_list"] = _allow_list(table, flow)
            shown["warnings"] = _unreadable_warnings(table, flow)
            flows.append({"flow": flow.label, "dataset": dataset_id, **shown})
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False, default=str))
        _refuse(refused)
        return
    click.echo(f"{document.ref}: valid document; state: {state.status.value} ({state.reason})")
    for item in flows:
        click.echo(
            f"\n{item['flow']}" + (f", dataset {item['dataset']}" if "dataset" in item else "")
        )
        if "note" in item:
            click.echo(f"  {item['note']}")
            continue
        for line in _preview_lines(item):
            click.echo(f"  {line}")
        for path in item.get("map") or []:
            click.echo(f"  map: {path}")
    _refuse(refused)


def _refuse(refused: list[str]) -> None:
    """A flow that grants more than the data's own licence allows is not signable."""
    if refused:
        raise InvalidAgreement(
            "refused: a flow may not grant a licence the data's licence does not permit:\n  "
            + "\n  ".join(refused)
        )


def _write_map(
    folder: Path, agreement_id: str, flow: Any, dataset_id: str, sent: Any, shown: dict
) -> list[str]:
    """The flow's map as SVG and PNG; the files' paths."""
    title = f"{flow.label}, {dataset_id}: what {flow.to_party} would receive"
    svg = render_received_map(sent, title, flow.region, shown, f"flow{flow.index}")
    stem = f"{agreement_id}-flow{flow.index}-{dataset_id}"
    svg_path, png_path = folder / f"{stem}.svg", folder / f"{stem}.png"
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(svg_path, svg.encode("utf-8"))
    write_atomic(png_path, svg_to_png(svg))
    return [str(svg_path), str(png_path)]


def _allow_list(table: Any, flow: Any) -> list[str]:
    """The fields of this data a generalised record keeps (the allow-list and `keep`)."""
    if not any(rule.action == "generalise" for rule in flow.sensitive):
        return []
    return sorted(
        name
        for name in table.column_names
        if not name.startswith("fed_") and (name in NON_LOCATING_TERMS or name in flow.keep)
    )


def _unreadable_warnings(table: Any, flow: Any) -> list[str]:
    """Values enforcement cannot read and so treats as the most restrictive case."""
    warnings = []
    count, examples = unreadable_examples(table)
    if count:
        shown = ", ".join(repr(e) for e in examples)
        warnings.append(
            f"{count:,} records have a threat category that cannot be read ({shown}): "
            "they get this flow's most restrictive rule; fix them or add a translation"
        )
    if flow.embargo_days is not None:
        _, unreadable = latest_dates(table)
        held = int(pc.sum(pc.cast(unreadable, "int64")).as_py() or 0)
        if held:
            warnings.append(
                f"{held:,} records have a date that cannot be read: the embargo keeps them home"
            )
    return warnings


def _preview_lines(item: dict[str, object]) -> list[str]:
    """The enforcement counts, then each example as `field: before -> after`."""
    if item.get("denied"):
        return [f"shares nothing: {item['denied']}"]
    lines = [
        f"{item.get('total', 0):,} records: {item.get('sent', 0):,} would be sent, "
        f"{item.get('generalised', 0):,} generalised, {item.get('withheld_sensitive', 0):,} "
        f"withheld as sensitive, {item.get('embargoed', 0):,} embargoed"
    ]
    for reason, count in dict(item.get("out_of_scope") or {}).items():  # type: ignore[call-overload]
        if count:
            lines.append(f"{count:,} out of scope by {reason}")
    for warning in list(item.get("warnings") or []):  # type: ignore[call-overload]
        lines.append(f"warning: {warning}")
    for field, count in dict(item.get("fields_withheld") or {}).items():  # type: ignore[call-overload]
        lines.append(f"{field} withheld in {count:,} records")
    allowed = list(item.get("allow_list") or [])  # type: ignore[call-overload]
    if allowed:
        lines.append("generalised records keep only: " + ", ".join(allowed))
    for field, count in dict(item.get("fields_cleared") or {}).items():  # type: ignore[call-overload]
        lines.append(f"{field} cleared in {count:,} generalised records")
    for field, count in dict(item.get("second_net") or {}).items():  # type: ignore[call-overload]
        lines.append(f"second net: {field} cleared in {count:,} records (restated a hidden value)")
    for example in list(item.get("examples") or []):  # type: ignore[call-overload]
        label = example.get("occurrenceID") or "a record"
        lines.append(f"example {label}:")
        before, after = example.get("before", {}), example.get("after", {})
        for field in after:
            if field.startswith("fed_"):
                continue
            lines.append(f"    {field}: {before.get(field)!r} -> {after[field]!r}")
    return lines


@agreement.command("sign")
@home_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--send", "send_to", default="", help="Also post the signature to this pinned peer's node."
)
def agreement_sign(home: Path, file: Path, send_to: str) -> None:
    """Add this node's signature over the agreement's canonical form."""

    config = load_config(home)
    identity = load_identity(home)
    load_agreement(file, known_datasets={d.id for d in config.datasets}, own_party=config.id)
    text = sign(file, config.id, identity.private_key)
    write_atomic(file, text.encode("utf-8"))
    document = load_agreement(file, own_party=config.id)
    state = document.status(dt.datetime.now(dt.UTC))
    click.echo(
        f"Signed {document.ref} as {config.id}; state: {state.status.value} ({state.reason})"
    )
    installed = home / "agreements" / file.name
    if file.resolve() != installed.resolve():
        click.echo(f"Copy it to {installed} (or give it to the partner) to put it in force.")
    if send_to:
        _send_signature(home, file, send_to)


def _send_signature(home: Path, file: Path, peer_id: str) -> None:
    import aiohttp

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
                    raise InvalidInput(
                        f"{peer_id} refused the signature: {answer.get('detail', answer)}"
                    )
                return dict(answer)

    try:
        answer = asyncio.run(post())
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise NodeError(f"cannot reach {peer_id}: {exc}") from exc
    click.echo(f"{peer_id} accepted the signature: {answer.get('status')} ({answer.get('reason')})")
