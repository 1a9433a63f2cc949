"""Who is acting on an access request, and how they signed in.

A principal is a person (a signed-in user, or a personal token bound to one), an admin of the
console, or the operator at the CLI. The SAML sign-in's authentication context travels with it,
so policy can ask for MFA and a recent sign-in, and every decision records what was used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.audit.events import Actor


@dataclass(frozen=True)
class AuthContext:
    """How an SSO session was authenticated, from the SAML assertion."""

    idp: str | None
    contexts: tuple[str, ...] = ()  # AuthnContextClassRef and authentication-method claims
    authn_instant: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"idp": self.idp, "contexts": list(self.contexts),
                "authn_instant": self.authn_instant.isoformat() if self.authn_instant else None}

    @classmethod
    def from_dict(cls, data: Any) -> AuthContext | None:
        """Rebuild from ``to_dict`` output (a session cookie); None when absent or damaged."""
        if not isinstance(data, dict):
            return None
        instant = data.get("authn_instant")
        try:
            when = datetime.fromisoformat(instant) if isinstance(instant, str) else None
        except ValueError:
            when = None
        contexts = data.get("contexts")
        return cls(
            idp=data.get("idp") if isinstance(data.get("idp"), str) else None,
            contexts=tuple(c for c in contexts if isinstance(c, str))
            if isinstance(contexts, list) else (),
            authn_instant=when,
        )


@dataclass(frozen=True)
class Principal:
    """Someone acting on access requests and grants.

    ``user_id`` is the person (None for the operator or an admin login link); ``via`` is
    ``session``, ``token``, ``console`` or ``cli``; ``token_name`` names a personal token (for
    ``auto_approve_tokens``); ``admin`` may revoke any grant and list everything.
    """

    actor: Actor
    via: str
    user_id: str | None = None
    user_name: str | None = None
    token_name: str | None = None
    auth: AuthContext | None = None
    admin: bool = False

    @property
    def key(self) -> str:
        """What makes two reviews the same reviewer: the person, else the actor."""
        return self.user_id or f"{self.actor.kind}:{self.actor.id}"
