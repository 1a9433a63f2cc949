"""Domain errors: what went wrong, in words every door can translate.

The SCIM layer maps these to RFC 7644 §3.12 errors, the SAML layer to refusal pages, the CLI to
exit codes. None of them carries a database message.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base class; ``detail`` is safe to show to the caller."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFoundError(DomainError):
    """The resource does not exist."""


class ConflictError(DomainError):
    """A unique value (userName, group displayName, token name) is already taken."""


class InvalidInputError(DomainError):
    """The input is well-formed but not acceptable (bad value, unknown member, ...)."""


class InvalidFilterError(DomainError):
    """A filter or sort path is unknown or cannot be evaluated."""


class PreconditionFailedError(DomainError):
    """The caller's If-Match version is not the current one."""

