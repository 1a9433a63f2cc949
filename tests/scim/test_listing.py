"""Listing through HTTP: filters for every operator, value paths, sorting, paging, projection,
and the three .search endpoints (RFC 7644 §3.4.2, §3.4.3)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

import config
from app.clock import FrozenClock
from app.web.context import get_db
from tests.helpers.clients import ScimClient
from tests.helpers.factories import make_token

ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def post(scim: ScimClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = scim.post(path, json=body)
    assert response.status_code == 201, response.json
    result: dict[str, Any] = response.json
    return result


def listing(scim: ScimClient, path: str = "/Users", **params: Any) -> dict[str, Any]:
    response = scim.get(path, query_string=params)
    assert response.status_code == 200, response.json
    assert response.mimetype == "application/scim+json"
    body: dict[str, Any] = response.json
    assert body["schemas"] == [LIST]
    assert body["itemsPerPage"] == len(body.get("Resources", []))
    return body


def names(body: dict[str, Any], key: str = "userName") -> list[str]:
    return [r[key] for r in body.get("Resources", [])]


def found(scim: ScimClient, flt: str, path: str = "/Users", key: str = "userName",
          **params: Any) -> list[str]:
    """The sorted names a filter finds; totalResults must agree with what came back."""
    body = listing(scim, path, filter=flt, **params)
    assert body["totalResults"] == len(body.get("Resources", [])), flt
    return sorted(names(body, key))


def filter_error(scim: ScimClient, flt: str, path: str = "/Users") -> dict[str, Any]:
    response = scim.get(path, query_string={"filter": flt})
    assert response.status_code == 400, (flt, response.json)
    assert response.json["scimType"] == "invalidFilter", flt
    assert response.json["schemas"] == [ERROR]
    result: dict[str, Any] = response.json
    return result


@dataclasses.dataclass
class People:
    ids: dict[str, str]
    groups: dict[str, str]
    between: str  # a time after alice and bob were created and before carol and dave


ALICE, BOB, CAROL, DAVE = "alice@example.com", "Bob@Example.com", "carol_100%@example.org", "dave"


@pytest.fixture
def people(app: Flask, scim: ScimClient) -> People:
    clock = get_db(app).clock = FrozenClock()  # time moves only when told: a second a write

    def made(path: str, body: dict[str, Any]) -> dict[str, Any]:
        created = post(scim, path, body)
        clock.advance(timedelta(seconds=1))
        return created

    ids: dict[str, str] = {}
    ids[ALICE] = made("/Users", {
        "userName": ALICE, "title": "Engineer",
        "name": {"givenName": "Alice", "familyName": "Zephyr"},
        "emails": [{"value": "alice@work.x", "type": "work", "primary": True},
                   {"value": "alice@home.org", "type": "home"}],
        ENT: {"department": "R&D", "employeeNumber": "100", "manager": {"value": "m1"}},
    })["id"]
    ids[BOB] = made("/Users", {
        "userName": BOB, "title": "Manager", "active": False,
        "name": {"givenName": "Bob", "familyName": "Young"},
        "emails": [{"value": "bob@home.x", "type": "home"}],
        ENT: {"department": "Sales"},
    })["id"]
    # Bob was made a second ago; Carol will be made now: half a second ago is between them.
    between = (clock.now() - timedelta(milliseconds=500)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    ids[CAROL] = made("/Users", {
        "userName": CAROL, "name": {"familyName": "Xavier"},
        "emails": [{"value": "carol@work.y", "type": "work"}],
    })["id"]
    ids[DAVE] = made("/Users", {"userName": DAVE})["id"]
    groups = {
        "Admins": made("/Groups", {"displayName": "Admins", "members": [
            {"value": ids[ALICE]}, {"value": ids[BOB]}]})["id"],
        "Staff": made("/Groups", {"displayName": "Staff",
                                        "members": [{"value": ids[CAROL]}]})["id"],
    }
    return People(ids, groups, between)


# --- operators ---------------------------------------------------------------------------


@pytest.mark.parametrize(("flt", "expected"), [
    ('userName eq "BOB@example.COM"', [BOB]),
    ('userName eq "nobody"', []),
    ('userName ne "bob@example.com"', [ALICE, CAROL, DAVE]),
    ('title ne "Engineer"', [BOB, CAROL, DAVE]),
    ('userName co "EXAMPLE"', [ALICE, BOB, CAROL]),
    ('userName sw "A"', [ALICE]),
    ('userName ew ".ORG"', [CAROL]),
    ('userName gt "bob@example.com"', [CAROL, DAVE]),
    ('userName ge "bob@example.com"', [BOB, CAROL, DAVE]),
    ('userName lt "bob@example.com"', [ALICE]),
    ('userName le "BOB@EXAMPLE.COM"', [ALICE, BOB]),
    ("title pr", [ALICE, BOB]),
    ("name.familyName pr", [ALICE, BOB, CAROL]),
    ("emails pr", [ALICE, BOB, CAROL]),
    ('name.givenName eq "alice"', [ALICE]),
    ('title co "ag"', [BOB]),
    ("active eq false", [BOB]),
    ("active eq true", [ALICE, CAROL, DAVE]),
    ('emails.value eq "BOB@home.x"', [BOB]),
    ('emails.type eq "work"', [ALICE, CAROL]),
    ('emails.value ew ".org"', [ALICE]),
])
def test_operators(scim: ScimClient, people: People, flt: str, expected: list[str]) -> None:
    assert found(scim, flt) == sorted(expected)


@pytest.mark.parametrize(("flt", "expected"), [
    ('title pr and active eq true', [ALICE]),
    ('title pr and not (active eq false)', [ALICE]),
    ('userName sw "a" or userName sw "d"', [ALICE, DAVE]),
    ('(userName sw "a" or userName sw "c") and emails.type eq "work"', [ALICE, CAROL]),
    ('userName sw "a" or userName sw "c" and emails.type eq "home"', [ALICE]),
    ('not (userName co "example")', [DAVE]),
    ('not (title pr)', [CAROL, DAVE]),
    ('not (title eq "Engineer") and not (title eq "Manager")', [CAROL, DAVE]),
    ('(title eq "Engineer" or title eq "Manager") and (name.givenName sw "b")', [BOB]),
])
def test_logic_and_grouping(scim: ScimClient, people: People, flt: str,
                            expected: list[str]) -> None:
    assert found(scim, flt) == sorted(expected)


@pytest.mark.parametrize(("flt", "expected"), [
    ('emails[type eq "work" and value co "@work.x"]', [ALICE]),
    # Both conditions on the same element: alice's home address is not at "@work".
    ('emails[type eq "home" and value co "@work"]', []),
    ('emails[type eq "home" and value co "@home"]', [ALICE, BOB]),
    ('emails[type eq "work" or value ew ".x"]', [ALICE, BOB, CAROL]),
    ('emails[not (type eq "work")]', [ALICE, BOB]),
    ('emails[primary eq true]', [ALICE]),
    ('emails[type eq "work"].value co "@work.y"', [CAROL]),
    ('emails[type eq "work"] and title pr', [ALICE]),
])
def test_value_paths(scim: ScimClient, people: People, flt: str, expected: list[str]) -> None:
    assert found(scim, flt) == sorted(expected)


def test_groups_value_and_members_value(scim: ScimClient, people: People) -> None:
    admins, staff = people.groups["Admins"], people.groups["Staff"]
    assert found(scim, f'groups.value eq "{admins}"') == sorted([ALICE, BOB])
    assert found(scim, f'groups[value eq "{staff}"]') == [CAROL]
    assert found(scim, f'not (groups.value eq "{admins}")') == sorted([CAROL, DAVE])
    assert found(scim, 'groups.display eq "staff"') == [CAROL]
    assert found(scim, f'members.value eq "{people.ids[ALICE]}"', "/Groups",
                 "displayName") == ["Admins"]
    assert found(scim, f'members[value eq "{people.ids[CAROL]}"]', "/Groups",
                 "displayName") == ["Staff"]
    assert found(scim, f'members.value eq "{people.ids[DAVE]}"', "/Groups",
                 "displayName") == []
    assert found(scim, 'displayName eq "ADMINS"', "/Groups", "displayName") == ["Admins"]
    assert found(scim, 'displayName sw "s"', "/Groups", "displayName") == ["Staff"]


def test_enterprise_urn_paths(scim: ScimClient, people: People) -> None:
    assert found(scim, f'{ENT}:department eq "r&d"') == [ALICE]
    assert found(scim, f'{ENT}:department pr') == sorted([ALICE, BOB])
    assert found(scim, f'{ENT}:manager.value eq "m1"') == [ALICE]
    assert found(scim, f'{ENT}:employeeNumber eq "100" and userName sw "a"') == [ALICE]
    assert found(scim, f'not ({ENT}:department eq "Sales")') == sorted([ALICE, CAROL, DAVE])


def test_meta_dates(scim: ScimClient, people: People) -> None:
    later = [CAROL, DAVE]
    assert found(scim, f'meta.created gt "{people.between}"') == sorted(later)
    assert found(scim, f'meta.created lt "{people.between}"') == sorted([ALICE, BOB])
    assert found(scim, f'meta.lastModified gt "{people.between}"') == sorted(later)
    assert found(scim, 'meta.lastModified ge "2000-01-01T00:00:00Z"') == sorted(
        [ALICE, BOB, CAROL, DAVE])
    # Modifying alice moves her lastModified past the mark, not her created.
    scim.put(f"/Users/{people.ids[ALICE]}", json={"userName": ALICE, "title": "Lead"})
    assert found(scim, f'meta.lastModified gt "{people.between}"') == sorted([ALICE, *later])
    assert found(scim, f'meta.created gt "{people.between}"') == sorted(later)
    assert found(scim, f'meta.created gt "{people.between}"', "/Groups",
                 "displayName") == ["Admins", "Staff"]


def test_like_wildcards_are_literal(scim: ScimClient, people: People) -> None:
    assert found(scim, 'userName co "%"') == [CAROL]
    assert found(scim, 'userName co "_"') == [CAROL]
    assert found(scim, 'userName co "_100%"') == [CAROL]
    assert found(scim, 'userName sw "%"') == []
    assert found(scim, 'userName ew "%"') == []
    assert found(scim, 'userName co "a_i"') == []
    assert found(scim, 'userName co "\\\\"') == []
    assert found(scim, 'emails.value co "%"') == []


@pytest.mark.parametrize("flt", [
    'userName pr and nosuch eq "x"',
    'nosuch eq "x" or userName pr',
    'not (nosuch pr)',
    'emails[nosuch eq "x"]',
    'emails[type eq "work"].nosuch eq "x"',
    'name.nosuch pr',
    'urn:example:nosuch:attr eq "x"',
    f'{ENT}:nosuch eq "x"',
    'userName eq',
    'userName zz "x"',
    '(userName pr',
    'password eq "x"',
])
def test_invalid_filters_are_refused_never_widened(scim: ScimClient, people: People,
                                                   flt: str) -> None:
    filter_error(scim, flt)


def test_invalid_group_filters(scim: ScimClient, people: People) -> None:
    filter_error(scim, 'displayName pr and userName eq "x"', "/Groups")
    filter_error(scim, 'members[nosuch eq "x"]', "/Groups")


# --- sorting -----------------------------------------------------------------------------


def test_sort_by_user_name(scim: ScimClient, people: People) -> None:
    ascending = listing(scim, sortBy="userName")
    assert names(ascending) == [ALICE, BOB, CAROL, DAVE]
    explicit = listing(scim, sortBy="userName", sortOrder="ascending")
    assert names(explicit) == names(ascending)
    descending = listing(scim, sortBy="userName", sortOrder="descending")
    assert names(descending) == [DAVE, CAROL, BOB, ALICE]


def test_sort_by_family_name_absent_values_last(scim: ScimClient, people: People) -> None:
    assert names(listing(scim, sortBy="name.familyName")) == [CAROL, BOB, ALICE, DAVE]
    assert names(listing(scim, sortBy="name.familyName", sortOrder="descending")) == [
        ALICE, BOB, CAROL, DAVE]


def test_sort_by_emails_value(scim: ScimClient, people: People) -> None:
    assert names(listing(scim, sortBy="emails.value")) == [ALICE, BOB, CAROL, DAVE]
    assert names(listing(scim, sortBy="emails.value", sortOrder="descending")) == [
        CAROL, BOB, ALICE, DAVE]


def test_sort_by_a_multi_valued_attribute_uses_the_primary_else_the_first(scim: ScimClient
                                                                          ) -> None:
    post(scim, "/Users", {"userName": "u1", "emails": [
        {"value": "a@x", "type": "home"}, {"value": "z@x", "type": "work", "primary": True}]})
    post(scim, "/Users", {"userName": "u2", "emails": [{"value": "M@x", "type": "home"}]})
    post(scim, "/Users", {"userName": "u3", "emails": [
        {"value": "n@x", "type": "other"}, {"value": "b@x", "type": "a"}]})
    post(scim, "/Users", {"userName": "u4"})
    assert names(listing(scim, sortBy="emails.value")) == ["u2", "u3", "u1", "u4"]
    assert names(listing(scim, sortBy="emails.value", sortOrder="descending")) == [
        "u1", "u3", "u2", "u4"]
    assert names(listing(scim, sortBy="emails.type")) == ["u2", "u3", "u1", "u4"]


def test_sort_groups_and_bad_sorts(scim: ScimClient, people: People) -> None:
    groups = listing(scim, "/Groups", sortBy="displayName", sortOrder="descending")
    assert names(groups, "displayName") == ["Staff", "Admins"]
    with_filter = listing(scim, sortBy="title", sortOrder="descending", filter="title pr")
    assert names(with_filter) == [BOB, ALICE]
    for params in ({"sortBy": "nosuch"}, {"sortBy": "name"},
                   {"sortBy": "userName", "sortOrder": "sideways"}):
        response = scim.get("/Users", query_string=params)
        assert response.status_code == 400, params
        assert response.json["schemas"] == [ERROR]


# --- paging ------------------------------------------------------------------------------


def make_users(scim: ScimClient, n: int) -> list[str]:
    return [post(scim, "/Users", {"userName": f"user{i:03d}"})["id"] for i in range(n)]


def test_paging_is_exact_and_stable(scim: ScimClient) -> None:
    ids = make_users(scim, 25)
    everything = listing(scim, count=100)
    assert [r["id"] for r in everything["Resources"]] == ids  # creation order by default
    seen: list[str] = []
    for start, size in ((1, 10), (11, 10), (21, 5)):
        page = listing(scim, startIndex=start, count=10)
        assert page["totalResults"] == 25
        assert page["startIndex"] == start
        assert page["itemsPerPage"] == size
        seen += [r["id"] for r in page["Resources"]]
    assert seen == ids
    sorted_pages = [listing(scim, sortBy="userName", sortOrder="descending", startIndex=s,
                            count=7) for s in (1, 8, 15, 22)]
    assert [r["id"] for p in sorted_pages for r in p["Resources"]] == ids[::-1]
    assert all(p["totalResults"] == 25 for p in sorted_pages)
    beyond = listing(scim, startIndex=26, count=10)
    assert beyond["totalResults"] == 25
    assert beyond["itemsPerPage"] == 0
    assert beyond.get("Resources", []) == []
    zero_start = listing(scim, startIndex=0, count=3)
    assert zero_start["startIndex"] == 1
    assert [r["id"] for r in zero_start["Resources"]] == ids[:3]
    filtered = listing(scim, filter='userName sw "user01"', startIndex=2, count=3)
    assert filtered["totalResults"] == 10
    assert [r["userName"] for r in filtered["Resources"]] == ["user011", "user012", "user013"]


def test_count_zero_gives_the_total_only(scim: ScimClient) -> None:
    make_users(scim, 3)
    body = listing(scim, count=0)
    assert body["totalResults"] == 3
    assert body["itemsPerPage"] == 0
    assert body.get("Resources", []) == []
    negative = listing(scim, count=-5)
    assert negative["totalResults"] == 3
    assert negative["itemsPerPage"] == 0


def test_bad_paging_parameters(scim: ScimClient) -> None:
    for params in ({"count": "ten"}, {"startIndex": "x"}):
        response = scim.get("/Users", query_string=params)
        assert response.status_code == 400
        assert response.json["schemas"] == [ERROR]


@pytest.fixture
def small_scim(app: Flask, make_app: Callable[..., Flask]) -> ScimClient:
    """A second app on the same database with a page size capped at 3."""
    capped = make_app(scim_max_page_size=3, scim_default_page_size=2)
    return ScimClient(capped.test_client(), make_token(get_db(capped), "capped"))


def test_count_is_capped_at_the_advertised_maximum(small_scim: ScimClient) -> None:
    spc = small_scim.get("/ServiceProviderConfig").json
    assert spc["filter"] == {"supported": True, "maxResults": 3}
    make_users(small_scim, 5)
    default = listing(small_scim)
    assert default["totalResults"] == 5
    assert default["itemsPerPage"] == 2
    capped = listing(small_scim, count=1000)
    assert capped["totalResults"] == 5
    assert capped["itemsPerPage"] == 3
    last = listing(small_scim, startIndex=4, count=1000)
    assert last["itemsPerPage"] == 2
    searched = small_scim.post("/Users/.search", json={"schemas": [SEARCH], "count": 50})
    assert searched.json["itemsPerPage"] == 3
    assert searched.json["totalResults"] == 5


def test_default_max_results_is_advertised(scim: ScimClient, settings: config.Settings
                                           ) -> None:
    spc = scim.get("/ServiceProviderConfig").json
    assert spc["filter"]["maxResults"] == settings.scim_max_page_size


# --- projection --------------------------------------------------------------------------


def test_attributes_on_lists(scim: ScimClient, people: People) -> None:
    body = listing(scim, attributes="userName", sortBy="userName")
    assert [set(r) for r in body["Resources"]] == [{"schemas", "id", "userName"}] * 4
    family = listing(scim, attributes="name.familyName", filter='userName sw "a"')
    assert family["Resources"][0]["name"] == {"familyName": "Zephyr"}
    assert "userName" not in family["Resources"][0]
    both = listing(scim, attributes="emails.value,title", filter='userName sw "a"')
    resource = both["Resources"][0]
    assert resource["title"] == "Engineer"
    assert resource["emails"] == [{"value": "alice@work.x"}, {"value": "alice@home.org"}]
    ent = listing(scim, attributes=f"{ENT}:department", filter='userName sw "a"')
    assert ent["Resources"][0][ENT] == {"department": "R&D"}
    with_groups = listing(scim, attributes="groups", filter='userName sw "a"')
    assert [g["display"] for g in with_groups["Resources"][0]["groups"]] == ["Admins"]


def test_groups_on_lists_are_complete_and_in_display_name_order(scim: ScimClient,
                                                                people: People) -> None:
    """A list folds each user's groups into its one statement; they read as GET /Users/{id}
    reads them, in displayName order (case-insensitive), and a user in none has no groups."""
    for name in ("beta", "Alpha", "gamma"):
        assert scim.post("/Groups", json={"displayName": name, "members": [
            {"value": people.ids[ALICE]}, {"value": people.ids[DAVE]}]}).status_code == 201
    body = listing(scim, sortBy="userName")
    by_name = {r["userName"]: r for r in body["Resources"]}
    assert [g["display"] for g in by_name[ALICE]["groups"]] == ["Admins", "Alpha", "beta",
                                                                 "gamma"]
    assert [g["display"] for g in by_name[DAVE]["groups"]] == ["Alpha", "beta", "gamma"]
    assert [g["display"] for g in by_name[CAROL]["groups"]] == ["Staff"]
    for resource in body["Resources"]:
        alone = scim.get(f"/Users/{resource['id']}").json
        assert resource.get("groups") == alone.get("groups")
        assert all(g["type"] == "direct" and g["$ref"].endswith(f"/Groups/{g['value']}")
                   for g in resource.get("groups", []))
    assert scim.delete(f"/Groups/{people.groups['Staff']}").status_code == 204
    assert "groups" not in listing(scim, filter=f'userName eq "{CAROL}"')["Resources"][0]


def test_filters_of_one_shape_bind_their_own_values(scim: ScimClient, people: People) -> None:
    """Filters of one shape share a compiled statement; every value still binds, and is
    checked, afresh."""
    for name in (ALICE, BOB.upper(), CAROL, DAVE, "nobody", ALICE):
        expected = [] if name == "nobody" else [
            n for n in (ALICE, BOB, CAROL, DAVE) if n.casefold() == name.casefold()]
        assert found(scim, f'userName eq "{name}"') == expected
    shape = 'userName eq "{}" or emails[type eq "{}" and value co "{}"]'
    assert found(scim, shape.format(DAVE, "home", "bob")) == [BOB, DAVE]
    assert found(scim, shape.format(ALICE, "work", "carol")) == [ALICE, CAROL]
    assert found(scim, shape.format("x", "work", "%")) == []
    assert found(scim, 'title eq "Engineer"') == [ALICE]
    assert found(scim, "title eq null") == [CAROL, DAVE]
    assert found(scim, 'title eq "Manager"') == [BOB]
    assert found(scim, 'meta.created gt "2000-01-01T00:00:00Z"') == sorted(people.ids)
    assert found(scim, 'meta.created gt "2999-01-01T00:00:00Z"') == []
    error = filter_error(scim, 'userName eq "a\\u0000b"')
    assert "NUL" in error["detail"]


def test_excluded_attributes_on_lists(scim: ScimClient, people: People) -> None:
    body = listing(scim, excludedAttributes="emails,name,groups", filter='userName sw "a"')
    resource = body["Resources"][0]
    assert "emails" not in resource
    assert "name" not in resource
    assert "groups" not in resource
    assert resource["userName"] == ALICE
    assert resource["title"] == "Engineer"
    assert resource["id"] == people.ids[ALICE]
    full = listing(scim, filter='userName sw "a"')["Resources"][0]
    assert [g["value"] for g in full["groups"]] == [people.groups["Admins"]]
    groups = listing(scim, "/Groups", excludedAttributes="members")
    assert all("members" not in r for r in groups["Resources"])
    groups_full = listing(scim, "/Groups", sortBy="displayName")
    assert len(groups_full["Resources"][0]["members"]) == 2
    # excludedAttributes cannot remove "id", which is returned always.
    assert "id" in listing(scim, excludedAttributes="id")["Resources"][0]


# --- .search -----------------------------------------------------------------------------


def search(scim: ScimClient, path: str, **body: Any) -> dict[str, Any]:
    response = scim.post(path, json={"schemas": [SEARCH], **body})
    assert response.status_code == 200, response.json
    assert response.mimetype == "application/scim+json"
    result: dict[str, Any] = response.json
    assert result["schemas"] == [LIST]
    return result


def test_users_search(scim: ScimClient, people: People) -> None:
    body = search(scim, "/Users/.search", filter='emails[type eq "work"]', sortBy="userName",
                  sortOrder="descending", attributes=["userName"], startIndex=1, count=10)
    assert body["totalResults"] == 2
    assert names(body) == [CAROL, ALICE]
    assert set(body["Resources"][0]) == {"schemas", "id", "userName"}
    paged = search(scim, "/Users/.search", sortBy="userName", startIndex=2, count=2,
                   excludedAttributes=["emails"])
    assert paged["totalResults"] == 4
    assert names(paged) == [BOB, CAROL]
    assert all("emails" not in r for r in paged["Resources"])


def test_groups_search(scim: ScimClient, people: People) -> None:
    body = search(scim, "/Groups/.search",
                  filter=f'members.value eq "{people.ids[BOB]}"',
                  excludedAttributes=["members"])
    assert names(body, "displayName") == ["Admins"]
    assert "members" not in body["Resources"][0]


def test_root_search_lists_users_then_groups(scim: ScimClient, people: People) -> None:
    everything = search(scim, "/.search")
    assert everything["totalResults"] == 6
    types = [r["meta"]["resourceType"] for r in everything["Resources"]]
    assert types == ["User"] * 4 + ["Group"] * 2
    across = search(scim, "/.search", startIndex=4, count=2)
    assert across["totalResults"] == 6
    assert across["startIndex"] == 4
    assert [r["meta"]["resourceType"] for r in across["Resources"]] == ["User", "Group"]
    assert across["Resources"][0]["userName"] == DAVE
    assert across["Resources"][1]["displayName"] == "Admins"
    tail = search(scim, "/.search", startIndex=6, count=10)
    assert [r["displayName"] for r in tail["Resources"]] == ["Staff"]
    only_users = search(scim, "/.search", filter='userName sw "a"')
    assert names(only_users) == [ALICE]
    assert only_users["totalResults"] == 1
    created_later = search(scim, "/.search", filter=f'meta.created gt "{people.between}"')
    assert created_later["totalResults"] == 4
    counted = search(scim, "/.search", count=0)
    assert counted["totalResults"] == 6
    assert counted.get("Resources", []) == []
    response = scim.post("/.search", json={"schemas": [SEARCH], "filter": 'nosuch eq "x"'})
    assert response.status_code == 400
    assert response.json["scimType"] == "invalidFilter"


def test_search_needs_the_search_request_schema(scim: ScimClient) -> None:
    response = scim.post("/Users/.search", json={"schemas": ["urn:wrong"], "filter": "x pr"})
    assert response.status_code == 400
    assert response.json["schemas"] == [ERROR]


def test_case_insensitive_matching_beyond_ascii(scim: ScimClient) -> None:
    strauss = post(scim, "/Users", {"userName": "jstrauss", "title": "Über-Leiter",
                                    "name": {"familyName": "Strauß", "givenName": "Jörg"},
                                    "emails": [{"value": "Jörg@Example.com",
                                                "display": "Jörg Strauß"}]})["id"]
    mueller = post(scim, "/Users", {"userName": "Ämüller", "displayName": "ÉLODIE Müller",
                                    "name": {"familyName": "Müller"}})["id"]
    cases = {
        'name.familyName eq "Strauß"': [strauss],
        'name.familyName eq "STRAUß"': [strauss],
        'name.familyName eq "MÜLLER"': [mueller],
        'name.familyName sw "mü"': [mueller],
        'name.givenName eq "JÖRG"': [strauss],
        'title sw "über"': [strauss],
        'displayName co "élodie"': [mueller],
        'userName eq "ÄMÜLLER"': [mueller],
        'emails.value eq "JÖRG@example.COM"': [strauss],
        'emails[display co "STRAUß"]': [strauss],
    }
    for flt, expected in cases.items():
        body = listing(scim, filter=flt)
        assert [r["id"] for r in body["Resources"]] == expected, flt
