"""Vietnam's protected-plant list as an agreement's sensitive names, by decree group.

The bundled list (agreements/lists/vn-protected-plants.csv) selects group IA (withheld) and
group IIA (generalised). Records are named as Vietnamese data really names them: under an
old synonym the node's own checklist resolves, with authorship typed in decomposed Unicode
(NFD, as macOS saves it), and in stores written before text was composed on the way in.
"""

from __future__ import annotations

import hashlib
import unicodedata
from pathlib import Path

import pyarrow as pa

from agreements.validate import BUNDLED_LISTS
from node.publish.own_checklists import with_trusted_accepted_names
from tests.agreements.agreement_builders import FLOW, agreement_text, records, signed
from tests.agreements.test_enforce import ids, run

_DIGEST = hashlib.sha256((BUNDLED_LISTS / "vn-protected-plants.csv").read_bytes()).hexdigest()
_RULES = f"""
[[flows.sensitive]]
names = "bundled:vn-protected-plants"
names_sha256 = "{_DIGEST}"
categories = ["IA"]
action = "withhold"

[[flows.sensitive]]
names = "bundled:vn-protected-plants"
names_sha256 = "{_DIGEST}"
categories = ["IIA"]
action = "generalise"
grid_degrees = 0.1
"""
# The node's own checklist: Glyptostrobus heterophyllus (Brongn.) Endl. is the older name
# of Glyptostrobus pensilis (Staunton ex D. Don) K. Koch, group IA.
_OWN_SYNONYMS = {"Glyptostrobus heterophyllus": "Glyptostrobus pensilis"}


def _nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def _vietnamese_records() -> pa.Table:
    table = records(
        {"fed_dataset": "gxib-karst-flora"},
        occurrenceID=["vn-1", "vn-2", "vn-3", "vn-4"],
        scientificName=[
            "Glyptostrobus heterophyllus (Brongn.) Endl.",
            _nfd("Calocedrus rupestris Aver., T.H.Nguyên & L.K.Phan"),
            _nfd("Xanthocyparis vietnamensis Farjon & T.H.Nguyên"),
            "Primulina eburnea (Hance) Yin Z.Wang",
        ],
        decimalLatitude=["22.8512", "22.6931", "22.7405", "23.456"],
        decimalLongitude=["105.2617", "105.9866", "105.3511", "106.789"],
        locality=_nfd_list(["Hà Giang", "Cao Bằng", "Hà Giang", "Longzhou"]),
    )
    return with_trusted_accepted_names(table, _OWN_SYNONYMS)


def _nfd_list(values: list[str]) -> list[str | None]:
    return [_nfd(v) for v in values]


def test_group_ia_is_withheld_even_under_an_old_synonym_and_iia_generalised() -> None:
    agreement = signed(agreement_text(FLOW + _RULES))
    assert all(flow.problem is None for flow in agreement.flows)
    rows, report = run(_vietnamese_records(), agreement=agreement)
    assert ids(rows) == ["vn-2", "vn-4"]  # vn-1 (old name of an IA conifer), vn-3 (IA)
    by_id = {row["occurrenceID"]: row for row in rows}
    assert by_id["vn-2"]["fed_generalised"] is True  # Calocedrus rupestris: group IIA
    assert by_id["vn-2"]["decimalLatitude"] == 22.7
    assert by_id["vn-4"]["fed_generalised"] is False
    assert report["withheld_sensitive"] == 2


def test_without_the_node_checklist_the_old_synonym_is_not_known() -> None:
    # The same records without the synonymy: the old name is not on the decree list, which
    # is why the node's own checklist must be consulted (the previous test).
    agreement = signed(agreement_text(FLOW + _RULES))
    table = _vietnamese_records().drop_columns(["fed_trusted_accepted_name"])
    rows, _ = run(table, agreement=agreement)
    assert "vn-1" in ids(rows)


def test_a_stored_nfd_name_matches_a_list_typed_in_nfc(tmp_path: Path) -> None:
    # Isoëtes sinensis Palmer (China's first-class protected quillwort): its diaeresis is
    # one of the few marks a Latin plant name may carry (ICN Art. 60.6).
    content = "scientificName,category\nIsoëtes sinensis,I\n".encode()
    (tmp_path / "cn-key-protected.csv").write_bytes(content)
    rule = (
        '\n[[flows.sensitive]]\nnames = "cn-key-protected.csv"\n'
        f'names_sha256 = "{hashlib.sha256(content).hexdigest()}"\n'
        'categories = ["I"]\naction = "withhold"\n'
    )
    agreement = signed(agreement_text(FLOW + rule), base_dir=tmp_path)
    # A store written before text was composed on the way in keeps the NFD spelling.
    stored = pa.table(
        {
            "occurrenceID": ["gx-9", "gx-10"],
            "scientificName": [_nfd("Isoëtes sinensis Palmer"), "Isoetes hypsophila Hand.-Mazz."],
            "fed_dataset": ["gxib-karst-flora"] * 2,
        }
    )
    rows, _ = run(stored, agreement=agreement)
    assert ids(rows) == ["gx-10"]
