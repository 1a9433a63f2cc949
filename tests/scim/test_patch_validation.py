"""One validation after PATCH: the engine applies operations structurally and the patched document
is validated once, by validate_document, with the messages a PUT body gets."""

from __future__ import annotations

from typing import Any

import pytest

from app.catalog import USER_KIND
from scim.errors import InvalidPath
from scim.errors import InvalidValue
from scim.patch import apply_patch
from scim.patch import parse_patch_request

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
DOC = {"userName": "b", "emails": [{"value": "b@x.org", "type": "work", "primary": True}]}


def patched(*ops: dict[str, Any]) -> dict[str, Any]:
    operations = parse_patch_request({"schemas": [PATCH_OP], "Operations": list(ops)})
    return apply_patch(DOC, operations, USER_KIND)


@pytest.mark.parametrize(("op", "detail"), [
    ({"op": "replace", "path": "active", "value": "maybe"}, "'active': must be true or false"),
    ({"op": "replace", "value": {"active": 1}}, "'active': must be true or false"),
    ({"op": "replace", "path": "displayName", "value": ["x"]},
     "'displayName': Not a valid string."),
    ({"op": "add", "path": "name.givenName", "value": {"x": 1}},
     "'name.givenName': Not a valid string."),
    ({"op": "add", "path": 'emails[type eq "work"].primary', "value": "often"},
     "'emails[0].primary': must be true or false"),
    ({"op": "add", "path": "emails", "value": [{"value": 5}]},
     "'emails[1].value': Not a valid string."),
    ({"op": "replace", "path": "userName", "value": " "}, "'userName' is required"),
])
def test_wrong_values_get_the_validators_message(op: dict[str, Any], detail: str) -> None:
    with pytest.raises(InvalidValue) as err:
        patched(op)
    assert err.value.detail == detail


def test_the_same_wrong_value_gets_the_same_answer_from_put_and_patch(scim: Any) -> None:
    user = scim.post("/Users", json={"schemas": [USER_SCHEMA], **DOC}).json
    put = scim.put(f"/Users/{user['id']}", json={"schemas": [USER_SCHEMA], **DOC,
                                                 "active": "maybe"})
    patch = scim.patch(f"/Users/{user['id']}", json={"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": "active", "value": "maybe"}]})
    assert put.status_code == patch.status_code == 400
    assert put.json["scimType"] == patch.json["scimType"] == "invalidValue"
    assert put.json["detail"] == patch.json["detail"] == "'active': must be true or false"


def test_a_remove_by_value_list_checks_its_values_as_the_document_would_be() -> None:
    with pytest.raises(InvalidValue) as err:
        patched({"op": "remove", "path": "emails", "value": [{"value": 5}]})
    assert err.value.detail == "'emails[0].value': Not a valid string."
    kept = patched({"op": "remove", "path": "emails",
                    "value": [{"value": "B@X.ORG", "primary": "True"}]})
    assert "emails" not in kept


def test_structure_is_still_the_engines_to_refuse() -> None:
    with pytest.raises(InvalidPath, match="unknown sub-attribute in path 'emails.nosuch'"):
        patched({"op": "add", "path": "emails.nosuch", "value": "c@x"})
    with pytest.raises(InvalidValue, match="emails must be an object"):
        patched({"op": "add", "path": "emails", "value": [3]})
    with pytest.raises(InvalidValue, match="takes one object"):
        patched({"op": "replace", "path": 'emails[type eq "work"]', "value": [{}, {}]})


def test_entra_string_primary_is_read_before_primary_is_made_unique() -> None:
    result = patched({"op": "add", "path": "emails",
                      "value": [{"value": "c@x.org", "type": "home", "primary": "TRUE"}]})
    assert result["emails"] == [{"value": "b@x.org", "type": "work", "primary": False},
                                {"value": "c@x.org", "type": "home", "primary": True}]
