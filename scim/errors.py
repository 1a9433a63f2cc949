"""SCIM errors (RFC 7644 §3.12): one class per status and scimType, plus the wire body."""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


class ScimError(Exception):
    """An error answered as a SCIM Error body; subclasses fix ``status`` and ``scim_type``."""

    status: int = 400
    scim_type: str | None = None

    def __init__(self, detail: str, *, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status

    def to_dict(self) -> dict[str, Any]:
        """Render the RFC 7644 §3.12 body; ``status`` is a string, as the RFC shows."""
        body: dict[str, Any] = {
            "schemas": [ERROR_SCHEMA],
            "status": str(self.status),
            "detail": self.detail,
        }
        if self.scim_type is not None:
            body["scimType"] = self.scim_type
        return body


class InvalidFilter(ScimError):  # noqa: N818 - named after the RFC's scimType
    scim_type = "invalidFilter"


class TooMany(ScimError):  # noqa: N818
    scim_type = "tooMany"


class Uniqueness(ScimError):  # noqa: N818
    status = 409
    scim_type = "uniqueness"


class Mutability(ScimError):  # noqa: N818
    scim_type = "mutability"


class InvalidSyntax(ScimError):  # noqa: N818
    scim_type = "invalidSyntax"


class InvalidPath(ScimError):  # noqa: N818
    scim_type = "invalidPath"


class NoTarget(ScimError):  # noqa: N818
    scim_type = "noTarget"


class InvalidValue(ScimError):  # noqa: N818
    scim_type = "invalidValue"


class InvalidVersion(ScimError):  # noqa: N818
    scim_type = "invalidVers"


class Sensitive(ScimError):  # noqa: N818
    status = 403
    scim_type = "sensitive"
