"""Every refusal is an RFC 7644 §3.12 error body and writes nothing.

Each case checks: the status, ``application/scim+json``, ``schemas`` = the Error URN, ``status``
as a string equal to the HTTP status, the ``scimType`` where the RFC defines one, and that no
user, group, membership, indexed value or audit event changed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from app.cli.main import main as cli
from app.db import Database
from app.web.context import get_db
from tests.helpers.clients import SCIM_HEADERS
from tests.helpers.clients import ScimClient
from tests.helpers.clients import patch_op
from tests.helpers.factories import make_token
from tests.helpers.reads import nothing_written

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
MISSING = "00000000-0000-0000-0000-000000000000"
def assert_error(response: Any, status: int, scim_type: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/scim+json"
    body: dict[str, Any] = response.json
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    assert isinstance(body.get("detail"), str) and body["detail"]
    if scim_type is not None:
        assert body.get("scimType") == scim_type, body
    assert "Traceback" not in body["detail"]
    return body


@dataclasses.dataclass
class World:
    user: dict[str, Any]
    group: dict[str, Any]

    def fill(self, path: str) -> str:
        return path.format(user=self.user["id"], group=self.group["id"], missing=MISSING)

    def fill_all(self, value: Any) -> Any:
        """Fill placeholders in every string of a JSON value."""
        if isinstance(value, str):
            return self.fill(value) if value in {"{user}", "{group}", "{missing}"} else value
        if isinstance(value, list):
            return [self.fill_all(v) for v in value]
        if isinstance(value, dict):
            return {k: self.fill_all(v) for k, v in value.items()}
        return value


@pytest.fixture
def world(scim: ScimClient) -> World:
    user = scim.post("/Users", json={"userName": "bjensen", "emails": [{"value": "b@x.com"}]})
    other = scim.post("/Users", json={"userName": "taken"})
    group = scim.post("/Groups", json={"displayName": "Guides",
                                       "members": [{"value": user.json["id"]}]})
    assert {user.status_code, other.status_code, group.status_code} == {201}
    return World(user.json, group.json)


# --- bodies ------------------------------------------------------------------------------

RAW_CASES = [
    # (method, path, raw body, status, scimType)
    ("POST", "/Users", b'{"userName": ', 400, "invalidSyntax"),
    ("POST", "/Users", b"not json at all", 400, "invalidSyntax"),
    ("POST", "/Users", b"", 400, "invalidSyntax"),
    ("POST", "/Users", b"\xff\xfe\x00", 400, "invalidSyntax"),
    ("POST", "/Users", b'["userName"]', 400, "invalidSyntax"),
    ("POST", "/Users", b'"bjensen"', 400, "invalidSyntax"),
    ("POST", "/Users", b"42", 400, "invalidSyntax"),
    ("POST", "/Users", b"null", 400, "invalidSyntax"),
    ("PUT", "/Users/{user}", b"{", 400, "invalidSyntax"),
    ("PUT", "/Users/{user}", b"[]", 400, "invalidSyntax"),
    ("PATCH", "/Users/{user}", b"{", 400, "invalidSyntax"),
    ("PATCH", "/Users/{user}", b"[]", 400, "invalidSyntax"),
    ("POST", "/Groups", b"{]", 400, "invalidSyntax"),
    ("POST", "/Groups", b"[]", 400, "invalidSyntax"),
    ("PATCH", "/Groups/{group}", b"nope", 400, "invalidSyntax"),
    ("POST", "/Users/.search", b"{", 400, "invalidSyntax"),
    ("POST", "/.search", b"[]", 400, None),
]


@pytest.mark.parametrize(("method", "path", "raw", "status", "scim_type"), RAW_CASES)
def test_malformed_bodies(scim: ScimClient, db: Database, world: World, method: str, path: str,
                          raw: bytes, status: int, scim_type: str | None) -> None:
    with nothing_written(db):
        response = scim._call(method, world.fill(path), data=raw)
        assert_error(response, status, scim_type)


BODY_CASES = [
    # wrong types
    ("POST", "/Users", {"userName": "x", "active": "maybe"}, "invalidValue"),
    ("POST", "/Users", {"userName": "x", "name": 5}, "invalidValue"),
    ("POST", "/Users", {"userName": "x", "emails": "x"}, "invalidValue"),
    ("POST", "/Users", {"userName": "x", "emails": [{"value": "a", "primary": "perhaps"}]},
     "invalidValue"),
    ("POST", "/Users", {"userName": "x", "emails": [{"value": "a", "primary": True},
                                                    {"value": "b", "primary": True}]},
     "invalidValue"),
    ("POST", "/Users", {"userName": 5.5e300, "name": {"givenName": ["a"]}}, "invalidValue"),
    ("POST", "/Users", {"userName": ["x"]}, "invalidValue"),
    ("POST", "/Users", {"userName": {"a": 1}}, "invalidValue"),
    ("POST", "/Users", {"userName": "x", "active": None, "title": {"x": 1}}, "invalidValue"),
    ("POST", "/Users", {"userName": "x" * 300}, "invalidValue"),
    # required attributes
    ("POST", "/Users", {}, "invalidValue"),
    ("POST", "/Users", {"userName": ""}, "invalidValue"),
    ("POST", "/Users", {"userName": "   "}, "invalidValue"),
    ("POST", "/Users", {"userName": None, "displayName": "x"}, "invalidValue"),
    ("PUT", "/Users/{user}", {"displayName": "no userName"}, "invalidValue"),
    ("POST", "/Groups", {}, "invalidValue"),
    ("POST", "/Groups", {"displayName": ""}, "invalidValue"),
    ("PUT", "/Groups/{group}", {"members": []}, "invalidValue"),
    ("POST", "/Groups", {"displayName": "G", "members": "x"}, "invalidValue"),
    ("POST", "/Groups", {"displayName": "G", "members": [{"display": "no value"}]},
     "invalidValue"),
    ("POST", "/Groups", {"displayName": "G", "members": [{"value": "{missing}"}]},
     "invalidValue"),
    # unknown attributes
    ("POST", "/Users", {"userName": "x", "favouriteColour": "blue"}, "invalidSyntax"),
    # (an unknown sub-attribute of a known complex attribute is kept: test_onelogin.py)
    ("PUT", "/Users/{user}", {"userName": "bjensen", "shoeSize": 9}, "invalidSyntax"),
    ("POST", "/Groups", {"displayName": "G", "userName": "x"}, "invalidSyntax"),
    ("POST", "/Users", {"userName": "x",
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
                            {"shoeSize": 9}}, "invalidSyntax"),
    # uniqueness
    ("POST", "/Users", {"userName": "TAKEN"}, "uniqueness"),
    ("PUT", "/Users/{user}", {"userName": "Taken"}, "uniqueness"),
    ("POST", "/Groups", {"displayName": "guides"}, "uniqueness"),
    # search requests
    ("POST", "/Users/.search", {"filter": "userName pr"}, None),
    ("POST", "/Users/.search", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                                "count": "lots"}, "invalidValue"),
    ("POST", "/Groups/.search", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                                 "filter": "nosuch pr"}, "invalidFilter"),
]


@pytest.mark.parametrize(("method", "path", "body", "scim_type"), BODY_CASES)
def test_invalid_bodies(scim: ScimClient, db: Database, world: World, method: str, path: str,
                        body: dict[str, Any], scim_type: str | None) -> None:
    body = world.fill_all(body)
    status = 409 if scim_type == "uniqueness" else 400
    with nothing_written(db):
        assert_error(scim._call(method, world.fill(path), body), status, scim_type)


PATCH_CASES: list[tuple[str, Any, str]] = [
    ("/Users/{user}", {"Operations": [{"op": "add", "path": "title", "value": "x"}]},
     "invalidSyntax"),
    ("/Users/{user}", {"schemas": ["urn:wrong"],
                       "Operations": [{"op": "add", "path": "title", "value": "x"}]},
     "invalidSyntax"),
    ("/Users/{user}", {"schemas": [PATCH]}, "invalidSyntax"),
    ("/Users/{user}", {"schemas": [PATCH], "Operations": []}, "invalidSyntax"),
    ("/Users/{user}", {"schemas": [PATCH], "Operations": {"op": "add"}}, "invalidSyntax"),
    ("/Users/{user}", patch_op({"op": "frobnicate", "path": "title", "value": "x"}),
     "invalidSyntax"),
    ("/Users/{user}", patch_op("add title x"), "invalidSyntax"),
    ("/Users/{user}", patch_op({"op": "add", "path": "title"}), "invalidSyntax"),
    ("/Users/{user}", patch_op({"op": "add", "value": "not an object"}), "invalidSyntax"),
    ("/Users/{user}", patch_op({"op": "add", "path": 5, "value": "x"}), "invalidSyntax"),
    ("/Users/{user}", patch_op({"op": "remove"}), "noTarget"),
    ("/Users/{user}", patch_op({"op": "replace", "path": "nosuch", "value": "x"}),
     "invalidPath"),
    ("/Users/{user}", patch_op({"op": "replace", "path": "name.nosuch", "value": "x"}),
     "invalidPath"),
    ("/Users/{user}", patch_op({"op": "replace", "path": "emails[type eq", "value": "x"}),
     None),
    ("/Users/{user}", patch_op({"op": "replace", "path": "id", "value": "new"}), "mutability"),
    ("/Users/{user}", patch_op({"op": "replace", "path": "meta.created", "value": "x"}),
     "mutability"),
    ("/Users/{user}", patch_op({"op": "remove", "path": "userName"}), "mutability"),
    ("/Users/{user}", patch_op({"op": "replace", "path": "active", "value": "maybe"}),
     "invalidValue"),
    ("/Users/{user}", patch_op({"op": "replace", "path": "name", "value": 5}), "invalidValue"),
    ("/Users/{user}", patch_op({"op": "replace", "path": "userName", "value": "TAKEN"}),
     "uniqueness"),
    ("/Users/{user}", patch_op({"op": "add", "path": "title", "value": "ok"},
                               {"op": "replace", "path": "nosuch", "value": "x"}),
     "invalidPath"),
    ("/Groups/{group}", patch_op({"op": "add", "path": "members", "value": [{"value": 5}]}),
     "invalidValue"),
    ("/Groups/{group}", patch_op({"op": "add", "path": "members",
                                  "value": [{"value": "{missing}"}]}), "invalidValue"),
    ("/Groups/{group}", patch_op({"op": "replace", "path": "displayName", "value": ""}),
     "invalidValue"),
    ("/Groups/{group}", patch_op({"op": "remove", "path": "displayName"}), "mutability"),
    ("/Groups/{group}", patch_op({"op": "add", "path": "members",
                                  "value": [{"value": "{group}"}]}), "invalidValue"),
    ("/Groups/{group}", patch_op({"op": "replace", "path": "nosuch", "value": "x"}),
     "invalidPath"),
]


@pytest.mark.parametrize(("path", "body", "scim_type"), PATCH_CASES)
def test_bad_patch_bodies(scim: ScimClient, db: Database, world: World, path: str, body: Any,
                          scim_type: str | None) -> None:
    before = scim.get(world.fill(path)).json
    status = 409 if scim_type == "uniqueness" else 400
    with nothing_written(db):
        assert_error(scim.patch(world.fill(path), json=world.fill_all(body)), status, scim_type)
    assert scim.get(world.fill(path)).json == before


# --- media type and size -----------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml",
                                          "application/x-www-form-urlencoded"])
def test_unsupported_media_type(scim: ScimClient, db: Database, world: World,
                                content_type: str) -> None:
    with nothing_written(db):
        for method, path in (("POST", "/Users"), ("PUT", f"/Users/{world.user['id']}"),
                             ("PATCH", f"/Users/{world.user['id']}"), ("POST", "/Groups")):
            response = scim._call(method, path, data=b'{"userName": "x", "displayName": "y"}',
                                  headers={"Content-Type": content_type})
            assert_error(response, 415)


def test_plain_json_media_type_is_accepted(scim: ScimClient) -> None:
    response = scim.post("/Users", json={"userName": "plain"},
                         headers={"Content-Type": "application/json"})
    assert response.status_code == 201


@pytest.fixture
def small_app(app: Flask, make_app: Callable[..., Flask]) -> Flask:
    return make_app(scim_max_body_bytes=512)


def test_oversized_body_is_413(small_app: Flask, db: Database) -> None:
    scim = ScimClient(small_app.test_client(), make_token(get_db(small_app), "small"))
    assert scim.post("/Users", json={"userName": "small"}).status_code == 201
    with nothing_written(db):
        big = {"userName": "big", "title": "x" * 1000}
        assert_error(scim.post("/Users", json=big), 413)
        assert_error(scim.post("/Groups", json={"displayName": "x" * 2000}), 413)
        assert_error(scim.patch("/Users/whatever", json=patch_op(
            {"op": "add", "path": "title", "value": "y" * 1000})), 413)
        assert_error(scim.post("/.search", json={"filter": "x" * 1000}), 413)


# --- unknown resources, endpoints, methods -----------------------------------------------


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/Users/{missing}"), ("PUT", "/Users/{missing}"), ("PATCH", "/Users/{missing}"),
    ("DELETE", "/Users/{missing}"), ("GET", "/Groups/{missing}"), ("PUT", "/Groups/{missing}"),
    ("PATCH", "/Groups/{missing}"), ("DELETE", "/Groups/{missing}"),
    ("GET", "/Users/{group}"), ("GET", "/Groups/{user}"), ("DELETE", "/Groups/{user}"),
    ("GET", "/Users/not-even-a-uuid"), ("GET", "/ResourceTypes/Nope"), ("GET", "/Schemas/urn:x"),
    ("GET", "/Users/.search"),
])
def test_unknown_ids_are_404(scim: ScimClient, db: Database, world: World, method: str,
                             path: str) -> None:
    body: Any = None
    if method == "PATCH":
        body = patch_op({"op": "add", "path": "displayName", "value": "x"})
    elif method == "PUT":
        body = {"displayName": "x"} if "/Groups/" in path else {"userName": "x"}
    with nothing_written(db):
        assert_error(scim._call(method, world.fill(path), body), 404)


@pytest.mark.parametrize("path", ["/scim/v2/Nope", "/scim/v2/Users/a/b", "/scim/v2/Bulk",
                                  "/scim/v2/Me", "/scim/v2"])
def test_unknown_endpoint_is_a_scim_404(scim: ScimClient, path: str) -> None:
    assert_error(scim.get(path), 404)


def test_unknown_endpoint_without_a_token(client: FlaskClient) -> None:
    response = client.get("/scim/v2/Nope")
    assert response.status_code in {401, 404}
    assert_error(response, response.status_code)


@pytest.mark.parametrize(("method", "path"), [
    ("DELETE", "/Users"), ("PUT", "/Users"), ("PATCH", "/Groups"), ("POST", "/Users/{user}"),
    ("GET", "/.search"), ("POST", "/ServiceProviderConfig"),
    ("DELETE", "/Schemas"),
])
def test_method_not_allowed_is_405(scim: ScimClient, db: Database, world: World, method: str,
                                   path: str) -> None:
    with nothing_written(db):
        response = scim._call(method, world.fill(path), {"userName": "x"})
        assert_error(response, 405)
        assert response.headers.get("Allow")


# --- filters and query parameters --------------------------------------------------------


@pytest.mark.parametrize("query", [
    {"filter": 'userName eq "x" and nosuch pr'},
    {"filter": "userName"},
    {"filter": '"x" eq userName'},
    {"filter": 'userName eq "unterminated'},
    {"filter": "(" * 100 + 'userName pr' + ")" * 100},
    {"filter": " or ".join(['userName eq "a"'] * 200)},
    {"filter": "active gt true"},
    {"filter": 'meta.created gt "yesterday"'},
    {"sortBy": "nosuch"},
])
def test_invalid_filter(scim: ScimClient, world: World, query: dict[str, str]) -> None:
    assert_error(scim.get("/Users", query_string=query), 400, "invalidFilter")


@pytest.mark.parametrize("query", [
    {"startIndex": str(10**30)}, {"count": str(10**30)}, {"startIndex": str(2**63)},
    {"startIndex": str(2**63 - 1), "count": "10"}, {"count": str(-10**30)},
    {"startIndex": str(-10**30)},
])
def test_huge_paging_numbers_are_never_a_500(scim: ScimClient, world: World,
                                             query: dict[str, str]) -> None:
    response = scim.get("/Users", query_string=query)
    assert response.status_code in {200, 400}, response.get_data(as_text=True)
    if response.status_code == 400:
        assert_error(response, 400)
    else:
        assert response.json["totalResults"] == 2
    search = scim.post("/.search", json={
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        **{k: int(v) for k, v in query.items()}})
    assert search.status_code in {200, 400}, search.get_data(as_text=True)


def test_huge_numbers_in_filters_are_never_a_500(scim: ScimClient, world: World) -> None:
    for flt in ('userName eq 1e999', f'userName eq {10**40}',
                f'emails[primary eq true and value eq {10**40}]'):
        response = scim.get("/Users", query_string={"filter": flt})
        assert response.status_code in {200, 400}, (flt, response.get_data(as_text=True))


# --- ETags -------------------------------------------------------------------------------


def test_stale_if_match_is_412_and_writes_nothing(scim: ScimClient, db: Database,
                                                  world: World) -> None:
    user_path = f"/Users/{world.user['id']}"
    group_path = f"/Groups/{world.group['id']}"
    current = world.user["meta"]["version"]
    assert scim.put(user_path, json={"userName": "bjensen", "title": "v2"}).status_code == 200
    with nothing_written(db):
        for header in (current, 'W/"999"', "garbage", '"1"'):
            hdr = {"If-Match": header}
            assert_error(scim.put(user_path, json={"userName": "bjensen"}, headers=hdr), 412)
            assert_error(scim.patch(user_path, json=patch_op(
                {"op": "replace", "path": "title", "value": "v3"}), headers=hdr), 412)
            assert_error(scim.delete(user_path, headers=hdr), 412)
        hdr = {"If-Match": 'W/"999"'}
        assert_error(scim.patch(group_path, json=patch_op(
            {"op": "add", "path": "members", "value": [{"value": world.user["id"]}]}),
            headers=hdr), 412)
        assert_error(scim.put(group_path, json={"displayName": "X"}, headers=hdr), 412)
        assert_error(scim.delete(group_path, headers=hdr), 412)
    fresh = scim.get(user_path)
    ok = scim.patch(user_path, json=patch_op({"op": "replace", "path": "title", "value": "v3"}),
                    headers={"If-Match": fresh.headers["ETag"]})
    assert ok.status_code == 200
    assert scim.delete(group_path, headers={"If-Match": "*"}).status_code == 204


def test_if_none_match_gives_304(scim: ScimClient, world: World) -> None:
    user_path = f"/Users/{world.user['id']}"
    etag = scim.get(user_path).headers["ETag"]
    not_modified = scim.get(user_path, headers={"If-None-Match": etag})
    assert not_modified.status_code == 304
    assert not_modified.data == b""
    assert not_modified.headers["ETag"] == etag
    group_etag = scim.get(f"/Groups/{world.group['id']}").headers["ETag"]
    assert scim.get(f"/Groups/{world.group['id']}",
                    headers={"If-None-Match": group_etag}).status_code == 304
    scim.put(user_path, json={"userName": "bjensen", "title": "changed"})
    modified = scim.get(user_path, headers={"If-None-Match": etag})
    assert modified.status_code == 200
    assert modified.json["title"] == "changed"


# --- authentication and authorisation ----------------------------------------------------


def _auth_cases(token: str) -> list[dict[str, str]]:
    prefix = token.split("_")[1]
    return [
        {},
        {"Authorization": ""},
        {"Authorization": f"Basic {token}"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer    "},
        {"Authorization": "Bearer garbage"},
        {"Authorization": f"Bearer fd_{prefix}_{'x' * 43}"},
        {"Authorization": f"Bearer fd_abcdefabcdef_{token.split('_', 2)[2]}"},
        {"Authorization": f"Bearer {token}x"},
    ]


def test_missing_or_wrong_token_is_401(client: FlaskClient, db: Database, token: str,
                                       world: World) -> None:
    with nothing_written(db):
        for case, headers in enumerate(_auth_cases(token)):
            # One source address per case: past 20 failures from one address the throttle
            # answers 429 instead (tests/app/test_throttle.py).
            source = {"REMOTE_ADDR": f"192.0.2.{case + 1}"}
            for method, path, body in (
                ("GET", "/scim/v2/Users", None),
                ("POST", "/scim/v2/Users", {"userName": "intruder"}),
                ("DELETE", f"/scim/v2/Users/{world.user['id']}", None),
                ("GET", "/scim/v2/ServiceProviderConfig", None),
            ):
                response = client.open(path, method=method, json=body, environ_base=source,
                                       headers={**SCIM_HEADERS, **headers})
                assert_error(response, 401)
                assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_revoked_token_is_401(client: FlaskClient, db: Database, runner: CliRunner,
                              world: World) -> None:
    doomed = make_token(db, "doomed")
    scim = ScimClient(client, doomed)
    assert scim.get("/Users").status_code == 200
    result = runner.invoke(cli, ["tokens", "revoke", "doomed"])
    assert result.exit_code == 0, result.output
    with nothing_written(db):
        response = scim.get("/Users")
        assert_error(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert_error(scim.post("/Users", json={"userName": "late"}), 401)


def test_audit_only_token_is_403(client: FlaskClient, db: Database, world: World) -> None:
    reader = ScimClient(client, make_token(db, "auditor", ("audit:read",)))
    with nothing_written(db):
        assert_error(reader.get("/Users"), 403)
        assert_error(reader.get(f"/Users/{world.user['id']}"), 403)
        assert_error(reader.post("/Users", json={"userName": "sneaky"}), 403)
        assert_error(reader.delete(f"/Users/{world.user['id']}"), 403)
        assert_error(reader.patch(f"/Groups/{world.group['id']}", json=patch_op(
            {"op": "remove", "path": "members"})), 403)


# --- text no database can store ------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/Users", {"userName": "nul\u0000"}),
    ("POST", "/Users", {"userName": "x", "name": {"givenName": "\u0000"}}),
    ("POST", "/Users", {"userName": "x", "emails": [{"value": "a@b\u0000"}]}),
    ("POST", "/Users", {"userName": "x", "urn:example:custom\u0000": {"a": "b"}}),
    ("PUT", "/Users/{user}", {"userName": "bjensen", "title": "\u0000"}),
    ("PATCH", "/Users/{user}", patch_op({"op": "replace", "path": "title", "value": "a\u0000"})),
    ("PATCH", "/Users/{user}", patch_op({"op": "remove",
                                         "path": 'emails[value eq "\u0000"]'})),
    ("POST", "/Groups", {"displayName": "G\u0000"}),
    ("PATCH", "/Groups/{group}", patch_op({"op": "add", "path": "members",
                                           "value": [{"value": "{user}\u0000"}]})),
    ("POST", "/Users/.search", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:"
                                            "SearchRequest"], "filter": 'userName eq "\u0000"'}),
])
def test_nul_characters_in_bodies_are_400(scim: ScimClient, db: Database, world: World,
                                          method: str, path: str, body: Any) -> None:
    with nothing_written(db):
        assert_error(scim._call(method, world.fill(path), world.fill_all(body)), 400,
                     "invalidValue")


def test_nul_characters_in_urls_and_filters_are_400(scim: ScimClient, db: Database,
                                                    world: World) -> None:
    with nothing_written(db):
        assert_error(scim.get("/Users/%00"), 400)
        assert_error(scim.delete(f"/Users/{world.user['id']}%00"), 400)
        assert_error(scim.get("/Users?filter=userName%20eq%20%22%00%22"), 400)
        assert_error(scim.get("/Users", query_string={"filter": 'userName eq "a\\u0000"'}),
                     400, "invalidFilter")
        assert_error(scim.get("/Groups", query_string={"filter": 'displayName co "\\u0000"'}),
                     400, "invalidFilter")


def test_deeply_nested_body_is_400(scim: ScimClient, db: Database) -> None:
    with nothing_written(db):
        deep = b'{"userName": "x", "title": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        body = assert_error(scim._call("POST", "/Users", data=deep), 400, "invalidValue")
        assert "deeper than 32 levels" in body["detail"]
