"""Domain exceptions carrying their HTTP status; the server and the CLI translate them once."""

from __future__ import annotations


class NodeError(Exception):
    """Base of every error a person should read; `code` names it on the wire."""

    status = 500
    code = "internal_error"

    def __init__(self, detail: str, *, reason: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        # A refusal's cause in one word for the audit log, finer than `code` (a 401 may be
        # a forgery, a replay or a stale signature); defaults to `code`.
        self.reason = reason or self.code


class InvalidInput(NodeError):
    status = 400
    code = "bad_request"


class InvalidArchive(NodeError):
    """The archive cannot be read or does not match its meta.xml."""

    status = 422
    code = "invalid_archive"


class UnsafeArchive(InvalidArchive):
    """The archive breaks a safety cap (size, ratio, members, paths, XML entities)."""

    code = "unsafe_archive"


class UnsafePath(NodeError):
    """A name from outside (a peer's dataset id) would put a path outside its folder."""

    status = 400
    code = "unsafe_path"


class ArchiveTooLarge(UnsafeArchive):
    status = 413
    code = "archive_too_large"


class InvalidSource(NodeError):
    """An institution's source file or column mapping cannot be used."""

    status = 422
    code = "invalid_source"


class ConfigError(NodeError):
    """node.toml is missing, malformed or inconsistent."""

    status = 500
    code = "config_error"


class NotFound(NodeError):
    status = 404
    code = "not_found"


class Unauthenticated(NodeError):
    """The request is unsigned, badly signed, stale or replayed."""

    status = 401
    code = "unauthenticated"


class AgreementDenied(NodeError):
    """No valid agreement allows this party to receive this data."""

    status = 403
    code = "forbidden"

    def __init__(
        self,
        detail: str,
        *,
        reason: str | None = None,
        agreement: str | None = None,
        agreement_sha256: str | None = None,
    ) -> None:
        super().__init__(detail, reason=reason)
        # The agreement that refused, when one did: the audit entry names it.
        self.agreement = agreement
        self.agreement_sha256 = agreement_sha256


class InvalidAgreement(NodeError):
    """The agreement document cannot be loaded, is unsigned, expired or tampered with."""

    status = 422
    code = "invalid_agreement"


class RateLimited(NodeError):
    status = 429
    code = "rate_limited"

    def __init__(self, detail: str, retry_after_s: int = 60) -> None:
        super().__init__(detail, reason="rate_limited")
        self.retry_after_s = retry_after_s


class HarvestError(NodeError):
    """A harvest failed; the last good data stays in place."""

    status = 502
    code = "harvest_failed"


class ExportError(NodeError):
    """An export could not be completed; the previous export is left as it was."""

    code = "export_failed"
