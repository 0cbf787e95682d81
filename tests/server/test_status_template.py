"""The status page's template on its own: every value a data file can carry comes out
escaped, a missing value prints as nothing, and a status without a field the template
names is refused rather than drawn with a blank."""

from __future__ import annotations

import copy
from html import escape
from typing import Any

import jinja2
import pytest

from node.server.status_page import render

HOSTILE = '<img src=x onerror="alert(1)">&\'s'


def _status(text: str) -> dict[str, Any]:
    """A status with `text` in every field that comes from data or the network."""
    return {
        "node": {"id": text, "name": text, "country": text, "fingerprint": text},
        "generated": text,
        "datasets": [
            {
                "id": text, "title": text, "titles": {"vi": text}, "type": text,
                "version": text, "records": 1, "licence": text, "public": True,
                "modified": text, "examples": [{"scientificName": text, "fed_vernacular_zh": text}],
            }
        ],
        "sources": [
            {
                "source": text, "url": text, "schedule": text, "meaning": text, "next_run": text,
                "last_run": {"outcome": text, "records": 2, "finished": text, "error": text},
            }
        ],
        "agreements": [
            {"ref": text, "file": text, "title": text, "status": text, "reason": text,
             "flows": [text, text]}
        ],
        "audit": [
            {"seq": text, "time": text, "event": text, "peer": text, "agreement": text,
             "dataset": text, "counts": text, "detail": text}
        ],
    }  # fmt: skip


@pytest.mark.parametrize("language", ["en", "zh", "vi"])
def test_status_template__escapes_every_value_from_data(language: str) -> None:
    html = render(_status(HOSTILE), language)
    assert "<img" not in html
    # Every occurrence whole, in html.escape's entity forms: none left once those are removed.
    assert html.count(escape(HOSTILE)) > 20
    assert "onerror" not in html.replace(escape(HOSTILE), "")


def test_status_template__prints_missing_values_as_nothing() -> None:
    status = _status("x")
    status["agreements"][0].update(reason=None, ref=None)
    status["audit"][0].update(agreement=None, detail=None, counts=None)
    html = render(status)
    assert "None" not in html
    assert "<td><b>x</b><br>x</td>" in html  # no ref: the file name stands in


def test_status_template__refuses_a_status_missing_a_field() -> None:
    status = copy.deepcopy(_status("x"))
    del status["datasets"][0]["licence"]
    with pytest.raises(jinja2.UndefinedError):
        render(status)


def test_status_template__shows_the_abstract_in_the_readers_language() -> None:
    status = _status("x")
    status["datasets"][0]["abstracts"] = {"en": "Karst plots.", "vi": "Các ô núi đá vôi."}
    html = render(status, "vi")
    assert 'title="Các ô núi đá vôi."' in html and "Tóm tắt: Các ô núi đá vôi." in html
    assert 'title="Karst plots."' in render(status, "zh")  # no zh: the first given
