"""Input hygiene: what the store cannot keep exactly is refused before anything is written.

Each refusal is a 400 ``invalidValue`` (``invalidFilter`` for a filter) naming the field, an
RFC 7644 §3.12 body, the same on SQLite and PostgreSQL, and leaves every table and the audit log
as they were. Each has a positive control: the nearest value that the store does keep is
accepted and reads back exactly.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask

from app.db import Database
from app.text import MAX_DEPTH
from scim.errors import ScimError
from scim.responses import render_error
from tests.helpers.clients import ScimClient
from tests.helpers.clients import patch_op
from tests.helpers.reads import nothing_written

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
EXT = "urn:example:params:scim:schemas:extension:acme:2.0:User"  # kept as sent
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def refused(response: Any, scim_type: str, *fragments: str) -> dict[str, Any]:
    """Assert a 400 §3.12 body with ``scim_type`` whose detail holds every fragment."""
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.mimetype == "application/scim+json"
    body: dict[str, Any] = json.loads(response.get_data())
    assert body["schemas"] == [ERROR]
    assert body["status"] == "400"
    assert body["scimType"] == scim_type, body
    for fragment in fragments:
        assert fragment in body["detail"], body
    return body


def raw(scim: ScimClient, method: str, path: str, text: str) -> Any:
    """Send ``text`` as the body as it is (JSON escapes such as \\ud800 included)."""
    return scim._call(method, path, data=text.encode("utf-8"))


@pytest.fixture
def user_id(scim: ScimClient) -> str:
    created = scim.post("/Users", {"userName": "Äda.Strauß@example.com"})
    assert created.status_code == 201, created.data
    return str(created.json["id"])


# --- lone surrogates ---------------------------------------------------------------------


@pytest.mark.parametrize("body,field", [
    ('{"userName": "a\\ud800@example.com"}', "userName"),
    ('{"userName": "b@example.com", "name": {"givenName": "\\udfff"}}', "name.givenName"),
    (f'{{"userName": "c@example.com", "{EXT}": {{"note": ["x", "\\ud800"]}}}}',
     f"{EXT}.note[1]"),
    (f'{{"userName": "d@example.com", "{EXT}": {{"k\\ud800": 1}}}}', f"{EXT}.k\\ud800"),
])
def test_a_lone_surrogate_in_a_body_is_refused(scim: ScimClient, db: Database, body: str,
                                               field: str) -> None:
    with nothing_written(db):
        refused(raw(scim, "POST", "/Users", body), "invalidValue", f"'{field}'", "surrogate")
    # Positive control: the same text with a valid pair (an emoji) is stored and read back.
    ok = raw(scim, "POST", "/Users", body.replace("\\ud800", "\\ud83d\\ude00")
             .replace("\\udfff", "\\ud83d\\ude00"))
    assert ok.status_code == 201, ok.data
    assert "😀" in json.dumps(scim.get(f"/Users/{ok.json['id']}").json, ensure_ascii=False)


def test_a_lone_surrogate_in_patch_paths_values_filters_and_sort_is_refused(
        scim: ScimClient, db: Database, user_id: str) -> None:
    with nothing_written(db):
        path = '{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ' \
               '[{"op": "replace", "path": "title\\ud800", "value": "x"}]}'
        refused(raw(scim, "PATCH", f"/Users/{user_id}", path), "invalidValue",
                "'Operations[0].path'", "surrogate")
        value = path.replace('"title\\ud800"', '"title"').replace('"x"', '"\\ud800"')
        refused(raw(scim, "PATCH", f"/Users/{user_id}", value), "invalidValue",
                "'Operations[0].value'")
        put = '{"userName": "Äda.Strauß@example.com", "title": "\\ud800"}'
        refused(raw(scim, "PUT", f"/Users/{user_id}", put), "invalidValue", "'title'")
        search = ('{"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], '
                  '"sortBy": "userName\\ud800"}')
        refused(raw(scim, "POST", "/Users/.search", search), "invalidValue", "'sortBy'")
        refused(scim.get("/Users", query_string={"filter": 'userName eq "\\ud800"'}),
                "invalidFilter", "not storable text")
        refused(scim.get("/Groups", query_string={"filter": 'displayName sw "a\\udc00"'}),
                "invalidFilter", "not storable text")
    found = scim.get("/Users", query_string={"filter": 'userName eq "äDA.STRASSE@example.com"'})
    assert found.json["totalResults"] == 0
    found = scim.get("/Users", query_string={"filter": 'userName eq "ÄDA.STRAUSS@EXAMPLE.COM"'})
    assert [r["id"] for r in found.json["Resources"]] == [user_id]


def test_the_error_renderer_survives_a_detail_that_echoes_a_surrogate(app: Flask) -> None:
    with app.test_request_context("/scim/v2/Users"):
        response = render_error(ScimError("no attribute 'x\ud800'"))
    assert response.status_code == 400
    body = json.loads(response.get_data())
    assert body["detail"] == "no attribute 'x\ud800'"  # escaped as \ud800 on the wire
    assert b"\\ud800" in response.get_data()
    with app.test_request_context("/scim/v2/Users"):
        plain = render_error(ScimError("no attribute 'Äda'"))
    assert "Äda".encode() in plain.get_data()  # UTF-8 as before when it can be


# --- numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize("literal,reason", [
    ("NaN", "finite"), ("Infinity", "finite"), ("-Infinity", "finite"), ("1e400", "finite"),
    ("-1e400", "finite"), (str(2**63), "integer out of range"),
    (str(-(2**63) - 1), "integer out of range"), ("1e16", "decimal out of range"),
    ("-9007199254740992.0", "decimal out of range"),
])
def test_a_number_the_store_cannot_keep_is_refused(scim: ScimClient, db: Database, literal: str,
                                                  reason: str) -> None:
    with nothing_written(db):
        body = f'{{"userName": "n@example.com", "{EXT}": {{"score": {literal}}}}}'
        refused(raw(scim, "POST", "/Users", body), "invalidValue", f"'{EXT}.score'", reason)


def test_the_largest_numbers_the_store_keeps_read_back_exactly(scim: ScimClient) -> None:
    values = {"big": 2**63 - 1, "small": -(2**63), "decimal": 9007199254740991.0,
              "tiny": 5e-324, "half": 1.5}
    created = scim.post("/Users", {"userName": "numbers@example.com", EXT: values})
    assert created.status_code == 201, created.data
    got = scim.get(f"/Users/{created.json['id']}").json[EXT]
    assert got == values
    assert all(type(got[k]) is type(v) for k, v in values.items())
    listed = scim.get("/Users", query_string={"filter": 'userName eq "numbers@example.com"'})
    assert listed.json["Resources"][0][EXT] == values


# --- nesting -----------------------------------------------------------------------------


def nested(levels: int) -> Any:
    """A value of ``levels`` nested lists around a string."""
    value: Any = "leaf"
    for _ in range(levels):
        value = [value]
    return value


def test_one_depth_limit_for_post_put_patch_filters_and_rendering(scim: ScimClient,
                                                                  db: Database) -> None:
    # The body is level 1 and the extension level 2: the deepest value has MAX_DEPTH levels.
    deepest = nested(MAX_DEPTH - 2)
    created = scim.post("/Users", {"userName": "deep@example.com", EXT: {"tree": deepest}})
    assert created.status_code == 201, created.data
    user_id = created.json["id"]
    assert scim.get(f"/Users/{user_id}").json[EXT]["tree"] == deepest
    listed = scim.get("/Users", query_string={"filter": 'userName eq "deep@example.com"'})
    assert listed.json["Resources"][0][EXT]["tree"] == deepest
    put = scim.put(f"/Users/{user_id}", {"userName": "deep@example.com", "title": "t",
                                         EXT: {"tree": deepest}})
    assert put.status_code == 200, put.data
    patched = scim.patch(f"/Users/{user_id}", patch_op({"op": "replace", "path": "title",
                                                       "value": "u"}))
    assert patched.status_code == 200, patched.data
    assert patched.json[EXT]["tree"] == deepest
    filtered = "(" * MAX_DEPTH + 'userName eq "deep@example.com"' + ")" * MAX_DEPTH
    assert scim.get("/Users", query_string={"filter": filtered}).json["totalResults"] == 1

    with nothing_written(db):
        too_deep = {"userName": "deeper@example.com", EXT: {"tree": nested(MAX_DEPTH - 1)}}
        refused(scim.post("/Users", too_deep), "invalidValue", f"deeper than {MAX_DEPTH}")
        refused(scim.put(f"/Users/{user_id}", {**too_deep, "userName": "deep@example.com"}),
                "invalidValue", f"deeper than {MAX_DEPTH}")
        refused(scim.patch(f"/Users/{user_id}", patch_op(
            {"op": "add", "path": f"{EXT}:tree", "value": nested(MAX_DEPTH)})),
            "invalidValue", f"deeper than {MAX_DEPTH}")
        refused(scim.get("/Users", query_string={"filter": f"({filtered})"}),
                "invalidFilter", f"deeper than {MAX_DEPTH}")
        refused(scim.post("/Users", {"userName": "x@example.com", EXT: {"t": nested(500)}}),
                "invalidValue", f"deeper than {MAX_DEPTH}")


# --- names: case-folded length and control characters -------------------------------------


@pytest.mark.parametrize("name", ["ß" * 200, "ﬃ" * 100, "a" * 200 + "ß" * 29])
def test_a_name_whose_folded_form_overflows_the_column_is_refused(
        scim: ScimClient, db: Database, name: str) -> None:
    with nothing_written(db):
        refused(scim.post("/Users", {"userName": name}), "invalidValue", "'userName'",
                "case-folded")
        refused(scim.post("/Groups", {"displayName": name}), "invalidValue", "'displayName'",
                "case-folded")


def test_a_name_whose_folded_form_just_fits_is_kept(scim: ScimClient) -> None:
    name = "ß" * 128  # folds to 256 characters: the column's size
    created = scim.post("/Users", {"userName": name})
    assert created.status_code == 201, created.data
    found = scim.get("/Users", query_string={"filter": f'userName eq "{"SS" * 128}"'})
    assert [r["id"] for r in found.json["Resources"]] == [created.json["id"]]
    group = scim.post("/Groups", {"displayName": "ﬃ" * 85 + "Ä"})  # 255 + 1 once folded
    assert group.status_code == 201, group.data
    assert scim.get(f"/Groups/{group.json['id']}").json["displayName"] == "ﬃ" * 85 + "Ä"


@pytest.mark.parametrize("char", ["\u0007", "\u001b", "\u007f", "\u009b", "\n", "\t"])
def test_control_characters_are_refused_in_names_and_identifiers(
        scim: ScimClient, db: Database, user_id: str, char: str) -> None:
    bad = f"ctl{char}[31m@example.com"
    with nothing_written(db):
        refused(scim.post("/Users", {"userName": bad}), "invalidValue", "'userName'", "control")
        refused(scim.post("/Users", {"userName": "ok@example.com", "displayName": bad}),
                "invalidValue", "'displayName'", "control")
        refused(scim.post("/Users", {"userName": "ok@example.com", "externalId": bad}),
                "invalidValue", "'externalId'", "control")
        refused(scim.post("/Groups", {"displayName": bad}), "invalidValue", "'displayName'")
        refused(scim.post("/Groups", {"displayName": "G", "externalId": bad}),
                "invalidValue", "'externalId'")
        refused(scim.patch(f"/Users/{user_id}", patch_op(
            {"op": "replace", "path": "userName", "value": bad})), "invalidValue", "'userName'")
    # Positive control: a tab or newline stays welcome where text may have lines.
    ok = scim.post("/Users", {"userName": "ok@example.com", "title": f"a{char}b",
                              "displayName": "Äda\u200dStrauß"})
    assert ok.status_code == 201, ok.data
    assert scim.get(f"/Users/{ok.json['id']}").json["title"] == f"a{char}b"
