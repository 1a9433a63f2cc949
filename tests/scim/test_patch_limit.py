"""FRONTDESK_SCIM_MAX_PATCH_OPERATIONS caps the operations of one PATCH (400 tooMany)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

import config
from scim.errors import TooMany
from scim.patch import parse_patch_request

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"


@pytest.fixture
def settings(settings: config.Settings) -> config.Settings:
    return dataclasses.replace(settings, scim_max_patch_operations=2)


def ops(count: int) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": "displayName", "value": f"name {i}"} for i in range(count)]}


def test_the_setting_is_read_from_the_environment() -> None:
    loaded = config.load(environ={"FRONTDESK_SCIM_MAX_PATCH_OPERATIONS": "2"})
    assert loaded.scim_max_patch_operations == 2
    assert config.load(environ={}).scim_max_patch_operations == 1000


def test_parse_patch_request_takes_the_cap() -> None:
    with pytest.raises(TooMany, match="at most 2 operations per PATCH"):
        parse_patch_request(ops(3), 2)
    assert len(parse_patch_request(ops(2), 2)) == 2
    assert len(parse_patch_request(ops(3), 3)) == 3


def test_a_user_patch_over_the_cap_is_400_too_many_and_changes_nothing(scim: Any) -> None:
    user = scim.post("/Users", json={"schemas": [USER_SCHEMA], "userName": "ada",
                                     "displayName": "Ada"}).json
    refused = scim.patch(f"/Users/{user['id']}", json=ops(3))
    assert refused.status_code == 400
    assert refused.json["scimType"] == "tooMany"
    assert refused.json["detail"] == "at most 2 operations per PATCH"
    assert scim.get(f"/Users/{user['id']}").json["displayName"] == "Ada"
    accepted = scim.patch(f"/Users/{user['id']}", json=ops(2))
    assert accepted.status_code == 200, accepted.json
    assert accepted.json["displayName"] == "name 1"


def test_a_group_patch_over_the_cap_is_400_too_many(scim: Any) -> None:
    group = scim.post("/Groups", json={"schemas": [GROUP_SCHEMA], "displayName": "G"}).json
    refused = scim.patch(f"/Groups/{group['id']}", json=ops(3))
    assert refused.status_code == 400
    assert refused.json["scimType"] == "tooMany"
    accepted = scim.patch(f"/Groups/{group['id']}", json=ops(2))
    assert accepted.status_code == 204
    assert scim.get(f"/Groups/{group['id']}").json["displayName"] == "name 1"


def test_the_cap_is_not_advertised_where_rfc_7643_has_no_place_for_it(scim: Any) -> None:
    spc = scim.get("/ServiceProviderConfig").json
    assert spc["patch"] == {"supported": True}
