"""Access refusals, each with a stable code that scripts can rely on.

``kind`` says what sort of refusal it is; the doors turn it into a status (JSON API: invalid → 400,
forbidden → 403, not_found → 404, conflict → 409). ``code`` never changes once published.
"""

from __future__ import annotations

from app.errors import DomainError


class AccessError(DomainError):
    """A refused access step; ``code`` is stable, ``detail`` is for people."""

    kind = "invalid"

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


class AccessInvalidError(AccessError):
    """The request is malformed for this policy: a missing reason, a bad ticket, a duration
    over the maximum."""

    kind = "invalid"


class AccessForbiddenError(AccessError):
    """Policy says no: not eligible, not an approver, self-approval, no MFA."""

    kind = "forbidden"


class AccessNotFoundError(AccessError):
    """No such request, grant, user or group."""

    kind = "not_found"


class AccessConflictError(AccessError):
    """The request or grant is no longer in a state that allows this step."""

    kind = "conflict"
