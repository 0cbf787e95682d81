"""Sharing agreements: the signed document, its validation, and enforcement on export.

Nothing here does network or disk I/O during enforcement: `enforce` is a pure function
of (Arrow table, agreement, flow, now), so what leaves a node can be tested exhaustively.
"""

from agreements.enforce import EnforcementReport, enforce
from agreements.model import (
    PUBLIC,
    Agreement,
    AgreementState,
    Flow,
    Party,
    SensitiveRule,
    Status,
    render_template,
)
from agreements.parse import load_agreement, parse_agreement
from agreements.signing import (
    add_signature,
    canonical_bytes,
    public_key_from_text,
    public_key_to_text,
    sign,
    verify_signatures,
)

__all__ = [
    "PUBLIC",
    "Agreement",
    "AgreementState",
    "EnforcementReport",
    "Flow",
    "Party",
    "SensitiveRule",
    "Status",
    "add_signature",
    "canonical_bytes",
    "enforce",
    "load_agreement",
    "parse_agreement",
    "public_key_from_text",
    "public_key_to_text",
    "render_template",
    "sign",
    "verify_signatures",
]
