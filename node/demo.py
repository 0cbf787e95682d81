"""`fednode demo`: two nodes on loopback, end to end, in under a minute.

gxib (Guangxi, China) and vnmn (northern Vietnam) are created from the bundled samples,
publish their data, pin each other, sign one bilateral agreement, run as real daemons
(separate processes, real HTTP), harvest each other, reconcile their checklists, and gxib
exports Parquet that DuckDB then queries. Every step is the same code the CLI runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import tomlkit
from click.testing import CliRunner

from node.core.config import CONFIG_FILE, load_config
from node.core.errors import NodeError
from node.core.identity import fingerprint
from node.export.crosswalks import crosswalk_folder
from node.store.home import init_home
from node.store.store import Store, read_parquet

SAMPLES = Path(__file__).parent / "samples"
GPL_URL = "https://www.gnu.org/licenses/old-licenses/gpl-2.0.html"


@dataclass(frozen=True)
class DemoNode:
    id: str
    name: str
    country: str
    home: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def declare_sample(home: Path, sample: str, public: bool = False) -> list[str]:
    """Copy a bundled sample (gxib or vnmn) into the node's sources and declare its datasets
    as the sample's `datasets.toml` describes them."""
    source = SAMPLES / sample
    for path in source.iterdir():
        if path.is_file() and path.name != "datasets.toml":
            shutil.copy(path, home / "sources" / path.name)
    declared = tomllib.loads((source / "datasets.toml").read_text(encoding="utf-8"))
    document = tomlkit.parse((home / CONFIG_FILE).read_text(encoding="utf-8"))
    datasets = document.setdefault("datasets", tomlkit.aot())
    ids = []
    for entry in declared["datasets"]:
        entry = dict(entry)
        entry["source"] = f"sources/{entry['source']}"
        if "mapping" in entry:
            entry["mapping"] = f"sources/{entry['mapping']}"
        if public:
            entry["public"] = True
        datasets.append(entry)
        ids.append(entry["id"])
    (home / CONFIG_FILE).write_text(tomlkit.dumps(document), encoding="utf-8")
    return ids


def agreement_text(gxib: DemoNode, vnmn: DemoNode, keys: dict[str, str]) -> str:
    """The demo's bilateral agreement, as an admin would write it from the template."""
    today = dt.date.today()
    return f"""\
# Demo agreement: gxib shares its Gesneriaceae and Begoniaceae records with vnmn,
# generalising CR/EN species to 0.1 degrees and withholding collector names; vnmn shares
# its records back under CC-BY. Written by `fednode demo`.
id = "gxib-vnmn"
version = 1
title = "Guangxi - Northern Vietnam karst flora data sharing (demo)"
valid_from = {(today - dt.timedelta(days=1)).isoformat()}
valid_until = {(today + dt.timedelta(days=730)).isoformat()}

[parties.gxib]
name = "{gxib.name}"
url = "{gxib.url}"
key = "{keys["gxib"]}"

[parties.vnmn]
name = "{vnmn.name}"
url = "{vnmn.url}"
key = "{keys["vnmn"]}"

[[flows]]
from = "gxib"
to = "vnmn"
datasets = ["gxib-karst-occurrences"]
licence = "{GPL_URL}"
attribution = "Guangxi Institute of Botany (GXIB); names from helixcn/plantlist (GPL-2)"
purposes = ["research", "conservation"]
taxa = {{ include = ["Gesneriaceae", "Begoniaceae"], exclude = [] }}
region = {{ countries = ["CN"] }}
basis_of_record = ["PreservedSpecimen", "HumanObservation"]
withhold = ["recordedBy", "recordNumber"]

[[flows.sensitive]]
threat = ["CR", "EN"]
action = "generalise"
grid_degrees = 0.1
clear = ["locality", "verbatimLocality", "verbatimCoordinates", "verbatimLatitude",
         "verbatimLongitude", "locationRemarks", "footprintWKT"]

[[flows]]
from = "gxib"
to = "vnmn"
datasets = ["gxib-karst-checklist"]
licence = "{GPL_URL}"
attribution = "Guangxi Institute of Botany (GXIB); names from helixcn/plantlist (GPL-2)"
taxa = {{ include = ["Gesneriaceae", "Begoniaceae"], exclude = [] }}

[[flows]]
from = "vnmn"
to = "gxib"
datasets = ["vnmn-karst-occurrences"]
licence = "CC-BY-4.0"
attribution = "Vietnam National Museum of Nature (VNMN)"
purposes = ["research", "conservation"]

[[flows]]
from = "vnmn"
to = "gxib"
datasets = ["vnmn-karst-checklist"]
licence = "{GPL_URL}"
attribution = "Vietnam National Museum of Nature (VNMN); names from helixcn/herblabel (GPL-2)"

[signatures]
"""


def _say(text: str) -> None:
    click.echo(text)


def _step(number: int, text: str) -> None:
    click.secho(f"\n[{number}] {text}", bold=True)


def _cli(cli: click.Command, *args: str) -> str:
    """Run a fednode command in-process, exactly as a person types it; fail loudly.

    The command line is handed in by `fednode demo` itself, so the demo sits below the CLI
    it drives and imports none of it.
    """
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    if result.exit_code != 0:
        raise NodeError(f"`fednode {' '.join(args)}` failed: {result.output.strip()}")
    return result.output


def _wait_healthy(node: DemoNode, process: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = (node.home / "serve.log").read_text(errors="replace")[-2000:]
            raise NodeError(f"{node.id} daemon exited early:\n{log}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{node.url}/health", timeout=1) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.2)
    raise NodeError(f"{node.id} daemon did not become healthy within {timeout_s:.0f} s")


@contextlib.contextmanager
def daemons(nodes: list[DemoNode]) -> Iterator[None]:
    """`fednode serve` for each node as its own process; SIGTERM and wait on the way out."""
    processes = []
    try:
        for node in nodes:
            log = open(node.home / "serve.log", "wb")  # noqa: SIM115 (closed with the process)
            process = subprocess.Popen(
                [sys.executable, "-m", "node", "serve", "--home", str(node.home)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            processes.append((node, process, log))
        for node, process, _ in processes:
            _wait_healthy(node, process)
        yield
    finally:
        for _, process, _ in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for node, process, log in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()
            _say(f"  {node.id} daemon stopped (exit {process.returncode})")


def _summary(gxib: DemoNode) -> None:
    """A trilingual crosswalk excerpt and one DuckDB question on the export."""
    import duckdb

    config = load_config(gxib.home)
    crosswalk = read_parquet(
        crosswalk_folder(config, "gxib-karst-checklist", "vnmn/vnmn-karst-checklist") / "crosswalk"
    ).to_pylist()
    interesting = ("vernacular", "synonym", "variant", "fuzzy", "canonical", "exact")
    rows = sorted(
        (
            r
            for r in crosswalk
            if r["match_kind"] in interesting and r["left_name"] and r["right_name"]
        ),  # rows naming the taxon in both Chinese and Vietnamese first
        key=lambda r: (not (r["zh"] and r["vi"]), interesting.index(r["match_kind"])),
    )
    picked: list[dict[str, Any]] = []
    seen: set[str] = set()
    for row in rows:
        if row["match_kind"] not in seen or len(picked) < 4:
            picked.append(row)
            seen.add(row["match_kind"])
        if len(picked) >= 8:
            break
    _say("\n  Crosswalk excerpt (gxib checklist x vnmn checklist):")
    _say(f"  {'match':<11} {'gxib name':<44} {'vnmn name':<34} {'zh':<8} {'vi':<22} en")
    for row in picked:
        zh, vi, en = (row[language] or "-" for language in ("zh", "vi", "en"))
        _say(
            f"  {row['match_kind']:<11} {row['left_name'][:43]:<44} "
            f"{row['right_name'][:33]:<34} {zh:<8} {vi.split(' | ')[0][:21]:<22} {en}"
        )
    records = gxib.home / "store" / "exports" / "current" / "records"
    query = (
        "SELECT source, dataset, family, fed_licence AS licence, count(*) AS records "
        "FROM read_parquet(?, hive_partitioning = true) "
        "GROUP BY ALL ORDER BY source, dataset, records DESC"
    )
    _say("\n  DuckDB on gxib's export - records per family per source:")
    result = duckdb.execute(query, [str(records / "**" / "*.parquet")]).fetchall()
    _say(f"  {'source':<7} {'dataset':<24} {'family':<14} {'records':>8}  licence")
    for source, dataset, family, licence, count in result[:14]:
        _say(f"  {source:<7} {dataset:<24} {family or '-':<14} {count:>8,}  {licence or '-'}")


def _received(vnmn: DemoNode) -> None:
    """What vnmn actually holds of gxib's occurrences: the agreement's effect, record by record."""
    import pyarrow.compute as pc

    table = read_parquet(Store(vnmn.home).harvested("gxib", "gxib-karst-occurrences"))
    generalised = pc.sum(pc.cast(table.column("fed_generalised"), "int64")).as_py() or 0
    families = sorted(set(table.column("family").to_pylist()))
    collectors = sorted(set(table.column("recordedBy").to_pylist()))
    _say(
        f"  vnmn holds {table.num_rows:,} of gxib's 600 occurrences "
        f"(families: {', '.join(families)});"
    )
    _say(f"  {generalised:,} generalised to 0.1 degrees; recordedBy values: {collectors}")
    example = table.filter(table.column("fed_generalised")).slice(0, 1).to_pylist()
    if example:
        row = example[0]
        _say(
            f"  e.g. {row['scientificName']}: {row['decimalLatitude']}, {row['decimalLongitude']} "
            f"(+/- {row['coordinateUncertaintyInMeters']:,.0f} m) - {row['dataGeneralizations']}"
        )


def run_demo(cli: click.Command, directory: Path | None, keep: bool) -> None:
    started = time.monotonic()
    root = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="fednode-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    gxib = DemoNode("gxib", "Guangxi Institute of Botany", "CN", root / "gxib", free_port())
    vnmn = DemoNode("vnmn", "Vietnam National Museum of Nature", "VN", root / "vnmn", free_port())
    try:
        _step(1, f"Two node homes in {root}")
        keys = {}
        for node in (gxib, vnmn):
            if (node.home / CONFIG_FILE).exists():
                raise NodeError(f"{node.home} already holds a node; choose an empty --dir")
            identity = init_home(
                node.home, node.id, node.name, url=node.url, country=node.country, port=node.port
            )
            keys[node.id] = identity.public_key_text
            ids = declare_sample(node.home, node.id)
            _say(
                f"  {node.id}: {node.name} ({node.country}) on {node.url}, "
                f"key {identity.fingerprint}"
            )
            _say(f"    datasets: {', '.join(ids)}")
        _step(2, "Publish: validate the institutions' files and build versioned, signed DwC-As")
        for node in (gxib, vnmn):
            for line in _cli(cli, "publish", "--home", str(node.home)).splitlines():
                if not line.startswith("note:"):
                    _say(f"  {line}")
        with daemons([gxib, vnmn]):
            _step(3, "Daemons up; each node pins the other's key from /.well-known/fednode")
            for node, other in ((gxib, vnmn), (vnmn, gxib)):
                _cli(
                    cli,
                    "peer",
                    "add",
                    other.url,
                    "--home",
                    str(node.home),
                    "--fingerprint",
                    fingerprint(keys[other.id]),
                    "--schedule",
                    "every 6h",
                )
                _say(f"  {node.id} pinned {other.id} ({fingerprint(keys[other.id])})")
            _step(4, "Agreement gxib-vnmn: written, checked on real data, signed by both")
            draft = gxib.home / "agreements" / "gxib-vnmn.toml"
            draft.write_text(agreement_text(gxib, vnmn, keys), encoding="utf-8")
            check = _cli(
                cli, "agreement", "check", str(draft), "--home", str(gxib.home), "--examples", "1"
            )
            for line in check.splitlines()[:24]:
                _say(f"  {line[:150]}")
            _say(
                "  "
                + _cli(cli, "agreement", "sign", str(draft), "--home", str(gxib.home)).splitlines()[
                    0
                ]
            )
            peer_copy = vnmn.home / "agreements" / "gxib-vnmn.toml"
            shutil.copy(draft, peer_copy)
            signed = _cli(
                cli, "agreement", "sign", str(peer_copy), "--home", str(vnmn.home), "--send", "gxib"
            )
            for line in signed.splitlines():
                _say(f"  {line}")
            _step(
                5,
                "Harvest each way over signed HTTP (enforced, signed archives; 304 when unchanged)",
            )
            for node, other in ((vnmn, gxib), (gxib, vnmn)):
                for line in _cli(cli, "harvest", other.id, "--home", str(node.home)).splitlines():
                    _say(f"  {node.id} <- {line}")
            _received(vnmn)
            again = _cli(cli, "harvest", gxib.id, "--home", str(vnmn.home)).strip()
            _say(f"  vnmn <- {again}  (second run)")
            anonymous = _anonymous_attempt(gxib)
            _say(f"  an unsigned request for gxib's occurrences: {anonymous}")
            _step(6, "Reconcile gxib's checklist with vnmn's (harvested) checklist")
            for line in _cli(
                cli,
                "reconcile",
                "gxib-karst-checklist",
                "vnmn/vnmn-karst-checklist",
                "--home",
                str(gxib.home),
            ).splitlines()[:4]:
                _say(f"  {line}")
            _step(7, "Export Parquet on gxib and ask DuckDB a question")
            for line in _cli(cli, "export", "--home", str(gxib.home)).splitlines()[:3]:
                _say(f"  {line}")
            _summary(gxib)
            _step(8, "Audit trail on gxib (hash-chained)")
            for line in _cli(cli, "audit", "--home", str(gxib.home), "--limit", "5").splitlines():
                _say(f"  {line[:160]}")
            _say("  " + _cli(cli, "audit", "verify", "--home", str(gxib.home)).strip())
            _say(f"\n  While the daemons run, the status pages are at {gxib.url}/ and {vnmn.url}/")
        _step(9, f"Done in {time.monotonic() - started:.0f} s")
        if keep:
            _say(f"  Homes kept in {root}. Look around:")
            _say(f"    fednode status --home {gxib.home}")
            _say(f"    fednode audit --home {gxib.home}")
            _say(f"    fednode serve --home {gxib.home}    # then open {gxib.url}/")
            _say(
                '    duckdb -c "SELECT * FROM read_parquet('
                f"'{gxib.home}/store/exports/current/records/**/*.parquet', "
                'hive_partitioning=true) LIMIT 5"'
            )
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def _anonymous_attempt(node: DemoNode) -> str:
    import urllib.error

    try:
        urllib.request.urlopen(f"{node.url}/datasets/gxib-karst-occurrences/archive", timeout=5)
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code} ({exc.read().decode(errors='replace')[:90]})"
    return "HTTP 200 (unexpected)"
