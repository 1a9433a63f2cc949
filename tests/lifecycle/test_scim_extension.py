"""Last activity in SCIM: Frontdesk's read-only extension, advertised in /Schemas and the User
ResourceType, shown once the user did something, ignored on input (POST, PUT of a GET's body,
PATCH with or without a path): it never makes an IdP's write fail and an IdP never writes it."""

from __future__ import annotations

from datetime import timedelta

from flask.testing import FlaskClient

from app.catalog import LIFECYCLE_SCHEMA
from app.clock import FrozenClock
from app.db import Database
from tests.helpers.access import AccessClient
from tests.helpers.access import personal_token
from tests.helpers.clients import ScimClient
from tests.helpers.clients import patch_op
from tests.helpers.lifecycle import user


def test_the_extension_is_advertised_read_only(scim: ScimClient) -> None:
    schema = scim.get(f"/Schemas/{LIFECYCLE_SCHEMA}")
    assert schema.status_code == 200, schema.get_json()
    attrs = {a["name"]: (a["type"], a["mutability"]) for a in schema.get_json()["attributes"]}
    assert attrs == {"lastActivityAt": ("dateTime", "readOnly"),
                     "lastActivityKind": ("string", "readOnly")}
    listed = [s["id"] for s in scim.get("/Schemas").get_json()["Resources"]]
    assert LIFECYCLE_SCHEMA in listed
    # Not a schemaExtension of the ResourceType: clients take those as writable.
    extensions = scim.get("/ResourceTypes/User").get_json()["schemaExtensions"]
    assert LIFECYCLE_SCHEMA not in [e["schema"] for e in extensions]


def test_shown_after_activity_and_ignored_on_every_input(
        client: FlaskClient, db: Database, scim: ScimClient, clock: FrozenClock) -> None:
    forged = {"lastActivityAt": "2030-01-01T00:00:00Z", "lastActivityKind": "sign_in"}
    created = scim.post("/Users", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", LIFECYCLE_SCHEMA],
        "userName": "Strauß@example.com", LIFECYCLE_SCHEMA: forged})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    uid = body["id"]
    assert LIFECYCLE_SCHEMA not in body and LIFECYCLE_SCHEMA not in body["schemas"]
    assert user(db, uid).last_activity_at is None  # never active: counts from meta.created

    assert AccessClient(client, personal_token(db, "Strauß@example.com")).get(
        "/memberships").status_code == 200
    shown = scim.get(f"/Users/{uid}").get_json()
    assert shown[LIFECYCLE_SCHEMA] == {
        "lastActivityAt": clock.now().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "lastActivityKind": "token"}
    assert LIFECYCLE_SCHEMA in shown["schemas"]
    listed = scim.get("/Users", query_string={"filter": 'userName eq "strauß@example.com"'})
    assert listed.get_json()["Resources"][0][LIFECYCLE_SCHEMA] == shown[LIFECYCLE_SCHEMA]
    recorded = user(db, uid).last_activity_at

    clock.advance(timedelta(days=1))
    put = scim.put(f"/Users/{uid}", {**shown, LIFECYCLE_SCHEMA: forged, "displayName": "J. S."})
    assert put.status_code == 200, put.get_json()
    with_path = scim.patch(f"/Users/{uid}", patch_op(
        {"op": "replace", "path": f"{LIFECYCLE_SCHEMA}:lastActivityAt",
         "value": "2030-01-01T00:00:00Z"}, {"op": "add", "path": LIFECYCLE_SCHEMA,
                                            "value": forged}))
    assert with_path.status_code == 200, with_path.get_json()
    no_path = scim.patch(f"/Users/{uid}", patch_op(
        {"op": "replace", "value": {LIFECYCLE_SCHEMA: forged, "displayName": "Johann Strauß"}}))
    assert no_path.status_code == 200, no_path.get_json()
    assert no_path.get_json()["displayName"] == "Johann Strauß"
    row = user(db, uid)
    assert (row.last_activity_at, row.last_activity_kind) == (recorded, "token")
    assert LIFECYCLE_SCHEMA not in row.doc
