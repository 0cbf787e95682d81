"""Column mapping files: columns to terms, constants, translations, vernacular names, ids."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from mappings.columns import auto_mapping, load_mapping, mapping_from_dict, term_for_column
from node.core.errors import InvalidSource

SAMPLES = Path(__file__).resolve().parents[2] / "node" / "samples"

RED_LIST = {
    "濒危（EN）": "EN",
    "极危（CR）": "CR",
    "易危（VU）": "VU",
    "近危（NT）": "NT",
    "无危（LC）": "LC",
    "数据缺乏（DD）": "DD",
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "export.mapping.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_mapping__sample_file_maps_chinese_export_columns() -> None:
    mapping = load_mapping(SAMPLES / "gxib" / "checklist.mapping.toml")
    assert mapping.columns["SPECIES_FULL"] == ("scientificName",)
    assert mapping.columns["IUCN_CHINA"] == ("iucnRedListCategory",)
    assert mapping.id_generate == "line"
    assert [(v.column, v.language) for v in mapping.vernacular] == [("SPECIES_CN", "zh")]
    assert mapping.constants == {"kingdom": "Plantae"}


def test_apply__translates_red_list_categories_with_full_width_brackets() -> None:
    mapping = mapping_from_dict(
        {
            "columns": {"IUCN_CHINA": "iucnRedListCategory"},
            "translations": {"iucnRedListCategory": RED_LIST},
        }
    )
    verbatim = [*RED_LIST, "濒危(EN)", " 极危（cr） ", "未评估", ""]
    table = pa.table({"IUCN_CHINA": verbatim})
    out = mapping.resolve(table.column_names).apply(table)
    assert out.column("iucnRedListCategory").to_pylist() == [
        *RED_LIST.values(),
        "EN",  # ASCII brackets match the full-width key
        "CR",  # spaces and case are folded too
        "未评估",  # no translation: published as it was
        "",
    ]
    assert mapping.untranslated(out) == {"iucnRedListCategory": ["未评估"]}


def test_apply__constants_vernacular_and_generated_ids() -> None:
    mapping = mapping_from_dict(
        {
            "id": {"generate": "line"},
            "columns": {"SPECIES_FULL": "scientificName"},
            "constants": {"kingdom": "Plantae"},
            "vernacular": {
                "SPECIES_CN": "zh",
                "ALIASES": {"language": "zh", "split": "、"},
                "EN_NAME": "en",
            },
        }
    )
    table = pa.table(
        {
            "SPECIES_FULL": ["Begonia aurantiflora C. Y. Wu", "Primulina tabacum Hance"],
            "SPECIES_CN": ["橙花侧膜秋海棠", ""],
            "ALIASES": ["甲、乙、", "报春苣苔"],
            "EN_NAME": ["", ""],
        }
    )
    out = mapping.resolve(table.column_names).apply(
        table, id_term="taxonID", dataset_id="gxib-checklist", first_line=2
    )
    assert out.column_names == [
        "taxonID",
        "scientificName",
        "kingdom",
        "fed_vernacular_zh",
        "fed_vernacular_en",
    ]
    assert out.column("taxonID").to_pylist() == ["gxib-checklist:2", "gxib-checklist:3"]
    assert out.column("kingdom").to_pylist() == ["Plantae", "Plantae"]
    assert out.column("fed_vernacular_zh").to_pylist() == ["橙花侧膜秋海棠 | 甲 | 乙", "报春苣苔"]
    assert out.column("fed_vernacular_en").to_pylist() == ["", ""]


def test_apply__generated_ids_follow_given_lines() -> None:
    mapping = mapping_from_dict({"id": {"generate": "line"}})
    table = pa.table({"x": ["a", "b"]})
    out = mapping.apply(table, id_term="taxonID", dataset_id="d", lines=pa.array([2, 4]))
    assert out.column("taxonID").to_pylist() == ["d:2", "d:4"]


def test_apply__id_column_also_feeds_other_terms() -> None:
    mapping = mapping_from_dict(
        {"id": {"column": "编号"}, "columns": {"编号": ["catalogNumber", "recordNumber"]}}
    )
    table = pa.table({"编号": ["GX-1"]})
    out = mapping.resolve(table.column_names).apply(table)
    assert out.to_pylist() == [
        {"occurrenceID": "GX-1", "catalogNumber": "GX-1", "recordNumber": "GX-1"}
    ]


def test_resolve__maps_columns_named_like_terms_case_insensitively() -> None:
    mapping = mapping_from_dict({"columns": {"学名": "scientificName"}})
    columns = ["学名", "scientificname", "DecimalLatitude", "dwc:eventDate", "备注"]
    resolved = mapping.resolve(columns)
    # the explicit mapping wins over the automatic one for scientificName
    assert resolved.columns == {
        "学名": ("scientificName",),
        "DecimalLatitude": ("decimalLatitude",),
        "dwc:eventDate": ("eventDate",),
    }
    assert resolved.unmapped(columns) == ["scientificname", "备注"]


def test_resolve__auto_false_maps_only_what_is_written() -> None:
    mapping = mapping_from_dict({"auto": False, "columns": {"a": "locality"}})
    assert mapping.resolve(["a", "eventDate"]).columns == {"a": ("locality",)}


def test_auto_mapping__recognises_term_names_prefixes_and_uris() -> None:
    mapping = auto_mapping(
        ["OCCURRENCEID", "http://rs.tdwg.org/dwc/terms/decimalLongitude", "采集人", "id"]
    )
    assert mapping.columns == {
        "OCCURRENCEID": ("occurrenceID",),
        "http://rs.tdwg.org/dwc/terms/decimalLongitude": ("decimalLongitude",),
    }
    assert term_for_column(" iucnredlistcategory ") == "iucnRedListCategory"


def test_load_mapping__unknown_term_suggests_the_right_spelling(tmp_path: Path) -> None:
    path = write(tmp_path, '[columns]\nSPECIES_FULL = "scientificname"\n')
    with pytest.raises(InvalidSource) as caught:
        load_mapping(path)
    message = str(caught.value)
    assert str(path) in message
    assert "SPECIES_FULL" in message
    assert "did you mean 'scientificName'?" in message


def test_load_mapping__misspelt_term_suggests_the_nearest(tmp_path: Path) -> None:
    path = write(tmp_path, '[constants]\ncountryCod = "CN"\n')
    with pytest.raises(InvalidSource, match="did you mean 'countryCode'"):
        load_mapping(path)


def test_load_mapping__unknown_table_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, '[colums]\na = "locality"\n')
    with pytest.raises(InvalidSource, match="did you mean 'columns'"):
        load_mapping(path)


def test_load_mapping__unquoted_chinese_key_gets_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path, '[columns]\n学名 = "scientificName"\n')
    with pytest.raises(InvalidSource, match='quote the column name: "学名"'):
        load_mapping(path)


def test_load_mapping__two_columns_for_one_term_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '[columns]\na = "locality"\nb = "locality"\n')
    with pytest.raises(InvalidSource, match="'b' and 'a' both map to 'locality'"):
        load_mapping(path)


def test_load_mapping__vernacular_language_must_be_zh_vi_or_en(tmp_path: Path) -> None:
    path = write(tmp_path, '[vernacular]\nSPECIES_CN = "cn"\n')
    with pytest.raises(InvalidSource) as error:
        load_mapping(path)
    assert error.value.detail == (
        f"{path} line 2: vernacular.SPECIES_CN.language: expected one of 'zh', 'vi' or 'en', "
        "got the text 'cn'"
    )


def test_load_mapping__id_takes_column_or_generate(tmp_path: Path) -> None:
    path = write(tmp_path, '[id]\ncolumn = "a"\ngenerate = "line"\n')
    with pytest.raises(InvalidSource, match="`column` or `generate`, not both"):
        load_mapping(path)


def test_load_mapping__conflicting_translations_are_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[translations.iucnRedListCategory]\n"濒危（EN）" = "EN"\n"濒危(EN)" = "CR"\n',
    )
    with pytest.raises(InvalidSource, match="different translation"):
        load_mapping(path)


def test_resolve__missing_column_names_the_mapping_and_suggests(tmp_path: Path) -> None:
    mapping = load_mapping(write(tmp_path, '[columns]\nSPECIES_FUL = "scientificName"\n'))
    with pytest.raises(InvalidSource, match="did you mean 'SPECIES_FULL'"):
        mapping.resolve(["SPECIES_FULL", "FAMILY"])


def test_apply__id_rule_and_mapped_id_column_clash() -> None:
    mapping = mapping_from_dict({"id": {"column": "a"}, "columns": {"b": "occurrenceID"}})
    table = pa.table({"a": ["1"], "b": ["2"]})
    with pytest.raises(InvalidSource, match="column 'b' is also mapped to occurrenceID"):
        mapping.resolve(table.column_names).apply(table)


# (mapping file text, the line that is wrong, what the error says after "<file> line N: ")
MAPPING_TYPE_CASES = {
    "translation table as text": (
        '[columns]\nRED = "iucnRedListCategory"\n\n[translations]\niucnRedListCategory = "EN"\n',
        'iucnRedListCategory = "EN"',
        "translations.iucnRedListCategory: expected a table, got the text 'EN'",
    ),
    "translated value as a number": (
        '[translations.iucnRedListCategory]\n"濒危（EN）" = 3\n',
        '"濒危（EN）" = 3',
        "translations.iucnRedListCategory.濒危（EN）: expected text in quotes, got the number 3",
    ),
    "column mapped to a number": (
        '[columns]\nSPECIES = "scientificName"\n"海拔" = 1200\n',
        '"海拔" = 1200',
        "columns.海拔: expected a term name in quotes or a list of them",
    ),
    "column mapped to a list holding a number": (
        '[columns]\nLAT = ["decimalLatitude", 2]\n',
        "LAT = ",
        "columns.LAT: expected a term name in quotes or a list of them",
    ),
    "auto as text": ('auto = "no"\n', 'auto = "no"', "auto: expected a boolean"),
    "vernacular as a number": (
        "[vernacular]\nSPECIES_CN = 1\n",
        "SPECIES_CN = 1",
        "vernacular.SPECIES_CN: expected a language code or a table",
    ),
    "unknown key in a table": (
        '[source]\nencodng = "gb18030"\n',
        "encodng",
        "source.encodng: unknown setting 'encodng' (did you mean 'encoding'?); "
        "known: delimiter, encoding, sheet",
    ),
}


@pytest.mark.parametrize("case", list(MAPPING_TYPE_CASES))
def test_load_mapping__wrong_types_name_the_file_line_and_expected_type(
    tmp_path: Path, case: str
) -> None:
    text, wrong_line, expected = MAPPING_TYPE_CASES[case]
    path = write(tmp_path, text)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if wrong_line in row)
    with pytest.raises(InvalidSource) as error:
        load_mapping(path)
    assert error.value.detail.startswith(f"{path} line {line}: {expected}")


def test_load_mapping__every_type_problem_is_listed_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "auto = 1\n[columns]\nA = 5\n[constants]\nkingdom = true\n")
    with pytest.raises(InvalidSource) as error:
        load_mapping(path)
    lines = [row.split(": ")[0] for row in error.value.detail.splitlines()]
    assert lines == [f"{path} line 1", f"{path} line 3", f"{path} line 5"]


def test_load_mapping__numbers_as_constants_are_published_as_written(tmp_path: Path) -> None:
    mapping = load_mapping(write(tmp_path, "[constants]\ncoordinateUncertaintyInMeters = 1000\n"))
    assert mapping.constants == {"coordinateUncertaintyInMeters": "1000"}
