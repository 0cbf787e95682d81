"""Licences: every spelling the node meets, read one way.

Records, EML, GBIF's API and node.toml name the same licence as an SPDX id (`CC-BY-4.0`),
a URL (http or https, with or without `legalcode`, `deed.zh` or a trailing slash), GBIF's
enum (`CC_BY_NC_4_0`), GBIF's licence title, or loose words (`cc by 4.0`, `CC-BY-NC`).
Three parsers that each knew some of these let one record's licence compare unequal to
itself; this module is the one reader, in the lowest layer, for EML, enforcement,
harvesting and export alike.

`licence_id` gives the SPDX id of any Creative Commons licence it can read, whatever its
version; `find_licence` only the licences the node can publish under, with the wording
GBIF's licence detection recognises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Licence:
    """A licence the node can publish under, with the words GBIF's parser recognises."""

    id: str
    title: str
    url: str
    before: str
    after: str
    gbif_indexes: bool = True  # False: fine between partners, but GBIF will not index it


_LICENSED_UNDER = "This work is licensed under a "
LICENCES: dict[str, Licence] = {
    "CC0-1.0": Licence(
        "CC0-1.0",
        "Public Domain (CC0 1.0)",
        "http://creativecommons.org/publicdomain/zero/1.0/legalcode",
        "To the extent possible under law, the publisher has waived all rights to these data "
        "and has dedicated them to the ",
        ". Users may copy, modify, distribute and use the work, including for commercial "
        "purposes, without restriction.",
    ),
    "CC-BY-4.0": Licence(
        "CC-BY-4.0",
        "Creative Commons Attribution (CC-BY) 4.0 License",
        "http://creativecommons.org/licenses/by/4.0/legalcode",
        _LICENSED_UNDER,
        ".",
    ),
    "CC-BY-NC-4.0": Licence(
        "CC-BY-NC-4.0",
        "Creative Commons Attribution Non Commercial (CC-BY-NC) 4.0 License",
        "http://creativecommons.org/licenses/by-nc/4.0/legalcode",
        _LICENSED_UNDER,
        ".",
    ),
    # Data taken from GPL-licensed packages (such as the bundled sample checklists) keep
    # their licence; partners may share them, GBIF accepts only the three above.
    "GPL-2.0-only": Licence(
        "GPL-2.0-only",
        "GNU General Public License v2.0 only",
        "https://www.gnu.org/licenses/old-licenses/gpl-2.0.html",
        "This work is licensed under the ",
        ". GBIF does not index datasets under this licence.",
        gbif_indexes=False,
    ),
}
# Spellings without a version: GBIF's vocabulary and the IPT mean the 4.0 licences.
_UNVERSIONED = {"cc0": "CC0-1.0", "cc-zero": "CC0-1.0", "cc-by": "CC-BY-4.0",
                "cc-by-nc": "CC-BY-NC-4.0", "gpl-2.0": "GPL-2.0-only"}  # fmt: skip
_CC_URL = re.compile(
    r"creativecommons\.org/(?:licenses/(?P<kind>[a-z-]+)|publicdomain/(?P<zero>zero))"
    r"/(?P<version>\d\.\d)"
)
# `CC-BY-NC-4.0`, `CC_BY_NC_4_0` (GBIF's enum), `cc by nc 4.0`, `CC BY-NC 4.0`
_CC_WORDS = re.compile(r"cc[-_ ]?(?P<zero>0|zero)?(?P<kind>(?:[-_ ](?:by|nc|sa|nd))*)"
                       r"(?:[-_ ]v?(?P<version>\d[._]\d))?")  # fmt: skip


def _cc_id(kind: str, zero: bool, version: str) -> str:
    if zero:
        return f"CC0-{version}"
    return "CC-" + "-".join(p.upper() for p in re.split(r"[-_ ]+", kind) if p) + f"-{version}"


def _spdx(text: str) -> str | None:
    value = " ".join(text.split()).lower()
    if "://" in value:
        match = _CC_URL.search(value)
        if match:
            return _cc_id(match["kind"] or "", bool(match["zero"]), match["version"])
        key = re.sub(r"^https?://(www\.)?", "", value).rstrip("/")
        return next(
            (lic.id for lic in LICENCES.values()
             if re.sub(r"^https?://(www\.)?", "", lic.url.lower()) == key),
            None,
        )  # fmt: skip
    for lic in LICENCES.values():
        if value in (lic.id.lower(), lic.title.lower()):
            return lic.id
    match = _CC_WORDS.fullmatch(value)
    if match and (match["zero"] or match["kind"]):
        kind = re.sub(r"[_ ]", "-", match["kind"]).strip("-")
        if match["version"] is None:
            return _UNVERSIONED.get("cc0" if match["zero"] else f"cc-{kind}")
        return _cc_id(kind, bool(match["zero"]), match["version"].replace("_", "."))
    return _UNVERSIONED.get(re.sub(r"[\s_]+", "-", value))


def licence_id(text: str | None) -> str | None:
    """The SPDX id of a licence in any spelling (`CC_BY_4_0` -> `CC-BY-4.0`); text the node
    cannot read stays as given, so nothing is lost; None for no text."""
    if text is None or not text.strip():
        return None
    return _spdx(text) or text


def find_licence(text: str | None) -> Licence | None:
    """The publishable licence any spelling names, or None (unknown, or another version)."""
    if not text or not text.strip():
        return None
    found = _spdx(text)
    return LICENCES.get(found) if found else None


def licence_url(text: str) -> str:
    """The legal code URL for a known licence, else the text unchanged (dc:license)."""
    lic = find_licence(text)
    return lic.url if lic else text
