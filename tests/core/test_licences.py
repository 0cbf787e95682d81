"""One licence reader: every spelling the node meets names the same licence."""

from __future__ import annotations

import pytest

from node.core.licences import find_licence, licence_id, licence_url

# Spellings seen in real data: EML (IPT and GBIF downloads), GBIF's API, records' `license`.
SPELLINGS = [
    ("http://creativecommons.org/licenses/by/4.0/legalcode", "CC-BY-4.0"),
    ("https://creativecommons.org/licenses/by/4.0/legalcode", "CC-BY-4.0"),
    ("https://creativecommons.org/licenses/by/4.0/", "CC-BY-4.0"),
    ("http://creativecommons.org/licenses/by/4.0", "CC-BY-4.0"),
    ("https://creativecommons.org/licenses/by/4.0/deed.zh", "CC-BY-4.0"),
    ("https://creativecommons.org/licenses/by-nc/4.0/legalcode.vi", "CC-BY-NC-4.0"),
    ("http://creativecommons.org/licenses/by-nc/4.0/", "CC-BY-NC-4.0"),
    ("http://creativecommons.org/publicdomain/zero/1.0/legalcode", "CC0-1.0"),
    ("https://creativecommons.org/publicdomain/zero/1.0/", "CC0-1.0"),
    ("CC-BY-4.0", "CC-BY-4.0"),
    ("CC0-1.0", "CC0-1.0"),
    ("GPL-2.0-only", "GPL-2.0-only"),
    ("https://www.gnu.org/licenses/old-licenses/gpl-2.0.html", "GPL-2.0-only"),
    ("CC_BY_4_0", "CC-BY-4.0"),
    ("CC_BY_NC_4_0", "CC-BY-NC-4.0"),
    ("CC0_1_0", "CC0-1.0"),
    ("CC-BY-NC", "CC-BY-NC-4.0"),
    ("cc-by", "CC-BY-4.0"),
    ("CC0", "CC0-1.0"),
    ("cc by 4.0", "CC-BY-4.0"),
    ("CC BY-NC 4.0", "CC-BY-NC-4.0"),
    ("Creative Commons Attribution (CC-BY) 4.0 License", "CC-BY-4.0"),
    ("Creative Commons Attribution Non Commercial (CC-BY-NC) 4.0 License", "CC-BY-NC-4.0"),
    ("Public Domain (CC0 1.0)", "CC0-1.0"),
]


@pytest.mark.parametrize(("text", "expected"), SPELLINGS)
def test_find_licence__every_spelling_names_the_one_licence(text: str, expected: str) -> None:
    found = find_licence(text)
    assert found is not None and found.id == expected
    assert licence_id(text) == expected
    assert licence_url(text) == found.url


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Other Creative Commons licences and versions: read, but not ones the node publishes.
        ("http://creativecommons.org/licenses/by-nc/3.0/", "CC-BY-NC-3.0"),
        ("CC-BY-SA-4.0", "CC-BY-SA-4.0"),
        ("CC_BY_NC_SA_4_0", "CC-BY-NC-SA-4.0"),
        # Text no reader can place stays as given: nothing is lost, nothing invented.
        ("UNSPECIFIED", "UNSPECIFIED"),
        ("All rights reserved", "All rights reserved"),
        ("https://example.org/licence", "https://example.org/licence"),
    ],
)
def test_licence_id__other_licences_keep_their_identity(text: str, expected: str) -> None:
    assert licence_id(text) == expected
    assert find_licence(text) is None
    assert licence_url(text) == text


def test_licence_id__no_text_is_no_licence() -> None:
    assert licence_id(None) is None and licence_id("  ") is None and find_licence("") is None
