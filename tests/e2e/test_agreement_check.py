"""`fednode agreement check`: what an admin learns before signing."""

from __future__ import annotations

from tests.e2e.conftest import Federation, cli


def test_agreement_check__previews_counts_examples_and_the_allow_list(
    federation: Federation,
) -> None:
    path = federation.agreement_path("gxib")
    result = cli("agreement", "check", str(path), "--home", str(federation.gxib.home))
    assert result.exit_code == 0, result.output
    out = result.output
    assert "gxib-vnmn@1: valid document; state: active" in out
    assert "600 records: 456 would be sent, 27 generalised" in out
    assert "144 out of scope by taxa" in out
    assert "recordedBy withheld in 456 records" in out
    assert "decimalLatitude:" in out and "-> 'withheld under agreement gxib-vnmn@1'" in out
    # Generalised records keep the allow-list only: occurrenceRemarks goes although the
    # demo agreement does not name it.
    assert "generalised records keep only: basisOfRecord, " in out
    assert "occurrenceRemarks cleared in 27 generalised records" in out
    assert "locality cleared in 27 generalised records" in out
    assert "flow #3 vnmn -> gxib\n  sent by the other party" in out


def test_agreement_check__a_broken_agreement_names_the_line(federation: Federation) -> None:
    path = federation.agreement_path("gxib")
    text = path.read_text(encoding="utf-8").replace("grid_degrees = 0.1", "grid_degrees = 0.5")
    path.write_text(text, encoding="utf-8")
    result = cli("agreement", "check", str(path), "--home", str(federation.gxib.home))
    assert result.exit_code == 1
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "grid_degrees = 0.5" in t)
    assert f"line {line}" in result.output and "grid_degrees" in result.output
