"""Build the sample data bundled in node/samples/ (used by `fednode demo` and the tests).

    python scripts/make_samples.py [--out node/samples]

Two institutions, each with a checklist and an occurrence dataset, in the shapes their own
exports take:
- gxib/ (Guangxi): checklist.csv is REAL: the Gesneriaceae, Begoniaceae and five orchid
  genera rows of tests/data/checklists/guangxi_cnplants.csv (helixcn/plantlist, GPL-2),
  kept verbatim with their original columns, Chinese names and China Red List categories.
  occurrences.csv is SYNTHETIC, generated from that checklist, with Chinese headers and
  saved in GB18030 with CRLF line ends, as a Windows export from a Chinese office would be.
- vnmn/ (northern Vietnam): checklist.csv is a REAL Vietnamese checklist: every taxon of
  Vietnam's protected-plant decrees (agreements/lists/vn-protected-plants.csv) and every
  binomial of Do Tat Loi's medicinal plants (tests/data/checklists/
  vn_medicinal_plants_dotatloi.csv, CC BY 4.0), with their Vietnamese names as the lists
  write them; then, for more taxa of the karst families of the Guangxi sample, REAL names
  from tests/data/checklists/flora_of_china_names.csv (helixcn/herblabel, GPL-2) of the same
  genera (plus Primulina, the newer name for many Chirita) with the Vietnamese name left
  empty, never invented (that these are recorded in northern Vietnam is not asserted: a
  SYNTHETIC selection). Column `Nguồn` says which list each row comes from. UTF-8 with a
  byte order mark.
  occurrences.csv is SYNTHETIC, Vietnamese headers, windows-1258.

Localities are approximate county / province centres plus random jitter; collectors are
"Collector A".."Collector N"; nothing synthetic should be read as a real record. The output
is deterministic (fixed seed, sorted inputs): tests regenerate it and compare bytes.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import random
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKLISTS = ROOT / "tests" / "data" / "checklists"
VN_PROTECTED = ROOT / "agreements" / "lists" / "vn-protected-plants.csv"
VN_MEDICINAL = CHECKLISTS / "vn_medicinal_plants_dotatloi.csv"
# Column `Nguồn` (source): which list a row comes from, short (see ../node/samples/README.md).
SOURCE_PROTECTED = "{document}"
SOURCE_MEDICINAL = "DoTatLoi-714"
SOURCE_FLORA_OF_CHINA = "FOC"
SEED = 20260601
GXIB_OCCURRENCES = 600
VNMN_OCCURRENCES = 400
VNMN_SHARED_NAMES = 60  # names also in the Guangxi checklist: exact matches to reconcile
VNMN_OTHER_NAMES = 140
ORCHID_GENERA = ("Anoectochilus", "Bletilla", "Cymbidium", "Dendrobium", "Paphiopedilum")
FIRST_DAY, LAST_DAY = dt.date(2005, 1, 1), dt.date(2023, 12, 31)

# Approximate centres (decimal degrees, WGS84) of Guangxi karst counties; jitter below.
GX_COUNTIES = (
    ("龙州县", "Longzhou", 22.34, 106.85),
    ("那坡县", "Napo", 23.42, 105.83),
    ("靖西市", "Jingxi", 23.13, 106.42),
    ("大新县", "Daxin", 22.83, 107.20),
    ("德保县", "Debao", 23.32, 106.62),
    ("环江毛南族自治县", "Huanjiang", 24.83, 108.26),
    ("都安瑶族自治县", "Du'an", 23.93, 108.10),
    ("马山县", "Mashan", 23.71, 108.18),
)
GX_JITTER = 0.08
# Approximate centres of northern Vietnamese karst provinces.
VN_PROVINCES = (
    ("Cao Bằng", 22.67, 106.26),
    ("Hà Giang", 22.82, 104.98),
    ("Lạng Sơn", 21.85, 106.76),
    ("Bắc Kạn", 22.15, 105.83),
    ("Tuyên Quang", 21.82, 105.21),
)
VN_JITTER = 0.12

GXIB_OCC_COLUMNS = ("记录编号", "记录类型", "学名", "中文名", "科", "濒危等级", "采集人",
                    "采集号", "采集日期", "县", "地点", "纬度", "经度", "海拔")  # fmt: skip
VNMN_TAXON_COLUMNS = ("Mã loài", "Tên khoa học", "Chi", "Họ", "Tên Việt Nam", "Tên khác", "Nguồn")
_NO_NAME = {"(không có)", "không có", ""}  # the medicinal list's "(none)"
VNMN_OCC_COLUMNS = ("Số hiệu mẫu", "Tên khoa học", "Loại mẫu", "Người thu mẫu",
                    "Số thu mẫu", "Ngày thu mẫu", "Tỉnh", "Địa điểm", "Vĩ độ", "Kinh độ",
                    "Độ cao (m)")  # fmt: skip
# Vietnamese tone marks: windows-1258 writes them as combining characters after the letter.
_TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}


def _read(name: str | Path) -> list[dict[str, str]]:
    with open(CHECKLISTS / name, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _canonical(name: str) -> str:
    """Genus and epithets, rank markers kept, authorship dropped (enough to spot a
    duplicate between lists here; reconciliation does the real work)."""
    words = name.split()
    kept = words[:2]
    for i, word in enumerate(words[2:-1], start=2):
        if word in ("var.", "subsp.", "f.", "ssp."):
            kept += [word, words[i + 1]]
    return " ".join(kept)


def vietnamese_taxa() -> list[tuple[str, str, str, str, str]]:
    """(name, family, Vietnamese name, other names, source) from the two real lists."""
    rows: dict[str, tuple[str, str, str, str, str]] = {}
    for row in _read(VN_PROTECTED):
        name = " ".join(row["scientificName"].split())
        if len(name.split()) < 2 or name.split()[1] in ("spp.", "sp."):
            continue  # 'Paphiopedilum spp.': a group in the decree, not a taxon
        source = SOURCE_PROTECTED.format(document=row["document"])
        rows.setdefault(name, (name, row["family"], row["vernacularName"], "", source))
    for row in _read(VN_MEDICINAL):
        name = " ".join(row["scientificName"].split())
        if len(name.split()) < 2 or name.split()[1] in ("spp.", "sp."):
            continue  # drugs of unidentified plants ('Gossypium sp.': Hạt Bông, the seed)
        other = ", ".join(
            n.strip() for n in row["otherVernacularNames"].split(",")
            if n.strip().lower() not in _NO_NAME
        )  # fmt: skip
        rows.setdefault(name, (name, row["family"], row["vernacularName"], other, SOURCE_MEDICINAL))
    return sorted(rows.values())


def _csv_text(header: tuple[str, ...] | list[str], rows: list[list[str]], eol: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=eol)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _cp1258(text: str) -> bytes:
    """windows-1258 has letters with shape marks (â, ơ, ư, đ) but puts tones apart."""
    out = []
    for char in unicodedata.normalize("NFC", text):
        try:
            char.encode("cp1258")
            out.append(char)
        except UnicodeEncodeError:
            parts = unicodedata.normalize("NFD", char)
            base = "".join(c for c in parts if c not in _TONES)
            tones = "".join(c for c in parts if c in _TONES)
            out.append(unicodedata.normalize("NFC", base) + tones)
    return "".join(out).encode("cp1258")


def _date(rng: random.Random) -> str:
    day = FIRST_DAY + dt.timedelta(days=rng.randrange((LAST_DAY - FIRST_DAY).days + 1))
    # Some collectors only noted the month: still valid ISO 8601.
    return day.isoformat()[:7] if rng.random() < 0.05 else day.isoformat()


def _elevation(rng: random.Random, altitude: str) -> str:
    low, _, high = altitude.partition("-")
    try:
        a, b = int(low), int(high or low)
    except ValueError:
        a, b = 100, 1200
    return str(rng.randint(min(a, b), max(a, b)))


def _collector(rng: random.Random, letters: str, counters: dict[str, int]) -> tuple[str, str]:
    letter = rng.choice(letters)
    counters[letter] = counters.get(letter, 0) + 1
    return f"Collector {letter}", f"{letter}-{counters[letter]:04d}"


def gxib_checklist() -> tuple[list[str], list[dict[str, str]]]:
    rows = _read("guangxi_cnplants.csv")
    keep = [
        r for r in rows
        if r["FAMILY"] in ("Gesneriaceae", "Begoniaceae")
        or (r["FAMILY"] == "Orchidaceae" and r["GENUS"] in ORCHID_GENERA)
    ]  # fmt: skip
    return list(rows[0].keys()), keep


def gxib_occurrences(taxa: list[dict[str, str]], rng: random.Random) -> list[list[str]]:
    counters: dict[str, int] = {}
    rows = []
    for n in range(1, GXIB_OCCURRENCES + 1):
        taxon = rng.choice(taxa)
        county, county_en, lat, lon = rng.choice(GX_COUNTIES)
        collector, number = _collector(rng, "ABCDEFG", counters)
        rows.append([
            f"GXIB-SYN-{n:06d}",
            "标本" if rng.random() < 0.7 else "观察",
            taxon["SPECIES_FULL"],
            taxon["SPECIES_CN"],
            taxon["FAMILY"],
            taxon["IUCN_CHINA"],
            collector,
            number,
            _date(rng),
            county,
            f"{county}喀斯特石山（合成地点，SYNTHETIC near {county_en}）",
            f"{lat + rng.uniform(-GX_JITTER, GX_JITTER):.5f}",
            f"{lon + rng.uniform(-GX_JITTER, GX_JITTER):.5f}",
            _elevation(rng, taxon["ALTITUDE"]),
        ])  # fmt: skip
    return rows


def vnmn_checklist(gx_taxa: list[dict[str, str]], rng: random.Random) -> list[list[str]]:
    """The real Vietnamese lists, then Flora of China names of the karst families."""
    family_of = {t["GENUS"]: t["FAMILY"] for t in gx_taxa}
    family_of["Primulina"] = "Gesneriaceae"
    names = sorted({
        r["SCIENTIFIC_NAME"] for r in _read("flora_of_china_names.csv")
        if " " in r["SCIENTIFIC_NAME"] and r["SCIENTIFIC_NAME"].split()[0] in family_of
    })  # fmt: skip
    in_guangxi = {t["SPECIES_FULL"] for t in gx_taxa}
    shared = [n for n in names if n in in_guangxi]
    others = [n for n in names if n not in in_guangxi and not n.startswith("Primulina ")]
    chosen = set(rng.sample(shared, VNMN_SHARED_NAMES)) | set(rng.sample(others, VNMN_OTHER_NAMES))
    chosen |= {n for n in names if n.startswith("Primulina ")}
    taxa = vietnamese_taxa()
    listed = {_canonical(t[0]) for t in taxa}
    taxa += [
        (name, family_of[name.split()[0]], "", "", SOURCE_FLORA_OF_CHINA)
        for name in sorted(chosen) if _canonical(name) not in listed
    ]  # fmt: skip
    return [
        [f"VNMN-T{n:04d}", name, name.split()[0], family, vi, other, source]
        for n, (name, family, vi, other, source) in enumerate(taxa, start=1)
    ]


def vnmn_occurrences(taxa: list[list[str]], rng: random.Random) -> list[list[str]]:
    counters: dict[str, int] = {}
    rows = []
    for n in range(1, VNMN_OCCURRENCES + 1):
        taxon = rng.choice(taxa)
        province, lat, lon = rng.choice(VN_PROVINCES)
        collector, number = _collector(rng, "HIJKLMN", counters)
        rows.append([
            f"VNMN-SYN-{n:06d}",
            taxon[1],
            "Tiêu bản" if rng.random() < 0.6 else "Quan sát",
            collector,
            number,
            _date(rng),
            province,
            f"Núi đá vôi, {province} (địa điểm giả lập, SYNTHETIC)",
            f"{lat + rng.uniform(-VN_JITTER, VN_JITTER):.5f}",
            f"{lon + rng.uniform(-VN_JITTER, VN_JITTER):.5f}",
            str(rng.randint(200, 1600)),
        ])  # fmt: skip
    return rows


def build() -> dict[str, bytes]:
    """Every sample data file, by path relative to node/samples/."""
    rng = random.Random(SEED)
    header, gx_taxa = gxib_checklist()
    gx_rows = [[t[c] for c in header] for t in gx_taxa]
    vn_taxa = vnmn_checklist(gx_taxa, rng)
    return {
        "gxib/checklist.csv": _csv_text(header, gx_rows, "\n").encode("utf-8"),
        "gxib/occurrences.csv": _csv_text(
            GXIB_OCC_COLUMNS, gxib_occurrences(gx_taxa, rng), "\r\n"
        ).encode("gb18030"),
        "vnmn/checklist.csv": _csv_text(VNMN_TAXON_COLUMNS, vn_taxa, "\n").encode("utf-8-sig"),
        "vnmn/occurrences.csv": _cp1258(
            _csv_text(VNMN_OCC_COLUMNS, vnmn_occurrences(vn_taxa, rng), "\n")
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "node" / "samples")
    out = parser.parse_args().out
    for relative, data in build().items():
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        print(f"{target}: {len(data):,} bytes")


if __name__ == "__main__":
    main()
