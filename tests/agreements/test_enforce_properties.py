"""For any agreement and any table, nothing outside the agreement survives enforcement.

Each example draws a flow (scope, embargo, withheld fields, sensitive rules, red list) and
a table of karst-flora records, then checks the output against a plain per-record reading
of the same rules: exactly the records the rules allow are sent, none keeps a withheld or
cleared value, every generalised coordinate sits on its grid within half a cell of the
original, and the input table is unchanged.
"""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agreements.disclosure import NON_LOCATING_TERMS
from agreements.enforce import enforce
from agreements.generalise import GRID_DEGREES
from agreements.model import Flow, SensitiveRule
from node.core.dates import parse_event_date
from node.core.terms import CLASSIFICATION_TERMS
from tests.agreements.agreement_builders import DATASET, NOW, agreement_text, records, signed

TAXA = [  # family, genus, scientificName
    ("Gesneriaceae", "Primulina", "Primulina eburnea (Hance) Yin Z.Wang"),
    ("Gesneriaceae", "Primulina", "Primulina tabacum Hance"),
    ("Orchidaceae", "Paphiopedilum", "Paphiopedilum helenae Aver."),
    ("Begoniaceae", "Begonia", "Begonia ferox C.I Peng & Yan Liu"),
    (None, None, None),
]
NAMES = ["Gesneriaceae", "Primulina", "Primulina tabacum", "Paphiopedilum helenae", "Begonia"]
BASIS = ["PreservedSpecimen", "HUMAN_OBSERVATION", "FossilSpecimen", None]
CATEGORIES = ["CR", "EN", "VU", "LC", "Endangered", None]
TEXT_FIELDS = ["recordedBy", "locality", "recordNumber", "verbatimLatitude"]
RECORD_FIELDS = [
    "basisOfRecord", "countryCode", "decimalLatitude", "decimalLongitude",
    "iucnRedListCategory", "modified", "eventDate", *TEXT_FIELDS,
]  # fmt: skip
IUCN = {"CR": "CR", "EN": "EN", "VU": "VU", "LC": "LC", "ENDANGERED": "EN"}


def coordinate(low: float, high: float) -> st.SearchStrategy[str | None]:
    number = st.builds(
        lambda value, decimals: f"{value:.{decimals}f}", st.floats(low, high), st.integers(0, 7)
    )
    edges = st.sampled_from(["23.45", "-23.45", "105.05", "0.05", "22.005", "106.0005"])
    return st.one_of(st.none(), number, edges)


record = st.fixed_dictionaries(
    {
        "taxon": st.sampled_from(TAXA),
        "basisOfRecord": st.sampled_from(BASIS),
        "countryCode": st.sampled_from(["CN", "VN", "cn", None]),
        "decimalLatitude": coordinate(-30, 30),
        "decimalLongitude": coordinate(100, 115),
        "iucnRedListCategory": st.sampled_from(CATEGORIES),
        "modified": st.one_of(
            st.none(),
            st.dates(dt.date(2024, 1, 1), dt.date(2026, 6, 1)).map(dt.date.isoformat),
            st.sampled_from(["2025", "2024-11", "unknown"]),
        ),
        "eventDate": st.sampled_from([None, "2019-05-01", "2026-05", "2020/2021"]),
        **{name: st.sampled_from([None, "", "Wen F. 1024"]) for name in TEXT_FIELDS},
    }
)


def toml_list(values: list[str]) -> str:
    return json.dumps(values)


@st.composite
def flows(draw: st.DrawFn) -> str:
    """A flow's rules as TOML; each kind of rule present in about half the examples."""
    lines = []
    if draw(st.booleans()):
        basis = draw(st.lists(st.sampled_from(BASIS[:3]), unique=True))
        lines.append(f"basis_of_record = {toml_list(basis)}")
    if draw(st.booleans()):
        include = draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=2))
        others = [n for n in NAMES if n not in include]
        exclude = draw(st.lists(st.sampled_from(others), unique=True, max_size=2))
        lines.append(f"taxa = {{ include = {toml_list(include)}, exclude = {toml_list(exclude)} }}")
    if draw(st.booleans()):
        countries = draw(st.lists(st.sampled_from(["CN", "VN"]), unique=True))
        region = f"countries = {toml_list(countries)}"
        if draw(st.booleans()):
            lon = sorted(draw(st.lists(st.floats(100, 115), min_size=2, max_size=2)))
            lat = sorted(draw(st.lists(st.floats(-30, 30), min_size=2, max_size=2)))
            region += f", bbox = [{lon[0]!r}, {lat[0]!r}, {lon[1]!r}, {lat[1]!r}]"
        lines.append(f"region = {{ {region} }}")
    if draw(st.booleans()):
        lines.append(f"embargo_days = {draw(st.integers(0, 900))}")
    withhold = draw(st.lists(st.sampled_from(TEXT_FIELDS[:3]), unique=True))
    lines.append(f"withhold = {toml_list(withhold)}")
    for _ in range(draw(st.integers(0, 3))):
        threat = draw(st.lists(st.sampled_from(["CR", "EN", "VU"]), unique=True))
        lines.append("[[flows.sensitive]]")
        lines.append(f"threat = {toml_list(threat)}")
        if draw(st.integers(0, 3)) == 0:
            lines.append('action = "withhold"')
        else:
            lines.append(
                f'action = "generalise"\ngrid_degrees = {draw(st.sampled_from(GRID_DEGREES))}'
            )
            clear = draw(st.lists(st.sampled_from(TEXT_FIELDS), unique=True))
            lines.append(f"clear = {toml_list(clear)}")
    return "\n".join(lines) + "\n"


# --- the same rules, read one record at a time --------------------------------------------


def names_match(row: dict, names: tuple[str, ...]) -> bool:
    wanted = {" ".join(n.lower().split()) for n in names}
    for term in CLASSIFICATION_TERMS:
        value = row.get(term)
        if not value:
            continue
        words = value.lower().split()
        if term == "scientificName":
            if any(" ".join(words[: len(n.split())]) == n for n in wanted):
                return True
        elif " ".join(words) in wanted:
            return True
    return False


def category(row: dict, red_list: dict[str, str]) -> set[str]:
    found = {IUCN[row["iucnRedListCategory"].upper()]} if row.get("iucnRedListCategory") else set()
    return found | {c for name, c in red_list.items() if names_match(row, (name,))}


def grid_of(
    row: dict, rules: tuple[SensitiveRule, ...], red_list: dict[str, str]
) -> float | str | None:
    """The decisive action: "withhold", a grid in degrees, or None."""
    matched = [r for r in rules if not r.threat or category(row, red_list) & set(r.threat)]
    if any(r.action == "withhold" for r in matched):
        return "withhold"
    grids = [r.grid_degrees for r in matched if r.grid_degrees]
    return max(grids) if grids else None


def allowed(row: dict, flow: Flow, red_list: dict[str, str]) -> bool:
    if flow.basis_of_record:
        basis = (row.get("basisOfRecord") or "").replace("_", "").lower()
        if basis not in {b.replace("_", "").lower() for b in flow.basis_of_record}:
            return False
    if flow.taxa.include and not names_match(row, flow.taxa.include):
        return False
    if flow.taxa.exclude and names_match(row, flow.taxa.exclude):
        return False
    if (
        flow.region.countries
        and (row.get("countryCode") or "").upper() not in flow.region.countries
    ):
        return False
    if flow.region.bbox:
        lat, lon = row["decimalLatitude"], row["decimalLongitude"]
        min_lon, min_lat, max_lon, max_lat = flow.region.bbox
        if (
            lat is None
            or lon is None
            or not (min_lon <= lon <= max_lon and min_lat <= lat <= max_lat)
        ):
            return False
    if flow.embargo_days is not None:
        # The latest of every date decides; a written date that cannot be read holds it back.
        written = [row.get(name) for name in ("modified", "eventDate") if row.get(name)]
        dates = [parse_event_date(text)[1] for text in written]
        if any(d is None for d in dates):
            return False
        known = [d for d in [*dates, row.get("fed_event_end")] if d is not None]
        when = max(known) if known else None
        if when is None or when > NOW.date() - dt.timedelta(days=flow.embargo_days):
            return False
    return grid_of(row, flow.sensitive, red_list) != "withhold"


def matching_rules(row: dict, flow: Flow, red_list: dict[str, str]) -> list[SensitiveRule]:
    found = category(row, red_list)
    return [r for r in flow.sensitive if not r.threat or found & set(r.threat)]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    flow_toml=flows(),
    rows=st.lists(record, min_size=1, max_size=40),
    red_list=st.dictionaries(
        st.sampled_from(NAMES), st.sampled_from(["CR", "EN", "LC"]), max_size=2
    ),
)
def test_enforce__sends_exactly_what_the_rules_allow(
    flow_toml: str, rows: list[dict], red_list: dict[str, str]
) -> None:
    head = '[[flows]]\nfrom = "gxib"\nto = "vnmn"\ndatasets = ["gxib-karst-flora"]\n'
    head += 'licence = "CC-BY-4.0"\nattribution = "GXIB"\n'
    agreement = signed(agreement_text(head + flow_toml))
    flow = agreement.flows[0]
    columns: dict[str, list[str | None]] = {"occurrenceID": [str(i) for i in range(len(rows))]}
    for position, name in enumerate(("family", "genus", "scientificName")):
        columns[name] = [row["taxon"][position] for row in rows]
    for name in RECORD_FIELDS:
        columns[name] = [row[name] for row in rows]
    table = records({"fed_dataset": DATASET}, **columns)
    before = table.to_pylist()
    copy = pa.table({name: table.column(name) for name in table.column_names})

    out, report = enforce(table, agreement, flow, NOW, DATASET, red_list)

    assert table.equals(copy) and table.to_pylist() == before
    expected = [row["occurrenceID"] for row in before if allowed(row, flow, red_list)]
    sent = out.to_pylist()
    assert [row["occurrenceID"] for row in sent] == expected
    assert report.sent == len(expected)
    by_id = {row["occurrenceID"]: row for row in before}
    notice = f"withheld under agreement {agreement.ref}"
    for row in sent:
        original = by_id[row["occurrenceID"]]
        for name in flow.withhold:
            assert row[name] == notice
        secrets = {original[name] for name in flow.withhold if original.get(name)}
        for name in TEXT_FIELDS:  # the second net: no other field restates a withheld value
            if name not in flow.withhold and row[name]:
                assert not any(secret.lower() in row[name].lower() for secret in secrets)
        grid = grid_of(original, flow.sensitive, red_list)
        assert row["fed_generalised"] is (grid is not None)
        if grid is None:
            assert row["decimalLatitude"] == original["decimalLatitude"]
            assert row["decimalLongitude"] == original["decimalLongitude"]
            continue
        assert isinstance(grid, float)
        for name in TEXT_FIELDS:  # generalised: only the allow-list keeps its values
            if name not in NON_LOCATING_TERMS:
                assert row[name] in ("", notice, None)
        cells = round(1 / grid)
        for axis in ("decimalLatitude", "decimalLongitude"):
            value, old = row[axis], original[axis]
            assert (value is None) == (old is None)
            if value is not None:
                assert abs(value * cells - round(value * cells)) < 1e-6
                assert abs(value - old) <= grid / 2 + 1e-9
        if original["decimalLatitude"] is not None or original["decimalLongitude"] is not None:
            assert row["coordinatePrecision"] >= grid
            assert f"generalised to {grid} degrees" in row["dataGeneralizations"]
