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
    pieces = st.lists(st.one_of(plain, st.sampled_from(NASTY)), min_size=1, max_size=6)
    long = st.sampled_from(["ß" * 200, "ﬃ" * 100, "a" * 257, "Ä" * 256, "x" * 5000])
    return st.one_of(plain, pieces.map("".join), long)


def nested(leaf: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A leaf wrapped in 0-40 lists (the limit is 32 levels)."""
    def wrap(pair: tuple[Any, int]) -> Any:
        value, depth = pair
        for _ in range(depth):
            value = [value]
        return value
    return st.tuples(leaf, st.integers(0, 40)).map(wrap)


def value(clean: bool = False) -> st.SearchStrategy[Any]:
    """A JSON value: text, a number (non-finite and huge ones unless ``clean``), a boolean,
    null, or a nested one."""
    numbers = st.integers(-1000, 1000) if clean else st.sampled_from(NUMBERS).map(Raw)
    leaf = st.one_of(text(clean), numbers, st.booleans())
    if clean:
        return leaf
    return st.one_of(leaf, st.none(), nested(leaf), st.dictionaries(text(), leaf, max_size=3))


def user_body(clean: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    """A User body with a unique-enough userName and a few attributes, hostile unless clean."""
    names = text(clean).map(lambda t: f"{t}@example.com")
    extras = st.fixed_dictionaries({}, optional={
        "displayName": text(clean), "externalId": text(clean), "title": value(clean),
        "name": st.fixed_dictionaries({"givenName": text(clean)}),
        EXT: st.fixed_dictionaries({"note": value(clean)}),
        ENT: st.fixed_dictionaries({"employeeNumber": text(clean)}),
    })
    return st.tuples(names, extras).map(lambda p: {"userName": p[0], **p[1]})


def patch_body(clean: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    op = st.sampled_from(["add", "replace"]) if clean else st.sampled_from(
        ["add", "replace", "remove", "Replace", "bogus"])
    path = st.sampled_from(["title", "displayName", f"{ENT}:employeeNumber", "nickName"]) if clean else st.one_of(
        st.sampled_from(ATTRS), filter_text().map(lambda f: f"emails[{f}].value"), text())
    operation = st.fixed_dictionaries({"op": op, "path": path,
                                       "value": text(clean) if clean else value()})
    return st.lists(operation, min_size=1, max_size=3).map(
        lambda ops: {"schemas": [PATCH_OP], "Operations": ops})


def filter_text() -> st.SearchStrategy[str]:
    """Filters: well-formed ones with hostile values, unquoted words, unbalanced or deep ones."""
    attr = st.sampled_from(ATTRS + ["type", "value", "primary"])
    op = st.sampled_from(["eq", "ne", "co", "sw", "gt", "pr", "EQ", "xx"])
    literal = st.one_of(text().map(lambda t: json.dumps(t)), text(), st.sampled_from(NUMBERS),
                        st.sampled_from(["true", "null", "False"]))
    compare = st.tuples(attr, op, literal).map(" ".join)
    deep = st.tuples(compare, st.integers(0, 40)).map(lambda p: "(" * p[1] + p[0] + ")" * p[1])
    joined = st.lists(st.one_of(compare, deep), min_size=1, max_size=3).map(" and ".join)
    return st.one_of(joined, text())


def request(user_id: str) -> st.SearchStrategy[Request]:
    """Any hostile request against the users and groups of the test (``user_id`` exists)."""
    hostile_header = st.fixed_dictionaries({}, optional={
        "If-Match": st.one_of(text(), st.just('W/"1"')),
        "If-None-Match": text(), "Content-Type": st.sampled_from(
            ["application/scim+json", "text/plain", "application/json; charset=latin1"]),
        "X-Request-Id": text(), "Accept": text()}).map(
        lambda h: {k: _header(v) for k, v in h.items()})
    users = f"/scim/v2/Users/{user_id}"
    return st.one_of(
        st.builds(Request, st.just("POST"), st.just("/scim/v2/Users"), user_body().map(dumps),
                  hostile_header),
        st.builds(Request, st.just("PUT"), st.just(users), user_body().map(dumps)),
        st.builds(Request, st.just("PATCH"), st.just(users), patch_body().map(dumps),
                  hostile_header),
        st.builds(Request, st.just("POST"), st.just("/scim/v2/Groups"),
                  st.fixed_dictionaries({"displayName": text(),
                                         "externalId": text()}).map(dumps)),
        st.builds(Request, st.just("GET"), filter_text().map(
            lambda f: "/scim/v2/Users?filter=" + _quote(f))),
        st.builds(Request, st.just("POST"), st.just("/scim/v2/Users/.search"), st.fixed_dictionaries(
            {"schemas": st.just([SEARCH])},
            optional={"filter": filter_text(), "sortBy": st.one_of(st.sampled_from(ATTRS),
                                                                   text())}).map(dumps)),
        st.builds(Request, st.just("GET"), text().map(lambda t: "/scim/v2/Users/" + _quote(t))),
    )


def _quote(text: str) -> str:
    """Percent-encode, a lone surrogate as the bytes a careless client would send."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def _header(text: str) -> str:
    """A header value as HTTP carries it: Latin-1, one line."""
    return text.encode("utf-8", "replace").decode("latin-1").replace("\r", "").replace("\n", "")
