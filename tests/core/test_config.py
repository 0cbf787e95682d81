"""node.toml: every setting documented in the file `init` writes, and clear refusals."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agreements.signing import public_key_to_text
from node.cli import main
from node.core.config import load_config
from node.core.errors import ConfigError
from node.core.settings_doc import README_BEGIN, README_END, readme_table, settings, template
from node.store.home import init_home

README = Path(__file__).resolve().parents[2] / "README.md"
KEY = public_key_to_text(Ed25519PrivateKey.generate().public_key())
PEER = f'[[peers]]\nid = "vnmn"\nurl = "http://x"\nkey = "{KEY}"\n'


def test_config__every_setting_is_documented_in_the_template_and_readme() -> None:
    written = template({"node": {"id": "gxib", "name": "Guangxi"}})
    readme = README.read_text(encoding="utf-8")
    undocumented = []
    for header, key, info in settings():
        described = bool(info.description) and f"{key} = " in written
        in_readme = f"| `{header} {key}` |" in readme
        if not (described and in_readme and f"# {info.description}" in written):
            undocumented.append(f"{header} {key}")
    assert len(settings()) >= 30
    assert undocumented == []


def test_config__readme_table_is_the_one_generated_from_the_models() -> None:
    readme = README.read_text(encoding="utf-8")
    table = readme.split(README_BEGIN, 1)[1].split(README_END, 1)[0].strip()
    assert table == readme_table(), "run `python -m node.core.settings_doc README.md`"


def test_config__init_writes_a_loadable_home_with_a_private_key(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "init",
            "--home",
            str(tmp_path / "n"),
            "--id",
            "gxib",
            "--name",
            "Guangxi",
            "--country",
            "cn",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "fingerprint" in result.output
    config = load_config(tmp_path / "n")
    assert (config.id, config.country, config.port) == ("gxib", "CN", 8701)
    mode = stat.S_IMODE(os.stat(tmp_path / "n" / "keys" / "node.key").st_mode)
    assert mode == 0o600
    for folder in ("agreements", "sources", "store"):
        assert (tmp_path / "n" / folder).is_dir()


def test_config__init_refuses_to_overwrite_a_node(tmp_path: Path) -> None:
    init_home(tmp_path, "gxib", "Guangxi")
    result = CliRunner().invoke(
        main, ["init", "--home", str(tmp_path), "--id", "gxib", "--name", "x"]
    )
    assert result.exit_code == 1
    assert "refusing to overwrite" in result.output


def test_config__bad_id_is_a_usage_error_not_a_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["init", "--home", str(tmp_path), "--id", "Bad Id!", "--name", "x"]
    )
    assert result.exit_code == 1
    assert "lower-case" in result.output


DATASET = (
    '[[datasets]]\nid = "d1"\ntitle = "t"\ntype = "checklist"\nsource = "s.csv"\n'
    'licence = "CC0-1.0"\n'
)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (DATASET.replace("checklist", "specimens"), "expected one of 'occurrence' or 'checklist'"),
        (DATASET + 'colour = "red"\n', "unknown setting 'colour'; known: abstract, contact_email"),
        (PEER.replace(KEY, "rsa:abc"), "expected an Ed25519 public key"),
        (PEER + 'purpose = "Public health"\n', "expected text matching"),
        (
            '[[gbif]]\nname = "q1"\nmethod = "scrape"\npredicate = {country = "CN"}\n',
            "expected one of 'search' or 'download'",
        ),
        (DATASET + DATASET, "'d1' declared twice"),
    ],
)
def test_config__invalid_settings_are_refused_with_the_reason(
    tmp_path: Path, extra: str, message: str
) -> None:
    init_home(tmp_path, "gxib", "Guangxi")
    with open(tmp_path / "node.toml", "a", encoding="utf-8") as handle:
        handle.write("\n" + extra)
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path)
    assert message in error.value.detail


def _line_of(text: str, snippet: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if snippet in line)


# (edit of the node.toml `init` writes, the line that is wrong, what the error expects)
TYPE_CASES = {
    "public as text": (
        lambda t: t + "\n" + DATASET + 'public = "false"\n',
        'public = "false"',
        "datasets#1.public: expected a boolean: true or false, without quotes, "
        "got the text 'false'",
    ),
    "public as a number": (
        lambda t: t + "\n" + DATASET + "public = 1\n",
        "public = 1",
        "datasets#1.public: expected a boolean: true or false, without quotes, got the number 1",
    ),
    "keywords as text": (
        lambda t: t + "\n" + DATASET + 'keywords = "abc"\n',
        'keywords = "abc"',
        "datasets#1.keywords: expected a list",
    ),
    "port as text": (
        lambda t: t.replace("port = 8701", 'port = "8701x"'),
        'port = "8701x"',
        "server.port: expected a whole number, without quotes, got the text '8701x'",
    ),
    "port out of range": (
        lambda t: t.replace("port = 8701", "port = 70000"),
        "port = 70000",
        "server.port: expected a number <= 65535, got the number 70000",
    ),
    "versions_kept as a boolean": (
        lambda t: t.replace("versions_kept = 5", "versions_kept = true"),
        "versions_kept = true",
        "publishing.versions_kept: expected a whole number, without quotes, got the boolean true",
    ),
    "datasets as text": (
        lambda t: 'datasets = "d1"\n' + t,
        'datasets = "d1"',
        "datasets: expected a list",
    ),
    "datasets as a list of text": (
        lambda t: 'datasets = ["d1"]\n' + t,
        'datasets = ["d1"]',
        "datasets#1: expected a table, got the text 'd1'",
    ),
    "peer key malformed": (
        lambda t: t + "\n" + PEER.replace(KEY, "ed25519:abc"),
        'key = "ed25519:abc"',
        "peers#1.key: expected an Ed25519 public key 'ed25519:<base64>'",
    ),
    "peer key of the wrong length": (
        lambda t: t + "\n" + PEER.replace(KEY, "ed25519:" + KEY[12:]),
        'key = "ed25519:' + KEY[12:],
        "peers#1.key: expected an Ed25519 public key 'ed25519:<base64>' (an Ed25519 public key "
        "has 32 bytes",
    ),
}


@pytest.mark.parametrize("case", list(TYPE_CASES))
def test_config__wrong_types_name_the_file_line_and_expected_type(
    tmp_path: Path, case: str
) -> None:
    edit, wrong_line, expected = TYPE_CASES[case]
    init_home(tmp_path, "gxib", "Guangxi")
    path = tmp_path / "node.toml"
    text = edit(path.read_text(encoding="utf-8"))
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path)
    assert error.value.detail.startswith(f"{path} line {_line_of(text, wrong_line)}: {expected}")
    assert "\n" not in error.value.detail


def test_config__every_problem_is_reported_at_once_in_line_order(tmp_path: Path) -> None:
    init_home(tmp_path, "gxib", "Guangxi")
    path = tmp_path / "node.toml"
    text = path.read_text(encoding="utf-8").replace("port = 8701", 'port = "8701"')
    text += "\n" + DATASET + 'public = "true"\nkeywords = "abc"\ncolor = "red"\n'
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path)
    problems = error.value.detail.splitlines()
    assert [p.split(": ")[1] for p in problems] == [
        "server.port",
        "datasets#1.public",
        "datasets#1.keywords",
        "datasets#1.color",
    ]
    assert [int(p.split(" line ")[1].split(":")[0]) for p in problems] == [
        _line_of(text, 'port = "8701"'),
        _line_of(text, 'public = "true"'),
        _line_of(text, 'keywords = "abc"'),
        _line_of(text, 'color = "red"'),
    ]
    assert "did you mean 'colour'" not in problems[3]


def test_config__lists_and_booleans_of_the_right_type_are_kept_as_written(tmp_path: Path) -> None:
    init_home(tmp_path, "gxib", "Guangxi")
    with open(tmp_path / "node.toml", "a", encoding="utf-8") as handle:
        handle.write("\n" + DATASET + 'public = true\nkeywords = ["karst", "Begonia"]\n')
    dataset = load_config(tmp_path).dataset("d1")
    assert (dataset.public, dataset.keywords) == (True, ("karst", "Begonia"))


def test_config__a_name_with_quotes_survives_init(tmp_path: Path) -> None:
    init_home(tmp_path, "gxib", 'Institute "GXIB" of Botany')
    assert load_config(tmp_path).name == 'Institute "GXIB" of Botany'


def test_config__peer_purpose_defaults_to_research(tmp_path: Path) -> None:
    init_home(tmp_path, "gxib", "Guangxi")
    with open(tmp_path / "node.toml", "a", encoding="utf-8") as handle:
        handle.write("\n" + PEER)
    assert load_config(tmp_path).peer("vnmn").purpose == "research"


def test_config__missing_home_says_how_to_create_one(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["status", "--home", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "fednode init" in result.output
