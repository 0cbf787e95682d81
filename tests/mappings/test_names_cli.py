"""`fednode names`: the trilingual checklist a curator prints, from real lists."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from click.testing import CliRunner

from node.cli import main
from node.store.home import init_home

ROOT = Path(__file__).resolve().parents[2]
PROTECTED = ROOT / "agreements" / "lists" / "vn-protected-plants.csv"
GUANGXI_SAMPLE = ROOT / "node" / "samples" / "gxib" / "checklist.csv"


def test_names__one_row_per_taxon_with_both_sides_threat_status(tmp_path: Path) -> None:
    init_home(tmp_path / "home", "gxib", "Guangxi Institute of Botany")
    home = str(tmp_path / "home")
    left, right = str(GUANGXI_SAMPLE), str(PROTECTED)
    missing = CliRunner().invoke(main, ["names", "--home", home, left, right])
    assert missing.exit_code != 0 and "fednode reconcile" in missing.output
    done = CliRunner().invoke(main, ["reconcile", "--home", home, left, right])
    assert done.exit_code == 0, done.output
    result = CliRunner().invoke(main, ["names", "--home", home, left, right])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    accepted = [r["accepted_name"] for r in rows]
    assert len(accepted) == len(set(accepted))  # one row per accepted taxon
    (hangianum,) = [r for r in rows if r["accepted_name"].startswith("Paphiopedilum hangianum")]
    # Not in the Guangxi sample: only the Vietnamese side names it, in Vietnamese only.
    assert hangianum["vi"] == "Lan hài hằng" and hangianum["zh"] == ""
    assert hangianum["vietnam_decree_group"].split(";")[0] in ("IA", "priority")
    (malipoense,) = [r for r in rows if r["accepted_name"].startswith("Paphiopedilum malipoense")]
    assert (malipoense["zh"], malipoense["vi"]) == ("麻栗坡兜兰", "Lan hài xanh")
    assert malipoense["family"] == "Orchidaceae"
    assert malipoense["china_red_list"] == "CR"  # 极危（CR） in the Guangxi list
    assert "IA" in malipoense["vietnam_decree_group"].split(";")
    assert malipoense["left_names"].startswith("Paphiopedilum malipoense S. C. Chen")
    assert malipoense["right_names"] == "Paphiopedilum malipoense"
