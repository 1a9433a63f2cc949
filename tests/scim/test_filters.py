"""scim.filters: RFC 7644 §3.4.2.2 examples, Okta/Entra shapes, and refusals that never widen."""

from __future__ import annotations

import random
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone

import pytest

from app.catalog import GROUP_KIND
from app.catalog import USER_KIND
from app.query import And
from app.query import Compare
from app.query import Criteria
from app.query import Not
from app.query import Or
from app.query import ValuePath
from scim.errors import InvalidFilter
from scim.filters import parse_filter
from scim.filters import parse_sort_by

ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def user(text: str) -> Criteria:
    return parse_filter(text, USER_KIND)


def invalid(text: str, *, kind: object = USER_KIND) -> str:
    with pytest.raises(InvalidFilter) as caught:
        parse_filter(text, kind)  # type: ignore[arg-type]
    assert caught.value.scim_type == "invalidFilter"
    assert caught.value.status == 400
    return caught.value.detail


# RFC 7644 §3.4.2.2, the examples in order.


def test_rfc_eq() -> None:
    assert user('userName eq "bjensen"') == Compare("userName", "eq", "bjensen")


def test_rfc_co_keeps_case_and_quote() -> None:
    assert user("name.familyName co \"O'Malley\"") == Compare("name.familyName", "co", "O'Malley")


def test_rfc_sw() -> None:
    assert user('userName sw "J"') == Compare("userName", "sw", "J")


def test_rfc_urn_prefixed_core_path() -> None:
    assert user('urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"') == Compare(
        "userName", "sw", "J"
    )


def test_rfc_pr() -> None:
    assert user("title pr") == Compare("title", "pr")


@pytest.mark.parametrize("op", ["gt", "ge", "lt", "le"])
def test_rfc_datetime_ordering(op: str) -> None:
    expected = datetime(2011, 5, 13, 4, 42, 34, tzinfo=UTC)
    got = user(f'meta.lastModified {op} "2011-05-13T04:42:34Z"')
    assert got == Compare("meta.lastModified", op, expected)  # type: ignore[arg-type]
    assert isinstance(got, Compare) and isinstance(got.value, datetime)
    assert got.value.tzinfo is not None


def test_rfc_and() -> None:
    assert user('title pr and userType eq "Employee"') == And(
        (Compare("title", "pr"), Compare("userType", "eq", "Employee"))
    )


def test_rfc_or() -> None:
    assert user('title pr or userType eq "Intern"') == Or(
        (Compare("title", "pr"), Compare("userType", "eq", "Intern"))
    )


def test_rfc_schemas_is_not_filterable() -> None:
    # "schemas" is not a catalogue attribute; refusing beats silently matching everything.
    assert "schemas" in invalid(f'schemas eq "{ENT}"')


def test_rfc_and_with_grouped_or_over_emails() -> None:
    got = user(
        'userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")'
    )
    assert got == And((
        Compare("userType", "eq", "Employee"),
        Or((
            ValuePath("emails", Compare("value", "co", "example.com")),
            ValuePath("emails", Compare("value", "co", "example.org")),
        )),
    ))


def test_rfc_ne_and_not() -> None:
    got = user(
        'userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")'
    )
    assert got == And((
        Compare("userType", "ne", "Employee"),
        Not(Or((
            ValuePath("emails", Compare("value", "co", "example.com")),
            ValuePath("emails", Compare("value", "co", "example.org")),
        ))),
    ))


def test_rfc_parenthesised_sub_attribute() -> None:
    assert user('userType eq "Employee" and (emails.type eq "work")') == And((
        Compare("userType", "eq", "Employee"),
        ValuePath("emails", Compare("type", "eq", "work")),
    ))


def test_rfc_value_path_after_and() -> None:
    got = user('userType eq "Employee" and emails[type eq "work" and value co "@example.com"]')
    assert got == And((
        Compare("userType", "eq", "Employee"),
        ValuePath("emails", And((
            Compare("type", "eq", "work"),
            Compare("value", "co", "@example.com"),
        ))),
    ))


def test_rfc_two_value_paths_or() -> None:
    got = user(
        'emails[type eq "work" and value co "@example.com"] or '
        'ims[type eq "xmpp" and value co "@foo.com"]'
    )
    assert got == Or((
        ValuePath("emails", And((
            Compare("type", "eq", "work"), Compare("value", "co", "@example.com")
        ))),
        ValuePath("ims", And((Compare("type", "eq", "xmpp"), Compare("value", "co", "@foo.com")))),
    ))


# Precedence: the parser gives and/or one level; we regroup so "and" binds tighter.

A, B, C = Compare("title", "pr"), Compare("userType", "pr"), Compare("nickName", "pr")


def test_and_binds_tighter_than_or() -> None:
    assert user("title pr or userType pr and nickName pr") == Or((A, And((B, C))))
    assert user("title pr and userType pr or nickName pr") == Or((And((A, B)), C))


def test_parentheses_override_precedence() -> None:
    assert user("(title pr or userType pr) and nickName pr") == And((Or((A, B)), C))
    assert user("title pr or (userType pr and nickName pr)") == Or((A, And((B, C))))


def test_same_kind_chains_flatten() -> None:
    assert user("title pr and (userType pr and nickName pr)") == And((A, B, C))
    assert user("title pr or userType pr or nickName pr") == Or((A, B, C))


def test_not_binds_to_its_group() -> None:
    assert user("not (title pr) and userType pr") == And((Not(A), B))
    assert user("not (title pr or userType pr)") == Not(Or((A, B)))


# Okta and Entra shapes.


def test_okta_username_eq() -> None:
    assert user('userName eq "dale.mohr@romaguera.uk"') == Compare(
        "userName", "eq", "dale.mohr@romaguera.uk"
    )


def test_external_id_guid() -> None:
    guid = "7a9c2b1e-4f3d-4c8a-9b6e-1d2f3a4b5c6d"
    assert user(f'externalId eq "{guid}"') == Compare("externalId", "eq", guid)


@pytest.mark.parametrize("text", [
    "externalId eq jyoung", "userName eq bjensen", "userName eq Äda", "userName eq 007",
    'userName eq "x" and displayName eq Strauß',
])
def test_unquoted_strings_are_refused(text: str) -> None:
    with pytest.raises(InvalidFilter, match="needs double quotes"):
        user(text)


def test_bare_true_false_null_and_numbers_stay_valid() -> None:
    assert user('userName eq "dale@x.com" and active eq true') == And(
        (Compare("userName", "eq", "dale@x.com"), Compare("active", "eq", True))
    )
    assert user("active eq False") == Compare("active", "eq", False)
    assert user("title eq null") == Not(Compare("title", "pr"))
    assert user("externalId eq 42") == Compare("externalId", "eq", "42")


@pytest.mark.parametrize("value", ['"\\ud800"', '"a\\udfff"', '"\\u0000"'])
def test_a_string_the_store_cannot_hold_is_refused(value: str) -> None:
    with pytest.raises(InvalidFilter, match="not storable text"):
        user(f"userName eq {value}")


def test_pascal_case_names_and_operator_case() -> None:
    assert user('UserName eq "x"') == Compare("userName", "eq", "x")
    assert user('userName EQ "x"') == Compare("userName", "eq", "x")
    assert user('NAME.GIVENNAME Eq "x" AND Title PR') == And(
        (Compare("name.givenName", "eq", "x"), Compare("title", "pr"))
    )


def test_group_display_name() -> None:
    got = parse_filter('DisplayName eq "Group One"', GROUP_KIND)
    assert got == Compare("displayName", "eq", "Group One")


def test_group_members_value() -> None:
    got = parse_filter('members.value eq "abc"', GROUP_KIND)
    assert got == ValuePath("members", Compare("value", "eq", "abc"))


def test_user_groups_value() -> None:
    assert user('groups.value eq "gid"') == ValuePath("groups", Compare("value", "eq", "gid"))


def test_entra_value_path_then_sub_attribute() -> None:
    assert user('emails[type eq "work"].value eq "a@b"') == ValuePath(
        "emails", And((Compare("type", "eq", "work"), Compare("value", "eq", "a@b")))
    )


def test_value_path_pr() -> None:
    got = user('emails[type eq "work"] pr')
    assert got == ValuePath("emails", Compare("type", "eq", "work"))


@pytest.mark.parametrize("text", ['"True"', '"true"', '"TRUE"', "true", "True"])
def test_string_booleans_for_boolean_attributes(text: str) -> None:
    assert user(f"active eq {text}") == Compare("active", "eq", True)


def test_false_boolean() -> None:
    assert user('active eq "False"') == Compare("active", "eq", False)
    assert user("active ne false") == Compare("active", "ne", False)


def test_enterprise_extension_paths() -> None:
    assert user(f'{ENT}:employeeNumber eq "1"') == Compare(f"{ENT}:employeeNumber", "eq", "1")
    assert user(f'{ENT}:manager.value eq "id"') == Compare(f"{ENT}:manager.value", "eq", "id")
    assert user(f'{ENT.upper()}:EmployeeNumber eq "1"') == Compare(
        f"{ENT}:employeeNumber", "eq", "1"
    )


def test_escaped_quote_and_unicode_escape() -> None:
    assert user(r'displayName eq "say \"hi\""') == Compare("displayName", "eq", 'say "hi"')
    assert user(r'displayName eq "caf\u00e9"') == Compare("displayName", "eq", "café")


def test_unquoted_number_for_string_attribute_stays_text() -> None:
    assert user(f"{ENT}:employeeNumber eq 123") == Compare(f"{ENT}:employeeNumber", "eq", "123")
    with pytest.raises(InvalidFilter, match="00123 in the filter needs double quotes"):
        user(f"{ENT}:employeeNumber eq 00123")  # no JSON number: leading zeros


# Complex and multi-valued attributes without a sub-attribute.


def test_multi_valued_complex_applies_to_value() -> None:
    assert user('emails eq "a@b"') == ValuePath("emails", Compare("value", "eq", "a@b"))
    assert user("emails pr") == ValuePath("emails", Compare("value", "pr"))


def test_single_complex_pr_is_or_over_sub_attributes() -> None:
    got = user("name pr")
    assert isinstance(got, Or)
    assert Compare("name.givenName", "pr") in got.items
    assert all(isinstance(i, Compare) and i.op == "pr" for i in got.items)
    manager = user(f"{ENT}:manager pr")
    assert isinstance(manager, Or)
    assert Compare(f"{ENT}:manager.value", "pr") in manager.items
    assert all("$ref" not in i.path for i in manager.items if isinstance(i, Compare))


def test_complex_without_sub_attribute_other_ops_refused() -> None:
    assert "name" in invalid('name eq "x"')
    assert "addresses" in invalid('addresses eq "x"')


def test_value_filter_on_single_valued_refused() -> None:
    invalid('name[givenName eq "x"]')
    invalid('userName[value eq "x"]')
    invalid('emails.value[type eq "work"]')


def test_nested_and_unknown_sub_attribute_in_value_filter_refused() -> None:
    assert "emails.nosuch" in invalid('emails[nosuch eq "x"]')
    invalid('emails[emails.type eq "x"]')
    invalid('emails[type eq "work"].nosuch eq "x"')
    invalid('members[value eq "x"] eq ""', kind=GROUP_KIND)


# Null.


def test_eq_null_means_absent() -> None:
    assert user("title eq null") == Not(Compare("title", "pr"))
    assert user("title ne null") == Compare("title", "pr")
    assert user("emails eq null") == Not(ValuePath("emails", Compare("value", "pr")))
    invalid("title co null")


# Typed values.


def test_datetime_offsets_and_naive() -> None:
    plus2 = timezone(timedelta(hours=2))
    got = user('meta.created ge "2024-01-02T03:04:05+02:00"')
    assert got == Compare("meta.created", "ge", datetime(2024, 1, 2, 3, 4, 5, tzinfo=plus2))
    naive = user('meta.created lt "2024-01-02T03:04:05"')
    assert naive == Compare("meta.created", "lt", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC))


@pytest.mark.parametrize(
    "text",
    [
        "userName eq true",
        'active eq "maybe"',
        "active eq 1",
        'meta.created gt "yesterday"',
        "meta.created gt 5",
        'active co "t"',
        'active gt "true"',
        'meta.created sw "2011"',
        "displayName eq false",
    ],
)
def test_type_and_operator_mismatches(text: str) -> None:
    invalid(text)


# Refusals that must never widen the search.


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('title pr and nosuch eq "x"', "nosuch"),
        ('nosuch eq "x" or title pr', "nosuch"),
        ('not (nosuch pr) and title pr', "nosuch"),
        ('name.nosuch eq "x"', "name.nosuch"),
        ('emails[type eq "work"] and urn:foo:bar:baz eq "x"', "urn:foo:bar:baz"),
        (f'{ENT}:nosuch eq "x"', "nosuch"),
        ('password eq "secret"', "password"),
        ('groups.$ref eq "x"', "$ref"),
        ('emails[type eq "work" and nosuch eq "x"]', "nosuch"),
    ],
)
def test_unknown_or_hidden_attributes_refused(text: str, named: str) -> None:
    assert named in invalid(text)


def test_group_attribute_on_users_refused() -> None:
    invalid('members.value eq "x"')
    invalid('userName eq "x"', kind=GROUP_KIND)


# Junk and abuse limits.


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "userName",
        "userName eq",
        "((",
        "))",
        'userName eq "x" and',
        'userName eq "x" or or title pr',
        '"x"',
        "eq eq eq",
        'userName eq "unterminated',
        'userName eq "bad \\q escape"',
        'userName eq "x" "y"',
        'userName regex "x"',
        "userName eq (x)",
        "not title pr",
        "title pr and",
        'userName eq "x"]',
        "emails[",
        "emails[]",
        "a.b.c eq 1",
        "userName @ 1",
        "userName eq \"x\" \x00",
        "🙂 eq 1",
        'userName eq "x" ; drop table users',
    ],
)
def test_junk_is_invalid_filter(text: str) -> None:
    invalid(text)


def test_too_long() -> None:
    assert "4096" in invalid('userName eq "' + "x" * 5000 + '"')


def test_too_many_terms() -> None:
    ok = " or ".join(f'userName eq "u{i}"' for i in range(64))
    assert isinstance(user(ok), Or) and len(user(ok).items) == 64  # type: ignore[union-attr]
    assert "64" in invalid(" or ".join(f'userName eq "u{i}"' for i in range(100)))


def test_too_deep() -> None:
    # One depth limit for filters, PATCH paths and stored documents: app.text.MAX_DEPTH.
    assert user("(" * 32 + "title pr" + ")" * 32) == Compare("title", "pr")
    assert "32" in invalid("(" * 33 + "title pr" + ")" * 33)
    invalid("(" * 2000 + "title pr" + ")" * 2000)


def test_fuzz_never_raises_anything_but_invalid_filter() -> None:
    rng = random.Random(7644)
    alphabet = ['"', "(", ")", "[", "]", " ", ".", ":", "\\", "eq", "and", "or", "not", "pr",
                "userName", "emails", "type", "value", "true", "null", "1", "-", "x", "$ref"]
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 20)))
        try:
            parse_filter(text, USER_KIND)
        except InvalidFilter:
            pass


# sortBy.


def test_sort_by_canonical_keys() -> None:
    assert parse_sort_by("UserName", USER_KIND) == "userName"
    assert parse_sort_by("name.familyName", USER_KIND) == "name.familyName"
    assert parse_sort_by("meta.created", USER_KIND) == "meta.created"
    assert parse_sort_by("emails.value", USER_KIND) == "emails.value"
    assert parse_sort_by(f"{ENT}:manager.value", USER_KIND) == f"{ENT}:manager.value"
    assert parse_sort_by("displayName", GROUP_KIND) == "displayName"


@pytest.mark.parametrize(
    "text", ["", "nosuch", "emails", "name", "password", "groups.$ref", f"{ENT}:manager", "a b"]
)
def test_sort_by_refused(text: str) -> None:
    with pytest.raises(InvalidFilter):
        parse_sort_by(text, USER_KIND)


def test_filters_of_one_shape_keep_their_own_values() -> None:
    """The parse tree is shared between filters of one shape; the values never are."""
    first = parse_filter('userName eq "alice"', USER_KIND)
    second = parse_filter('userName eq "bob"', USER_KIND)
    nested = parse_filter('userName eq "carol" and (title pr or emails co "x")', USER_KIND)
    again = parse_filter('userName eq "dave" and (title pr or emails co "y")', USER_KIND)
    assert first == Compare("userName", "eq", "alice")
    assert second == Compare("userName", "eq", "bob")
    assert nested != again
    assert "carol" in repr(nested) and "dave" in repr(again) and "carol" not in repr(again)
