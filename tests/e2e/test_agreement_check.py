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


def _with_flow_licence(federation: Federation, dataset: str, licence: str) -> str:
    """The demo agreement with `dataset`'s flow granting `licence` instead."""
    path = federation.agreement_path("gxib")
    text = path.read_text(encoding="utf-8")
    head, flow = text.split(f'datasets = ["{dataset}"]\n', 1)
    old = flow.split("\n", 1)[0]
    assert old.startswith("licence = "), old
    path.write_text(head + f'datasets = ["{dataset}"]\n' + flow.replace(old, licence, 1))
    return str(path)


def test_agreement_check__refuses_a_flow_granting_more_than_the_data_licence(
    federation: Federation,
) -> None:
    # The sample occurrences carry the GPL-2.0-only licence of the names they come from.
    path = _with_flow_licence(federation, "gxib-karst-occurrences", 'licence = "CC-BY-NC-4.0"')
    result = cli("agreement", "check", path, "--home", str(federation.gxib.home))
    assert result.exit_code == 1, result.output
    assert "refused: a flow may not grant a licence" in result.output
    assert (
        "dataset gxib-karst-occurrences: the data is licensed GPL-2.0-only, which does not "
        "permit sending it as CC-BY-NC-4.0"
    ) in result.output
    as_json = cli("agreement", "check", path, "--json", "--home", str(federation.gxib.home))
    assert as_json.exit_code == 1 and '"refused": [' in as_json.output


def test_agreement_check__cc_by_nc_data_cannot_become_cc0(federation: Federation) -> None:
    config = federation.gxib.home / "node.toml"
    text = config.read_text(encoding="utf-8")
    head, tail = text.split('id = "gxib-karst-occurrences"', 1)
    tail = tail.replace('licence = "GPL-2.0-only"', 'licence = "CC-BY-NC-4.0"', 1)
    config.write_text(head + 'id = "gxib-karst-occurrences"' + tail)
    path = _with_flow_licence(federation, "gxib-karst-occurrences", 'licence = "CC0-1.0"')
    result = cli("agreement", "check", path, "--home", str(federation.gxib.home))
    assert result.exit_code == 1, result.output
    assert "licensed CC-BY-NC-4.0, which does not permit sending it as CC0-1.0" in result.output
    keeping = _with_flow_licence(federation, "gxib-karst-occurrences", 'licence = "CC-BY-NC-4.0"')
    assert cli("agreement", "check", keeping, "--home", str(federation.gxib.home)).exit_code == 0
