"""node.toml: every setting documented in the file `init` writes, and clear refusals."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from node.cli import main
from node.config import DatasetConfig, GbifQueryConfig, PeerConfig, load_config
from node.errors import ConfigError
from node.home import TEMPLATE, init_home


def test_config__every_setting_is_documented_in_the_template() -> None:
    documented = TEMPLATE
    fields = [
        *(f.name for f in dataclasses.fields(DatasetConfig)),
        *(f.name for f in dataclasses.fields(PeerConfig)),
        *(f.name for f in dataclasses.fields(GbifQueryConfig)),
        "host",
        "port",
        "versions_kept",
        "contact_email",
        "country",
    ]
    missing = [
        name for name in fields if f"{name} =" not in documented and f"# {name} =" not in documented
    ]
    assert missing == []


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
        (
            DATASET.replace("checklist", "specimens"),
            "type 'specimens' must be one of",
        ),
        (
            DATASET + 'colour = "red"\n',
            "unknown setting(s) colour",
        ),
        ('[[peers]]\nid = "vnmn"\nurl = "http://x"\nkey = "rsa:abc"\n', "key must look like"),
        (
            '[[peers]]\nid = "vnmn"\nurl = "http://x"\nkey = "ed25519:abc"\n'
            'purpose = "Public health"\n',
            "purpose 'Public health' must be one lower-case word",
        ),
        (
            '[[gbif]]\nname = "q1"\nmethod = "scrape"\npredicate = {country = "CN"}\n',
            "method must be one of",
        ),
        (
            DATASET + DATASET,
            "declared twice",
        ),
    ],
)
def test_config__invalid_settings_are_refused_with_the_reason(
    tmp_path: Path, extra: str, message: str
) -> None:
    init_home(tmp_path, "gxib", "Guangxi")
    with open(tmp_path / "node.toml", "a", encoding="utf-8") as handle:
        handle.write("\n" + extra)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(tmp_path)


def test_config__peer_purpose_defaults_to_research(tmp_path: Path) -> None:
    init_home(tmp_path, "gxib", "Guangxi")
    with open(tmp_path / "node.toml", "a", encoding="utf-8") as handle:
        handle.write('\n[[peers]]\nid = "vnmn"\nurl = "http://x"\nkey = "ed25519:abc"\n')
    assert load_config(tmp_path).peer("vnmn").purpose == "research"


def test_config__missing_home_says_how_to_create_one(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["status", "--home", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "fednode init" in result.output
