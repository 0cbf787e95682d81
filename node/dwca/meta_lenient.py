"""Read meta.xml as leniently as GBIF's crawler, before the descriptor classes see it.

python-dwca-reader's descriptor classes fail on meta.xml documents GBIF indexes: a section
without an `encoding` attribute (the text guide's default is UTF-8), an extension keyed by
`<id>` where the guide says `<coreid>` (the IPT wrote such files for years), and a data file
split over several `<location>` elements (only the first would be read). The document is
rewritten here into the strict form, so one parser stays in charge of the rest.
"""

from __future__ import annotations

import re
from xml.etree.ElementTree import Element, tostring

import defusedxml.ElementTree as safe_et

DEFAULT_ENCODING = "UTF-8"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _strip_namespaces(element: Element) -> None:
    for node in element.iter():
        node.tag = _local(node.tag)


def normalise_meta(text: str) -> str:
    """meta.xml text with the defaults GBIF applies written out.

    The caller has already refused DTDs, entities and oversized documents.
    """
    # The text is decoded already: an XML declaration naming another encoding would lie.
    text = re.sub(r"^\ufeff?\s*<\?xml[^>]*\?>", "", text)
    root = safe_et.fromstring(text, forbid_dtd=True)
    _strip_namespaces(root)
    for section in [*root.findall("core"), *root.findall("extension")]:
        if not (section.get("encoding") or "").strip():
            section.set("encoding", DEFAULT_ENCODING)
        if section.tag == "extension" and section.find("coreid") is None:
            key = section.find("id")
            if key is not None:
                key.tag = "coreid"
    return tostring(root, encoding="unicode")


def locations(section: Element | None) -> list[str]:
    """Every file a core or extension is split over, in the order meta.xml lists them."""
    if section is None:
        return []
    found = [(node.text or "").strip() for node in section.findall("files/location")]
    return [name for name in found if name]
