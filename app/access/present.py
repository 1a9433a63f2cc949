"""Access records as plain dicts: the JSON API, the CLI's ``--json`` and webhook payloads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.access.queries import EffectiveMembership
from app.access.queries import grant_state
from app.models import AccessRequest
from app.models import AccessReview
from app.models import Grant


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def grant_to_dict(grant: Grant, now: datetime) -> dict[str, Any]:
    return {
        "id": grant.id,
        "state": grant_state(grant, now),
        "user": grant.user_name,
        "user_id": grant.user_id,
        "group": grant.group_name,
        "group_id": grant.group_id,
        "request_id": grant.request_id,
        "starts_at": _iso(grant.starts_at),
        "ends_at": _iso(grant.ends_at),
        "extended_from": grant.extended_from,
        "ended_by": grant.ended_by,
        "end_reason": grant.end_reason,
    }


def review_to_dict(review: AccessReview) -> dict[str, Any]:
    return {
        "reviewer": review.reviewer_label,
        "decision": review.decision,
        "reason": review.reason,
        "auth_context": review.auth_context,
        "at": _iso(review.created_at),
    }


def request_to_dict(request: AccessRequest, now: datetime, *,
                    reviews: list[AccessReview] | None = None,
                    grants: list[Grant] | None = None) -> dict[str, Any]:
    latest = grants[-1] if grants else None
    return {
        "id": request.id,
        "state": request.state,
        "user": request.user_name,
        "user_id": request.user_id,
        "group": request.group_name,
        "group_id": request.group_id,
        "reason": request.reason,
        "ticket": request.ticket,
        "duration_seconds": request.duration_seconds,
        "starts_at": _iso(request.window_start),
        "break_glass": request.break_glass,
        "needs_review": request.needs_review,
        "policy": request.policy_name,
        "policy_digest": request.policy_digest,
        "approvals_needed": request.approvals_needed,
        "requested_by": request.requested_by,
        "auth_context": request.auth_context,
        "created_at": _iso(request.created_at),
        "pending_until": _iso(request.pending_until),
        "decided_at": _iso(request.decided_at),
        "decided_by": request.decided_by,
        "decision_reason": request.decision_reason,
        "reviews": [review_to_dict(r) for r in reviews or []],
        "grant": grant_to_dict(latest, now) if latest is not None else None,
    }


def membership_to_dict(m: EffectiveMembership) -> dict[str, Any]:
    entry: dict[str, Any] = {"group": m.group, "group_id": m.group_id, "source": m.source}
    if m.source == "grant":
        entry["grant_id"] = m.grant_id
        entry["ends_at"] = _iso(m.ends_at)
    return entry
