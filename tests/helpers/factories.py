"""Things the tests need to exist: tokens (through the service layer), users and groups
(through SCIM, as a provisioning client makes them)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app import services
from app.audit.events import Actor
from app.db import Database
from app.uow import UnitOfWork
from tests.helpers.clients import ScimClient

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"


def make_token(db: Database, name: str = "okta", scopes: tuple[str, ...] = ("scim",)) -> str:
    """Create a real token through the service layer and return its plaintext."""
    with UnitOfWork(db) as uow:
        _, plaintext = services.create_token(uow, name, scopes, actor=Actor("test", "t", "test"))
    return plaintext


def create_user(scim: ScimClient, user_name: str, *, headers: dict[str, str] | None = None,
                **attrs: Any) -> str:
    """POST /Users; return the new user's id."""
    response = scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": user_name, **attrs},
                         headers=headers)
    assert response.status_code == 201, response.get_json()
    user_id: str = response.get_json()["id"]
    return user_id


def create_group(scim: ScimClient, name: str, members: Iterable[str] = ()) -> str:
    """POST /Groups with these member ids; return the new group's id."""
    response = scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": name,
                                     "members": [{"value": m} for m in members]})
    assert response.status_code == 201, response.get_json()
    group_id: str = response.get_json()["id"]
    return group_id
