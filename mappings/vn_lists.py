"""The real Vietnamese name lists, read as Darwin Core taxon tables.

Two lists give Vietnamese names: the plants of Vietnam's protected-species decrees (bundled
for agreements as `agreements/lists/vn-protected-plants.csv`) and Đỗ Tất Lợi's medicinal
plants (CC BY 4.0). Neither says which language its names are in, and guessing would file
a Vietnamese name typed without diacritics as English; their `familyVietnamese` column
says what they are. The medicinal list writes `(Không có)` ("none") where a plant has no
other name, and names drugs of unidentified plants (`Gossypium sp.`: `Hạt Bông`, the
seed): such rows name no taxon and are left out.
"""

from __future__ import annotations

import pyarrow as pa

from mappings.names import parse_name

_MARK = "familyVietnamese"
_NONE = {"(không có)", "không có", "-", ""}


def is_vietnamese_list(columns: list[str]) -> bool:
    return _MARK in columns and "scientificName" in columns and "vernacularName" in columns


def to_darwin_core(table: pa.Table) -> pa.Table:
    """One row per (name, Vietnamese name), `language` vi, `family` kept; other names
    (`otherVernacularNames`, comma-separated) as rows of their own."""
    out: dict[str, list[str]] = {
        k: [] for k in ("scientificName", "vernacularName", "language", "family")
    }
    for row in table.to_pylist():
        name = " ".join((row.get("scientificName") or "").split())
        if not name or not parse_name(name).epithets or _unidentified(name):
            continue
        names = [row.get("vernacularName") or ""]
        names += (row.get("otherVernacularNames") or "").split(",")
        for vernacular in names:
            vernacular = vernacular.strip()
            if vernacular.lower() in _NONE:
                continue
            out["scientificName"].append(name)
            out["vernacularName"].append(vernacular)
            out["language"].append("vi")
            out["family"].append((row.get("family") or "").strip())
    return pa.table({k: pa.array(v, pa.string()) for k, v in out.items()})


def _unidentified(name: str) -> bool:
    words = name.split()
    return len(words) >= 2 and words[1] in ("sp.", "spp.", "sp", "spp")
