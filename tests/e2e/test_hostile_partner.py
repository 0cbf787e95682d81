"""A hostile partner against the sharing node, end to end on two real nodes over HTTP.

vnmn harvests gxib with `fednode harvest`, as any partner would, and looks for what its
agreement should never have given it: exact points of threatened species whose category
is written as real data writes it, records inside the embargo dated by other fields,
coordinates and collectors restated in other fields, an agreement nobody at gxib signed,
and one party's names list voiding the other party's direction.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import hashlib
from pathlib import Path

import aiohttp
import pyarrow.parquet as pq
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agreements.signing import sign
from node.core.identity import Identity
from node.store.store import PART_NAME, Store
from tests.e2e.conftest import Federation, cli
from tests.e2e.test_sharing import archive_url, signed_get
from tests.nodes import running

PROBE = "gxib-probe"
RECENT = dt.date.today() - dt.timedelta(days=20)
COLUMNS = [
    "occurrenceID", "basisOfRecord", "family", "genus", "scientificName", "countryCode",
    "decimalLatitude", "decimalLongitude", "iucnRedListCategory", "eventDate", "year", "month",
    "day", "verbatimEventDate", "recordedBy", "recordedByID", "identifiedBy", "verbatimLabel",
    "georeferenceRemarks", "occurrenceRemarks", "dynamicProperties", "locationID",
    "minimumElevationInMeters",
]  # fmt: skip
EXACT = ("22.61803", "106.83947")


def probe_rows() -> list[dict[str, str]]:
    """One record per shape a leak took; all Gesneriaceae in CN, so the scope passes them."""

    def row(record_id: str, **values: str) -> dict[str, str]:
        base = {
            "occurrenceID": record_id, "basisOfRecord": "PreservedSpecimen",
            "family": "Gesneriaceae", "genus": "Primulina",
            "scientificName": "Primulina eburnea (Hance) Yin Z.Wang", "countryCode": "CN",
            "decimalLatitude": EXACT[0], "decimalLongitude": EXACT[1],
            "eventDate": "2015-04-02", "recordedBy": "Wei Y.G.",
        }  # fmt: skip
        return {**base, **values}

    recent = RECENT.isoformat()
    return [
        row("p-criteria", iucnRedListCategory="EN B1ab(iii)"),
        row("p-chinese", iucnRedListCategory="极危"),
        row("p-brackets", iucnRedListCategory="极危(CR)"),
        row("p-unreadable", iucnRedListCategory="Appendix II"),
        row(  # no category on the record; gxib's own checklist marks the species CR
            "p-red-list",
            genus="Chirita",
            scientificName="Chirita macrorhiza D. Fang & D. H. Qin",
        ),
        row(
            "p-restated",
            iucnRedListCategory="EN",
            georeferenceRemarks=f"GPS {EXACT[0]}, {EXACT[1]}",
            occurrenceRemarks="on the cliff above the spring",
            dynamicProperties=f'{{"lat": {EXACT[0]}}}',
            locationID=f"cave-{EXACT[0]}-{EXACT[1]}",
            minimumElevationInMeters="412",
        ),
        row(
            "p-ymd",
            eventDate="",
            year=str(RECENT.year),
            month=str(RECENT.month),
            day=str(RECENT.day),
        ),
        row("p-dmy", eventDate=RECENT.strftime("%d/%m/%Y")),
        row("p-verbatim", eventDate="", verbatimEventDate=RECENT.strftime("%d %b %Y")),
        row("p-unreadable-date", verbatimEventDate="last spring"),
        row(
            "p-collector",
            iucnRedListCategory="LC",
            recordedByID="https://orcid.org/0000-0002-1825-0097",
            identifiedBy="Wei Y.G.",
            verbatimLabel="Longzhou. leg. Wei Y.G. 2015",
            occurrenceRemarks="collected with Wei Y.G. and students",
        ),
        row("p-plain", iucnRedListCategory="LC", occurrenceRemarks=f"seen {recent}"),
    ]


def publish_probe(federation: Federation) -> None:
    gxib = federation.gxib
    source = gxib.home / "sources" / "probe.csv"
    source.parent.mkdir(exist_ok=True)
    with source.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, COLUMNS)
        writer.writeheader()
        writer.writerows(probe_rows())
    gxib.edit_config(
        datasets=[
            {
                "id": PROBE,
                "title": "Records a hostile partner probes",
                "type": "occurrence",
                "source": "sources/probe.csv",
                "licence": "CC-BY-4.0",
                "abstract": "Records shaped the way leaks took shape, to probe enforcement.",
            }
        ]
    )
    result = cli("publish", PROBE, "--home", str(gxib.home))
    assert result.exit_code == 0, result.output


def agree(federation: Federation, extra_rules: str = "") -> None:
    text = federation.agreement_text()
    text = text.replace(
        'datasets = ["gxib-karst-occurrences"]',
        f'datasets = ["gxib-karst-occurrences", "{PROBE}"]',
    )
    text = text.replace(
        'withhold = ["recordedBy", "recordNumber"]',
        'withhold = ["recordedBy", "recordNumber"]\nembargo_days = 365',
    )
    federation.install_agreement(text + extra_rules)


async def harvest(federation: Federation, peer: str, home: Path) -> str:
    result = await asyncio.to_thread(cli, "harvest", peer, "--home", str(home))
    assert result.exit_code == 0, result.output
    return result.output


def received(federation: Federation, dataset: str) -> dict[str, dict[str, object]]:
    folder = Store(federation.vnmn.home).harvested("gxib", dataset)
    rows = pq.read_table(folder / PART_NAME).to_pylist()
    return {str(row["occurrenceID"]): row for row in rows}


async def test_hostile_partner_receives_no_threatened_point_no_embargoed_record_no_secret(
    federation: Federation,
) -> None:
    publish_probe(federation)
    agree(federation)
    async with running(federation.gxib):
        await harvest(federation, "gxib", federation.vnmn.home)
    rows = received(federation, PROBE)

    embargoed = {"p-ymd", "p-dmy", "p-verbatim", "p-unreadable-date"}
    assert not embargoed & set(rows), "a record dated within the embargo left the node"
    for record_id in ("p-criteria", "p-chinese", "p-brackets", "p-unreadable", "p-red-list"):
        record = rows[record_id]
        assert record["fed_generalised"] is True, record_id
        assert (record["decimalLatitude"], record["decimalLongitude"]) == (22.6, 106.8)
    restated = rows["p-restated"]
    for name in ("georeferenceRemarks", "occurrenceRemarks", "dynamicProperties", "locationID"):
        assert not restated[name], name
    assert restated["minimumElevationInMeters"] is None
    collector = rows["p-collector"]
    assert collector["fed_generalised"] is False  # LC: exact, but no trace of the collector
    assert str(collector["decimalLatitude"]) == EXACT[0]
    assert rows["p-plain"]["occurrenceRemarks"] == f"seen {RECENT.isoformat()}"  # not over-cleared
    for record in rows.values():
        for name, value in record.items():
            if isinstance(value, str) and name != "informationWithheld":
                assert "wei y.g." not in value.lower(), (record["occurrenceID"], name)
                assert "0000-0002-1825-0097" not in value, (record["occurrenceID"], name)
                if record["fed_generalised"]:
                    assert EXACT[0] not in value and EXACT[1] not in value, name


def forged_agreement(federation: Federation, mallory: Identity) -> str:
    """Names gxib but pins a key gxib never had; signed by both keys it names."""
    impostor = Identity(Ed25519PrivateKey.generate())
    today = dt.date.today()
    text = f"""\
id = "gxib-mallory"
version = 1
title = "Everything, exactly"
valid_from = {(today - dt.timedelta(days=1)).isoformat()}
valid_until = {(today + dt.timedelta(days=365)).isoformat()}

[parties.gxib]
name = "Guangxi Institute of Botany"
url = "{federation.gxib.url}"
key = "{impostor.public_key_text}"

[parties.mallory]
name = "A friendly herbarium"
url = "http://127.0.0.1:9"
key = "{mallory.public_key_text}"

[[flows]]
from = "gxib"
to = "mallory"
datasets = ["gxib-karst-occurrences", "gxib-karst-checklist"]
licence = "https://www.gnu.org/licenses/old-licenses/gpl-2.0.html"  # the data's own
attribution = "GXIB"
"""
    text = sign(sign(text, "gxib", impostor.private_key), "mallory", mallory.private_key)
    (federation.gxib.home / "agreements" / "gxib-mallory.toml").write_text(text, "utf-8")
    return text


async def test_an_agreement_this_node_never_signed_shares_nothing_and_says_why(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    mallory = Identity(Ed25519PrivateKey.generate())
    forged_agreement(federation, mallory)
    # Even with mallory pinned as a peer: the key under gxib's own id is not gxib's.
    peer = {"id": "mallory", "url": "http://127.0.0.1:9", "key": mallory.public_key_text}
    federation.gxib.edit_config(peers=[peer])
    path = federation.gxib.home / "agreements" / "gxib-mallory.toml"
    check = cli("agreement", "check", str(path), "--home", str(federation.gxib.home))
    assert check.exit_code == 0, check.output
    assert "state: untrusted keys (the key it pins for gxib is not this node's key" in check.output
    status = cli("status", "--home", str(federation.gxib.home))
    assert "gxib-mallory@1" in status.output and "not this node's key" in status.output
    async with running(federation.gxib):
        status_code, _, body = await signed_get(http, archive_url(federation), mallory)
        assert status_code == 403
        assert b"not this node's key" in body
        # The real partner is unaffected.
        status_code, _, _ = await signed_get(
            http, archive_url(federation), federation.vnmn.identity
        )
        assert status_code == 200


async def test_one_partys_names_list_does_not_void_the_other_direction(
    federation: Federation,
) -> None:
    """vnmn pins a list in its own outgoing flow; only vnmn holds the file. gxib still
    shares with vnmn, and vnmn enforces its flow with the list."""
    names = b"scientificName\nPrimulina eburnea\n"
    digest = hashlib.sha256(names).hexdigest()
    lists = federation.vnmn.home / "agreements" / "lists"
    lists.mkdir()
    (lists / "vn-sensitive.csv").write_bytes(names)
    rule = f"""
[[flows.sensitive]]
names = "lists/vn-sensitive.csv"
names_sha256 = "{digest}"
action = "generalise"
grid_degrees = 0.1
"""
    text = federation.agreement_text()
    # The rule goes to flow #3 (vnmn -> gxib occurrences), the one before flow #4.
    marker = '[[flows]]\nfrom = "vnmn"\nto = "gxib"\ndatasets = ["vnmn-karst-checklist"]'
    text = text.replace(marker, rule.lstrip() + "\n" + marker)
    federation.install_agreement(text, signers=("vnmn", "gxib"))
    async with running(federation.gxib), running(federation.vnmn):
        await harvest(federation, "gxib", federation.vnmn.home)
        await harvest(federation, "vnmn", federation.gxib.home)
    assert received(federation, "gxib-karst-occurrences")
    theirs = Store(federation.gxib.home).harvested("vnmn", "vnmn-karst-occurrences")
    assert pq.read_metadata(theirs / PART_NAME).num_rows > 0
