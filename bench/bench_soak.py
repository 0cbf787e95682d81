"""Soak: one real node serving twenty partners that harvest it every few seconds.

The node is `fednode serve` in its own process (the bundled Guangxi sample, published),
with twenty partners pinned in node.toml and one signed agreement each. The partners run
in this process, each with its own home and key, through `run_source` (what the schedule
runs): the well-known check, a signed listing, then per dataset a signed conditional GET,
which after the first round is a 304. Every `sample_s` the node's RSS (VmRSS) and open
file descriptors are read from /proc. Growth is reported from the first sample after the
first full round (caches warm) to the last: a leak of memory, sockets or SQLite handles
per request shows as growth proportional to the number of requests served.

    python -m bench.bench_soak [--seconds 600] [--peers 20] [--every 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

from bench.measure import print_table

HUB = "hub"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _agreement(hub_url: str, hub_key: str, peer: str, peer_key: str) -> str:
    today = dt.date.today()
    return f"""\
id = "{HUB}-{peer}"
version = 1
title = "Soak benchmark: {HUB} shares its karst sample with {peer}"
valid_from = {(today - dt.timedelta(days=1)).isoformat()}
valid_until = {(today + dt.timedelta(days=30)).isoformat()}

[parties.{HUB}]
name = "Soak hub"
url = "{hub_url}"
key = "{hub_key}"

[parties.{peer}]
name = "Soak partner {peer}"
url = "http://127.0.0.1:9"
key = "{peer_key}"

[[flows]]
from = "{HUB}"
to = "{peer}"
datasets = ["gxib-karst-occurrences"]
licence = "CC-BY-NC-4.0"
attribution = "Soak hub"
purposes = ["research"]
withhold = ["recordedBy"]

[[flows.sensitive]]
threat = ["CR", "EN"]
action = "generalise"
grid_degrees = 0.1
"""


def _setup(root: Path, peers: int) -> tuple[Path, int, list[Path]]:
    import tomlkit
    from click.testing import CliRunner

    from node.cli import main
    from node.core.config import CONFIG_FILE
    from node.core.identity import load_identity
    from node.demo import declare_sample
    from node.store.home import init_home

    def cli(*args: str) -> None:
        result = CliRunner().invoke(main, list(args))
        if result.exit_code != 0:
            raise RuntimeError(f"fednode {' '.join(args)}: {result.output}")

    port = _free_port()
    hub = root / HUB
    hub_url = f"http://127.0.0.1:{port}"
    init_home(hub, HUB, "Soak hub", url=hub_url, country="CN", port=port)
    declare_sample(hub, "gxib", public=False)
    cli("publish", "--home", str(hub))
    hub_key = load_identity(hub).public_key_text
    hub_doc = tomlkit.parse((hub / CONFIG_FILE).read_text(encoding="utf-8"))
    hub_peers = hub_doc.setdefault("peers", tomlkit.aot())
    homes = []
    for number in range(peers):
        peer = f"p{number:02d}"
        home = root / peer
        init_home(home, peer, f"Soak partner {peer}", url="http://127.0.0.1:9", port=9)
        peer_key = load_identity(home).public_key_text
        doc = tomlkit.parse((home / CONFIG_FILE).read_text(encoding="utf-8"))
        doc.setdefault("peers", tomlkit.aot()).append(
            {"id": HUB, "url": hub_url, "key": hub_key, "schedule": "every 6h"}
        )
        (home / CONFIG_FILE).write_text(tomlkit.dumps(doc), encoding="utf-8")
        # The hub pins the partner too (trust needs it); never reached, it harvests nothing.
        hub_peers.append(
            {"id": peer, "url": "http://127.0.0.1:9", "key": peer_key, "schedule": "every 1d"}
        )
        text = _agreement(hub_url, hub_key, peer, peer_key)
        draft = hub / "agreements" / f"{HUB}-{peer}.toml"
        draft.parent.mkdir(exist_ok=True)
        draft.write_text(text, encoding="utf-8")
        (home / "agreements").mkdir(exist_ok=True)
        copy = home / "agreements" / draft.name
        homes.append(home)
        cli("agreement", "sign", str(draft), "--home", str(hub))
        shutil.copy(draft, copy)
        cli("agreement", "sign", str(copy), "--home", str(home))
        shutil.copy(copy, draft)
    (hub / CONFIG_FILE).write_text(tomlkit.dumps(hub_doc), encoding="utf-8")
    return hub, port, homes


def _sample(pid: int) -> tuple[float, int]:
    """(RSS in MiB, open file descriptors) of process `pid`."""
    rss = 0.0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


async def _partner(home: Path, until: float, every_s: float, outcomes: Counter[str]) -> None:
    from harvesters.http import client_session
    from harvesters.runs import RunLog
    from harvesters.schedule import Runtime, run_source
    from node.core.config import load_config
    from node.core.identity import load_identity

    runs = RunLog(home)
    try:
        async with client_session() as session:
            runtime = Runtime(load_config(home), load_identity(home), session, runs)
            while time.monotonic() < until:
                started = time.monotonic()
                result = await run_source(runtime, f"peer:{HUB}", now=True)
                outcomes[result.outcome] += 1
                if result.outcome == "failed":
                    outcomes[f"failed: {result.error[:80]}"] += 1
                await asyncio.sleep(max(0.0, every_s - (time.monotonic() - started)))
    finally:
        runs.close()


async def _soak(
    pid: int, homes: list[Path], seconds: float, every_s: float, sample_s: float
) -> tuple[list[tuple[float, float, int]], Counter[str]]:
    outcomes: Counter[str] = Counter()
    started = time.monotonic()
    until = started + seconds
    tasks = [asyncio.create_task(_partner(h, until, every_s, outcomes)) for h in homes]
    samples = []
    while not all(t.done() for t in tasks):
        rss, fds = _sample(pid)
        samples.append((time.monotonic() - started, rss, fds))
        await asyncio.sleep(sample_s)
    for task in tasks:
        task.result()
    return samples, outcomes


def _wait_healthy(port: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2),
        ):
            return
        time.sleep(0.2)
    raise RuntimeError("the node did not become healthy")


def run(
    seconds: float = 60, peers: int = 20, every_s: float = 3, sample_s: float = 1
) -> list[dict[str, object]]:
    root = Path(tempfile.mkdtemp(prefix="fednode-soak-"))
    try:
        hub, port, homes = _setup(root, peers)
        server = subprocess.Popen(
            [sys.executable, "-m", "node", "serve", "--home", str(hub), "--log-level", "WARNING"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_healthy(port)
            samples, outcomes = asyncio.run(_soak(server.pid, homes, seconds, every_s, sample_s))
        finally:
            server.terminate()
            server.wait(timeout=30)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    warm = [s for s in samples if s[0] >= 2 * every_s] or samples
    first, last = warm[0], warm[-1]
    harvests = sum(v for k, v in outcomes.items() if not k.startswith("failed:"))
    rows: list[dict[str, object]] = [
        {
            "measurement": f"{peers} partners every {every_s:g} s for {seconds:g} s",
            "harvests": harvests,
            "ok": outcomes["ok"],
            "unchanged (304)": outcomes["unchanged"],
            "failed": outcomes["failed"],
            "RSS first MB": round(first[1], 1),
            "RSS last MB": round(last[1], 1),
            "RSS max MB": round(max(s[1] for s in warm), 1),
            "RSS growth MB": round(last[1] - first[1], 1),
            "fds first": first[2],
            "fds last": last[2],
            "fds max": max(s[2] for s in warm),
        }
    ]
    for reason, count in outcomes.items():
        if reason.startswith("failed:"):
            rows.append({"measurement": reason, "harvests": count})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--peers", type=int, default=20)
    parser.add_argument("--every", type=float, default=3, help="seconds between harvests")
    args = parser.parse_args(argv)
    print_table("Soak", run(args.seconds, args.peers, args.every))


if __name__ == "__main__":
    main()
