"""What an audit event says: the action vocabulary, who acted, and where from."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class AuditAction(StrEnum):
    """Every action the log knows, as ``<subject>:<verb>`` (or ``<door>:<subject>:<verb>``)."""

    USER_CREATE = "user:create"
    USER_UPDATE = "user:update"
    USER_DEACTIVATE = "user:deactivate"
    USER_REACTIVATE = "user:reactivate"
    USER_DELETE = "user:delete"
    GROUP_CREATE = "group:create"
    GROUP_UPDATE = "group:update"
    GROUP_DELETE = "group:delete"
    GROUP_MEMBER_ADD = "group:member:add"
    GROUP_MEMBER_REMOVE = "group:member:remove"
    TOKEN_CREATE = "token:create"  # noqa: S105 - an action name, not a secret
    TOKEN_REVOKE = "token:revoke"  # noqa: S105
    JIT_USER_CREATE = "jit:user:create"
    JIT_USER_UPDATE = "jit:user:update"
    LOGIN_SUCCESS = "login:success"
    LOGIN_DENIED = "login:denied"
    ADMIN_LOGIN = "admin:login"
    ADMIN_LOGIN_DENIED = "admin:login:denied"
    ADMIN_LOGIN_LINK_CREATE = "admin:login-link:create"
    ADMIN_LOGOUT = "admin:logout"
    AUDIT_EXPORT = "audit:export"
    AUDIT_PRUNE = "audit:prune"
    ACCESS_REQUEST_CREATE = "access:request:create"
    ACCESS_REQUEST_APPROVE = "access:request:approve"
    ACCESS_REQUEST_DENY = "access:request:deny"
    ACCESS_REQUEST_WITHDRAW = "access:request:withdraw"
    ACCESS_REQUEST_EXPIRE = "access:request:expire"
    ACCESS_REQUEST_CLOSE_REVIEW = "access:request:close-review"
    ACCESS_GRANT_CREATE = "access:grant:create"
    ACCESS_GRANT_START = "access:grant:start"
    ACCESS_GRANT_END = "access:grant:end"
    ACCESS_GRANT_REVOKE = "access:grant:revoke"
    ACCESS_GRANT_EXTEND = "access:grant:extend"
    USER_SUSPEND = "user:suspend"
    USER_UNSUSPEND = "user:unsuspend"
    LIFECYCLE_DORMANT_WARN = "lifecycle:dormant:warn"


@dataclass(frozen=True)
class Actor:
    """Who acted: an API token, an IdP, an admin, the CLI, or ``anonymous`` (someone whose
    sign-in was refused before we knew who they were)."""

    kind: str
    id: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class RequestInfo:
    """Where a change came from; empty for the CLI."""

    request_id: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None
