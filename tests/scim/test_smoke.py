"""The first request a new user makes: create a user, find it, fetch it."""

from tests.helpers.clients import ScimClient


def test_create_find_fetch(scim: ScimClient) -> None:
    created = scim.post("/Users", json={"userName": "bjensen@example.com"})
    assert created.status_code == 201
    found = scim.get('/Users?filter=userName eq "BJensen@example.com"')
    assert found.json["totalResults"] == 1
    assert scim.get(f"/Users/{created.json['id']}").json["userName"] == "bjensen@example.com"
