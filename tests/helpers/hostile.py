"""Hypothesis strategies for hostile SCIM input: text the store cannot hold, numbers it cannot
keep, nesting past the limit, names that overflow once folded, broken filters and PATCH paths.

Each strategy also draws ordinary values, so that the same strategy yields requests that are
accepted (the fuzz test's positive control).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

EXT = "urn:example:params:scim:schemas:extension:acme:2.0:User"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
# Replaced by a fresh number in every request sent: a derandomized run draws the same names often,
# and a 409 for a taken name would hide what the value itself gets.
UNIQUE = "UNIQUE-NAME"

# The pieces attackers and broken IdPs send: lone surrogates, NUL, C0/C1 controls, CSI, bidi
# overrides, characters that grow when case-folded, quotes and brackets of the filter grammar.
NASTY = ["\ud800", "\udfff", "\x00", "\x07", "\x1b[31m", "\x9b", "\u202e", "\u2028", "ß",
         "ﬃ", "İ", "Äda", "Strauß", '"', "\\", "[", "]", "(", ")", " ", "'", "=", "%", "_"]
NUMBERS = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", str(2**63), str(-(2**63) - 1),
           "1e16", "0", "-1", "1.5", str(2**63 - 1), "1e-7", "0" * 30 + "1"]
ATTRS = ["userName", "displayName", "externalId", "title", "nickName", "name.givenName",
         "emails", "emails.value", "active", "meta.created", f"{ENT}:employeeNumber",
         f"{ENT}:manager", f"{EXT}:note", "nosuch", "members.value", "id"]


@dataclass(frozen=True)
class Raw:
    """A JSON literal written as it is (NaN, 1e400, ...): json.dumps cannot produce them all."""

    text: str


@dataclass
class Request:
    """One request: method, path (query string included), body text and extra headers."""

    method: str
    path: str
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def dumps(value: Any) -> str:
    """JSON with Raw literals inlined and every string ASCII-escaped (a lone surrogate leaves as
    its \\ud800 escape, as a client in another language would send it)."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


def text(clean: bool = False) -> st.SearchStrategy[str]:
    """Short strings; unless ``clean``, built from the hostile pieces too."""
    plain = st.text(st.characters(codec="utf-8", categories=("L", "N")), min_size=1,
                    max_size=12)
    if clean:
        return plain
    pieces = st.lists(st.one_of(plain, st.sampled_from(NASTY)), min_size=1, max_size=4)
    return st.one_of(plain, pieces.map("".join), st.sampled_from(LONG))


LONG = ["ß" * 200, "ﬃ" * 100, "a" * 257, "Ä" * 256, "ß" * 128, "x" * 5000]


def deep(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = [value]
    return value


# One hostile value per request, so that it alone decides the answer: JSON literals no store
# keeps, text no store holds, nesting around the limit, and ordinary values as controls.
HOSTILE: list[Any] = (
    [Raw(n) for n in NUMBERS] + NASTY + LONG
    + ["ok\ud800", "ctl\x07\x1b[31m@x", "a\x00b"]
    + [deep(n) for n in (28, 29, 30, 31, 32, 40, 100)]
    + [{"k\ud800": 1}, {"": None}, [], {}, None, True, "Äda", 7, 1.5]
)
# Where the value goes in a User body (keys joined by "/"; "*" replaces the whole body).
USER_SLOTS = ["userName", "displayName", "externalId", "title", "nickName", "name/givenName",
              "name", "emails", "active", f"{ENT}/employeeNumber", f"{ENT}/manager",
              f"{EXT}/note", f"{EXT}/deep/er", "nosuch", "*"]
PATCH_PATHS = ["title", "displayName", "userName", "externalId", "name.givenName", "emails",
               'emails[type eq "work"].value', f"{EXT}:note", f"{ENT}:employeeNumber",
               f"{ENT}:manager", "active", None]
FILTERS = ["userName eq {}", "title co {}", "emails[value sw {}]", "displayName gt {}",
           f"{ENT}:employeeNumber eq {{}}", "active eq {}", "(((userName eq {})))",
           "userName eq {} and not (title pr)", "meta.lastModified gt {}", "{} eq 1"]


def _put(body: dict[str, Any], slot: str, value: Any) -> Any:
    """``body`` with ``value`` at ``slot``, a path of keys joined by ``/``."""
    if slot == "*":
        return value
    keys = slot.split("/")
    for key in reversed(keys[1:]):
        value = {key: value}
    return {**body, keys[0]: value}


def user_body(clean: bool = False) -> st.SearchStrategy[Any]:
    """A User body with a unique userName (``UNIQUE`` is replaced when sent) and, unless
    ``clean``, one hostile value in one slot."""
    names = text(True).map(lambda t: f"{t}.{UNIQUE}@example.com")
    base = st.builds(lambda n, t: {"userName": n, "title": t, "name": {"givenName": t},
                                   ENT: {"employeeNumber": t}}, names, text(True))
    if clean:
        return base
    return st.builds(_put, base, st.sampled_from(USER_SLOTS), st.sampled_from(HOSTILE))


def patch_body(clean: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    """A PatchOp with one to three operations; hostile ones take a hostile value or path."""
    if clean:
        operation = st.fixed_dictionaries({
            "op": st.sampled_from(["add", "replace"]),
            "path": st.sampled_from(["title", "displayName", f"{ENT}:employeeNumber"]),
            "value": text(True)})
    else:
        paths = st.one_of(st.sampled_from(PATCH_PATHS),
                          st.builds(lambda f, v: f"emails[{f.format(v)}].value",
                                    st.sampled_from(FILTERS[:3]), st.sampled_from(NASTY)))
        operation = st.builds(
            lambda op, path, value: {"op": op, **({"path": path} if path else {}),
                                     "value": value},
            st.sampled_from(["add", "replace", "remove", "Replace", "bogus"]), paths,
            st.one_of(st.sampled_from(HOSTILE), user_body()))
    return st.lists(operation, min_size=1, max_size=3).map(
        lambda ops: {"schemas": [PATCH_OP], "Operations": ops})


def filter_text() -> st.SearchStrategy[str]:
    """A filter template with one hostile literal: quoted, unquoted, or as sent."""
    literal = st.one_of(st.sampled_from(NASTY + LONG).map(json.dumps), st.sampled_from(NASTY),
                        st.sampled_from(NUMBERS + ["true", "null", "bjensen", '"\\ud800"']))
    deep_filter = st.integers(30, 34).map(lambda n: "(" * n + 'userName eq "a"' + ")" * n)
    return st.one_of(st.builds(str.format, st.sampled_from(FILTERS), literal), deep_filter,
                     text())


def request(user_id: str) -> st.SearchStrategy[Request]:
    """Any hostile request against the users and groups of the test (``user_id`` exists)."""
    hostile_header = st.fixed_dictionaries({}, optional={
        "If-Match": st.one_of(text(), st.just('W/"1"')),
        "If-None-Match": text(), "Content-Type": st.sampled_from(
            ["application/scim+json", "text/plain", "application/json; charset=latin1"]),
        "X-Request-Id": text(), "Accept": text()}).map(
        lambda h: {k: _header(v) for k, v in h.items()})
    users = f"/scim/v2/Users/{user_id}"
    search = st.builds(lambda key, f: {"schemas": [SEARCH], key: f},
                       st.sampled_from(["filter", "sortBy", "attributes"]),
                       st.one_of(filter_text(), st.sampled_from(HOSTILE)))
    return st.one_of(
        st.builds(Request, st.just("POST"), st.just("/scim/v2/Users"), user_body().map(dumps),
                  hostile_header),
        st.builds(Request, st.just("PUT"), st.just(users), user_body().map(dumps),
                  hostile_header),
        st.builds(Request, st.just("PATCH"), st.just(users), patch_body().map(dumps),
                  hostile_header),
        st.builds(Request, st.just("POST"), st.just("/scim/v2/Groups"), st.builds(
            lambda v, slot: dumps({"displayName": "G", slot: v}), st.sampled_from(HOSTILE),
            st.sampled_from(["displayName", "externalId", "members"]))),
        st.builds(Request, st.just("GET"), filter_text().map(
            lambda f: "/scim/v2/Users?filter=" + _quote(f))),
        st.builds(Request, st.just("GET"), st.sampled_from(NASTY + LONG).map(
            lambda v: "/scim/v2/Users?sortBy=" + _quote(v))),
        st.builds(Request, st.just("POST"), st.just("/scim/v2/Users/.search"),
                  search.map(dumps)),
        st.builds(Request, st.just("GET"), text().map(lambda t: "/scim/v2/Users/" + _quote(t))),
    )


def _quote(text: str) -> str:
    """Percent-encode, a lone surrogate as the bytes a careless client would send."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def _header(text: str) -> str:
    """A header value as HTTP carries it: Latin-1, one line."""
    return text.encode("utf-8", "replace").decode("latin-1").replace("\r", "").replace("\n", "")


def known_failures(user_id: str) -> list[Request]:
    """The requests issue 10's fuzz found reaching a 500 or poisoning data, run every time."""
    users = f"/scim/v2/Users/{user_id}"
    name = f"known.{UNIQUE}@example.com"

    def user(extra: str) -> str:
        return f'{{"userName": "{name}", "{EXT}": {{"note": {extra}}}}}'

    patch = ('{"schemas": ["' + PATCH_OP + '"], "Operations": [{"op": "replace", '
             '"path": "%s", "value": %s}]}')
    return [
        Request("POST", "/scim/v2/Users", user('"\\ud800"')),
        Request("POST", "/scim/v2/Users", user("NaN")),
        Request("POST", "/scim/v2/Users", user("Infinity")),
        Request("POST", "/scim/v2/Users", user("1e400")),
        Request("POST", "/scim/v2/Users", user(str(2**64))),
        Request("POST", "/scim/v2/Users", user("[" * 500 + "1" + "]" * 500)),
        Request("POST", "/scim/v2/Users", dumps({"userName": "ß" * 200})),
        Request("POST", "/scim/v2/Groups", dumps({"displayName": "ﬃ" * 100})),
        Request("POST", "/scim/v2/Users", dumps({"userName": "ctl\u0007\u001b[31m@x.com"})),
        Request("PATCH", users, patch % ("title\\ud800", '"x"')),
        Request("PATCH", users, patch % (f"{EXT}:note", "NaN")),
        Request("GET", "/scim/v2/Users?filter=" + _quote('userName eq "\\ud800"')),
        Request("GET", "/scim/v2/Users?filter=" + _quote("userName eq bjensen")),
        Request("POST", "/scim/v2/Users/.search",
                '{"schemas": ["' + SEARCH + '"], "sortBy": "userName\\ud800"}'),
    ]
