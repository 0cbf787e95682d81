"""Read an agreement document: size cap, TOML, then every check of agreements.validate.

Apart from the model so the model need not import its own validation: validation builds
the model's dataclasses, and this module is the one door from text to an `Agreement`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from agreements.model import Agreement
from agreements.validate import build_agreement
from node.core.constants import AGREEMENT_MAX_BYTES
from node.core.errors import InvalidAgreement


def parse_agreement(
    text: str,
    source: str = "agreement",
    known_datasets: set[str] | None = None,
    base_dir: Path | None = None,
    own_party: str | None = None,
) -> Agreement:
    """Validate agreement TOML text; InvalidAgreement lists every problem with its line.

    Args:
        source: the file name used in messages.
        known_datasets: when given, every dataset a flow names must be one of these.
        base_dir: where names lists are found (they are hashed, not trusted).
        own_party: with known_datasets, only flows from this party are checked, since a
            node knows its own datasets and not its peers'.
    """
    if len(text.encode("utf-8")) > AGREEMENT_MAX_BYTES:
        raise InvalidAgreement(f"{source}: larger than {AGREEMENT_MAX_BYTES} bytes")
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidAgreement(f"{source}: not valid TOML: {exc}") from exc
    return build_agreement(document, text, source, known_datasets, own_party, base_dir)


def load_agreement(
    path: Path | str,
    known_datasets: set[str] | None = None,
    base_dir: Path | None = None,
    own_party: str | None = None,
) -> Agreement:
    """Read and validate an agreement file; names lists resolve beside it by default."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidAgreement(f"{path}: cannot be read ({exc})") from exc
    return parse_agreement(
        text, path.name, known_datasets, base_dir or path.parent, own_party=own_party
    )
