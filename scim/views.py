"""SCIM endpoints (RFC 7644 §3): parse the request, call the service layer, render the result."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from typing import TypeVar

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import g
from flask import request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.exceptions import RequestHeaderFieldsTooLarge
from werkzeug.exceptions import RequestURITooLarge

from app import services
from app.audit.events import Actor
from app.catalog import GROUP_KIND
from app.catalog import USER_KIND
from app.catalog import ResourceKind
from app.query import Criteria
from app.query import Page
from app.query import Sort
from app.repository.accounts import GroupRepository
from app.repository.accounts import UserRepository
from app.repository.search import query_groups
from app.repository.search import query_users
from app.text import MAX_DEPTH
from app.text import has_nul
from app.text import json_problem
from app.uow import UnitOfWork
from app.uow import run
from app.web import metrics
from app.web.callers import bearer
from app.web.callers import token_actor
from app.web.context import get_db
from app.web.context import get_settings
from app.web.context import request_connection
from app.web.context import request_session
from app.web.errors import register_renderer
from app.web.plumbing import request_info
from scim import discovery
from scim.errors import InvalidFilter
from scim.errors import InvalidSyntax
from scim.errors import InvalidValue
from scim.errors import ScimError
from scim.filters import parse_filter
from scim.filters import parse_sort_by
from scim.patch import PatchOperation
from scim.patch import apply_patch
from scim.patch import parse_patch_request
from scim.patch import split_member_operations
from scim.render import Projection
from scim.render import group_resource
from scim.render import projection
from scim.render import user_resource
from scim.responses import render_error
from scim.responses import scim_response
from scim.schemas import LIST_RESPONSE
from scim.schemas import etag
from scim.schemas import load_group
from scim.schemas import load_search_request
from scim.schemas import load_user

bp = Blueprint("scim", __name__, url_prefix="/scim/v2")
register_renderer(bp, render_error)
T = TypeVar("T")
ACCEPTED_TYPES = {"application/scim+json", "application/json"}
ETAG_RE = re.compile(r'^\s*(?:W/)?"?(\d{1,18})"?\s*$')


# --- plumbing ----------------------------------------------------------------------------


def base_url() -> str:
    return get_settings(current_app).base_url.rstrip("/") + "/scim/v2"


# The request line and header field sizes gunicorn allowed by default: it now allows about twice
# as much (config/gunicorn_conf.py), so that what lies between is refused here, as SCIM JSON,
# rather than by gunicorn as an HTML page. What exceeds gunicorn's own limits still gets its page.
MAX_REQUEST_LINE = 4094
MAX_HEADER_FIELD = 8190


@bp.before_request
def refuse_oversized_head() -> None:
    """A request line or header field over the limit: 414 or 431 (RFC 6585), before the token
    is checked, as gunicorn would have answered."""
    environ = request.environ
    uri = environ.get("RAW_URI") or environ.get("REQUEST_URI") or request.full_path
    line = len(environ.get("REQUEST_METHOD", "")) + len(uri) + len(
        environ.get("SERVER_PROTOCOL", "HTTP/1.1")) + 2
    if line > MAX_REQUEST_LINE:
        raise RequestURITooLarge(f"the request line is longer than {MAX_REQUEST_LINE} bytes; "
                                 "send a long filter in the body of a POST .search")
    for name, value in request.headers.items():
        if len(name) + 2 + len(value) > MAX_HEADER_FIELD:
            raise RequestHeaderFieldsTooLarge(
                f"the header {name[:64]} is longer than {MAX_HEADER_FIELD} bytes")


@bp.before_request
def authenticate() -> None:
    """Every SCIM endpoint needs a bearer token with the ``scim`` scope."""
    info = bearer(current_app, request.headers.get("Authorization"), "scim")
    g.actor = token_actor(info)
    g.actor_label = info.name


@bp.before_request
def refuse_nul() -> None:
    """A NUL in the path or the query can match nothing that is stored; say so (400)."""
    if has_nul(request.path) or any(has_nul(k) or has_nul(v)
                                    for k, v in request.args.items(multi=True)):
        raise InvalidValue("the URL may not contain NUL (%00) characters")


def actor() -> Actor:
    result: Actor = g.actor
    return result


def json_body() -> Any:
    """Parse the request body as JSON, accepting SCIM's and plain JSON media types.

    Everything the store could not keep exactly (app.text.json_problem: NUL, lone surrogates,
    non-finite or out-of-range numbers, more than MAX_DEPTH levels) is refused here, before
    anything is read or written, naming where it is.
    """
    mimetype = request.mimetype
    if mimetype and mimetype not in ACCEPTED_TYPES:
        raise ScimError(f"unsupported media type '{mimetype}'; send application/scim+json",
                        status=415)
    raw = _read_capped()
    if not raw.strip():
        raise InvalidSyntax("the request body is empty")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidSyntax("the request body is not valid JSON") from None
    except RecursionError:
        raise InvalidValue(f"the request body nests deeper than {MAX_DEPTH} levels") from None
    problem = json_problem(body)
    if problem is not None:
        raise InvalidValue(f"'{problem[0]}' {problem[1]}")
    return body


def _read_capped() -> bytes:
    """Read the body, at most FRONTDESK_SCIM_MAX_BODY_BYTES of it: a longer one is a 413,
    chunked (no Content-Length) or not; it is never cut short and read as if it were whole."""
    cap = get_settings(current_app).scim_max_body_bytes
    if request.content_length is not None:
        if request.content_length > cap:
            raise RequestEntityTooLarge()
        return request.get_data(cache=False)
    if "wsgi.input_terminated" not in request.environ:
        return request.get_data(cache=False)  # Werkzeug reads no unterminated stream
    # Chunked: read straight from the server's stream, one byte past the cap to know.
    stream = request.environ["wsgi.input"]
    chunks: list[bytes] = []
    size = 0
    while size <= cap:
        chunk = stream.read(min(65536, cap + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > cap:
        raise RequestEntityTooLarge()
    return b"".join(chunks)


def if_match() -> int | None:
    """Return the version an ``If-Match`` header demands, or None for none/``*``."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    match = ETAG_RE.match(header.split(",")[0])
    if match is None:
        # An ETag we never issued can match no version.
        return -1
    return int(match.group(1))


def not_modified(version: int) -> bool:
    header = request.headers.get("If-None-Match")
    if not header:
        return False
    tags = {t.strip() for t in header.split(",")}
    return "*" in tags or etag(version) in tags or f'"{version}"' in tags


@contextmanager
def reads() -> Iterator[Any]:
    """This request's read session: the one the token check used (closed at teardown)."""
    yield request_session(current_app)


def write(work: Callable[[UnitOfWork], T]) -> T:
    """Run a change in its own unit of work (retried when the database broke a deadlock)."""
    return run(get_db(current_app), request_info(), work)


def _args() -> dict[str, str]:
    """The query parameters by casefolded name, first value wins (Microsoft varies the case)."""
    args: dict[str, str] = {}
    for key, value in request.args.items():
        args.setdefault(key.casefold(), value)
    return args


def _csv(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def _int(name: str, value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidValue(f"'{name}' must be an integer") from None


def _projection(kind: ResourceKind, params: dict[str, Any]) -> Projection:
    return projection(kind, params.get("attributes"), params.get("excludedAttributes"))


def query_params() -> dict[str, Any]:
    """Read list parameters from the query string into SearchRequest form."""
    args = _args()
    params: dict[str, Any] = {}
    for name in ("filter", "sortBy", "sortOrder", "startIndex", "count"):
        value = args.get(name.casefold())
        if value is not None:
            params[name] = value
    for name in ("attributes", "excludedAttributes"):
        params[name] = _csv(args.get(name.casefold()))
    return params


def single_params() -> dict[str, Any]:
    args = _args()
    return {name: _csv(args.get(name.casefold())) for name in ("attributes", "excludedAttributes")}


# --- listing -----------------------------------------------------------------------------


def _criteria(kind: ResourceKind, params: dict[str, Any]) -> Criteria | None:
    text = params.get("filter")
    if text is None or not str(text).strip():
        return None
    return parse_filter(str(text), kind)


def _page(params: dict[str, Any]) -> Page:
    settings = get_settings(current_app)
    start = max(_int("startIndex", params.get("startIndex"), 1), 1)
    count = _int("count", params.get("count"), settings.scim_default_page_size)
    return Page(start, min(max(count, 0), settings.scim_max_page_size))


def _sort(kind: ResourceKind, params: dict[str, Any]) -> Sort | None:
    sort_by = params.get("sortBy")
    if not sort_by:
        return None
    order = str(params.get("sortOrder") or "ascending").lower()
    if order not in {"ascending", "descending"}:
        raise InvalidValue("'sortOrder' must be 'ascending' or 'descending'")
    return Sort(parse_sort_by(str(sort_by), kind), order == "descending")


def _search(kind: ResourceKind, params: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    """Run one search; return (totalResults, rendered page)."""
    criteria = _criteria(kind, params)
    sort = _sort(kind, params)
    page = _page(params)
    shape = _projection(kind, params)
    base = base_url()
    conn = request_connection(current_app)
    if kind is USER_KIND:
        found = query_users(conn, criteria, sort, page, with_groups=shape.wants("groups"))
        groups = found.groups
        return found.total, [
            shape.apply(user_resource(u, base, groups[u.id] if groups is not None else None))
            for u in found.rows
        ]
    total, group_rows = query_groups(conn, criteria, sort, page)
    if not shape.wants("members"):
        return total, [shape.apply(group_resource(gr, base, None)) for gr in group_rows]
    with reads() as session:
        members = GroupRepository(session).members([g.id for g in group_rows])
    return total, [shape.apply(group_resource(gr, base, members[gr.id])) for gr in group_rows]


def list_body(total: int, resources: list[dict[str, Any]], start: int) -> dict[str, Any]:
    return {
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "itemsPerPage": len(resources),
        "startIndex": start,
        "Resources": resources,
    }


def _list(kind: ResourceKind, params: dict[str, Any]) -> Response:
    total, resources = _search(kind, params)
    return scim_response(list_body(total, resources, _page(params).start))


@bp.get("/Users")
def list_users() -> Response:
    return _list(USER_KIND, query_params())


@bp.get("/Groups")
def list_groups() -> Response:
    return _list(GROUP_KIND, query_params())


@bp.post("/Users/.search")
def search_users() -> Response:
    return _list(USER_KIND, load_search_request(json_body()))


@bp.post("/Groups/.search")
def search_groups() -> Response:
    return _list(GROUP_KIND, load_search_request(json_body()))


@bp.post("/.search")
def search_all() -> Response:
    """Search users and groups together (RFC 7644 §3.4.3): users first, then groups."""
    params = load_search_request(json_body())
    page = _page(params)
    results: list[tuple[int, list[dict[str, Any]]]] = []
    errors: list[ScimError] = []
    skipped = page.start - 1
    wanted = page.count
    for kind in (USER_KIND, GROUP_KIND):
        try:
            # Count this kind, then take what is left of the page from it.
            total, _ = _search(kind, {**params, "count": 0})
        except InvalidFilter as err:  # the filter names attributes of the other kind only
            errors.append(err)
            continue
        take_from = min(skipped, total)
        skipped -= take_from
        rows: list[dict[str, Any]] = []
        if wanted and total - take_from > 0:
            _, rows = _search(kind, {**params, "startIndex": take_from + 1, "count": wanted})
            wanted -= len(rows)
        results.append((total, rows))
    if len(errors) == 2:
        raise errors[0]
    total = sum(t for t, _ in results)
    resources = [r for _, rows in results for r in rows]
    return scim_response(list_body(total, resources, page.start))


# --- users -------------------------------------------------------------------------------


def _render_user(user_id: str, params: dict[str, Any], status: int = 200) -> Response:
    shape = _projection(USER_KIND, params)
    with reads() as session:
        users = UserRepository(session)
        user = users.get(user_id)
        if status == 200 and request.method == "GET" and not_modified(user.version):
            return scim_response(None, 304, {"ETag": etag(user.version)})
        groups = users.groups_of([user.id])[user.id] if shape.wants("groups") else None
        body = shape.apply(user_resource(user, base_url(), groups))
    headers = {"ETag": etag(user.version)}
    if status == 201:
        headers["Location"] = f"{base_url()}/Users/{user.id}"
    return scim_response(body, status, headers)


@bp.get("/Users/<user_id>")
def get_user(user_id: str) -> Response:
    return _render_user(user_id, single_params())


@bp.post("/Users")
def create_user() -> Response:
    doc = load_user(json_body())
    user = write(lambda work: services.create_user(work, doc, actor=actor()))
    return _render_user(user.id, single_params(), 201)


@bp.put("/Users/<user_id>")
def replace_user(user_id: str) -> Response:
    doc = load_user(json_body())

    def replace(current: dict[str, Any]) -> dict[str, Any]:
        # A PUT without "active" keeps the current state: omitting it must never
        # re-activate someone who was deactivated.
        if "active" not in doc and "active" in current:
            return {**doc, "active": current["active"]}
        return doc

    write(lambda work: services.update_user(work, user_id, replace, actor=actor(),
                                            expected_version=if_match()))
    return _render_user(user_id, single_params())


def patch_operations() -> list[PatchOperation]:
    """The request's PatchOp operations, at most FRONTDESK_SCIM_MAX_PATCH_OPERATIONS of them."""
    return parse_patch_request(json_body(), get_settings(current_app).scim_max_patch_operations)


@bp.patch("/Users/<user_id>")
def patch_user(user_id: str) -> Response:
    operations = patch_operations()

    def change(current: dict[str, Any]) -> dict[str, Any]:
        return apply_patch(current, operations, USER_KIND)

    write(lambda work: services.update_user(work, user_id, change, actor=actor(),
                                            expected_version=if_match()))
    return _render_user(user_id, single_params())


@bp.delete("/Users/<user_id>")
def delete_user(user_id: str) -> Response:
    write(lambda work: services.delete_user(work, user_id, actor=actor(),
                                            expected_version=if_match()))
    return scim_response(None, 204)


# --- groups ------------------------------------------------------------------------------


def _render_group(group_id: str, params: dict[str, Any], status: int = 200) -> Response:
    shape = _projection(GROUP_KIND, params)
    with reads() as session:
        groups = GroupRepository(session)
        group = groups.get(group_id)
        if status == 200 and request.method == "GET" and not_modified(group.version):
            return scim_response(None, 304, {"ETag": etag(group.version)})
        members = groups.members([group.id])[group.id] if shape.wants("members") else None
        body = shape.apply(group_resource(group, base_url(), members))
    headers = {"ETag": etag(group.version)}
    if status == 201:
        headers["Location"] = f"{base_url()}/Groups/{group.id}"
    return scim_response(body, status, headers)


def _deltas(ids: tuple[str, ...] | None, action: str = "replace") -> list[services.MemberDelta]:
    if ids is None:
        return []
    return [services.MemberDelta("replace" if action == "replace" else "add", ids)]


@bp.get("/Groups/<group_id>")
def get_group(group_id: str) -> Response:
    return _render_group(group_id, single_params())


@bp.post("/Groups")
def create_group() -> Response:
    doc, member_ids = load_group(json_body())
    group = write(lambda work: services.create_group(work, doc, member_ids or (),
                                                     actor=actor()))
    return _render_group(group.id, single_params(), 201)


@bp.put("/Groups/<group_id>")
def replace_group(group_id: str) -> Response:
    doc, member_ids = load_group(json_body())
    # A PUT without "members" leaves the members alone; with it, they become exactly that.
    write(lambda work: services.update_group(work, group_id, lambda _current: doc,
                                             _deltas(member_ids), actor=actor(),
                                             expected_version=if_match()))
    return _render_group(group_id, single_params())


@bp.patch("/Groups/<group_id>")
def patch_group(group_id: str) -> Response:
    operations = patch_operations()
    other, member_changes = split_member_operations(operations)
    deltas = [services.MemberDelta(c.action, c.ids, c.remove_all) for c in member_changes]
    change: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    if other:
        def change(current: dict[str, Any]) -> dict[str, Any]:
            return apply_patch(current, other, GROUP_KIND)

    write(lambda work: services.update_group(work, group_id, change, deltas, actor=actor(),
                                             expected_version=if_match()))
    params = single_params()
    if params["attributes"] or params["excludedAttributes"]:
        return _render_group(group_id, params)
    # RFC 7644 §3.5.2: a PATCH may answer 204; it keeps a membership change from rendering a
    # large group. Ask with ?attributes=... to get the resource back.
    with reads() as session:
        version = GroupRepository(session).get(group_id).version
    return scim_response(None, 204, {"ETag": etag(version)})


@bp.delete("/Groups/<group_id>")
def delete_group(group_id: str) -> Response:
    write(lambda work: services.delete_group(work, group_id, actor=actor(),
                                             expected_version=if_match()))
    return scim_response(None, 204)


# --- discovery ---------------------------------------------------------------------------


@bp.get("/ServiceProviderConfig")
def service_provider_config() -> Response:
    settings = get_settings(current_app)
    return scim_response(discovery.service_provider_config(
        base_url(), settings.scim_max_page_size, settings.scim_max_patch_operations,
        settings.scim_max_body_bytes))


@bp.get("/ResourceTypes")
def resource_types() -> Response:
    return scim_response(discovery.list_response(
        [discovery.resource_type(k, base_url()) for k in discovery.KINDS]))


@bp.get("/ResourceTypes/<name>")
def resource_type(name: str) -> Response:
    for kind in discovery.KINDS:
        if kind.name == name:
            return scim_response(discovery.resource_type(kind, base_url()))
    raise ScimError(f"no resource type '{name}'", status=404)


@bp.get("/Schemas")
def schemas() -> Response:
    from app.catalog import ALL_SCHEMAS

    return scim_response(discovery.list_response(
        [discovery.schema_document(s, base_url()) for s in ALL_SCHEMAS]))


@bp.get("/Schemas/<path:schema_id>")
def schema(schema_id: str) -> Response:
    from app.catalog import ALL_SCHEMAS

    for item in ALL_SCHEMAS:
        if item.id == schema_id:
            return scim_response(discovery.schema_document(item, base_url()))
    raise ScimError(f"no schema '{schema_id}'", status=404)


# --- metrics -----------------------------------------------------------------------------

# Each endpoint's SCIM operation (resource, kind), for frontdesk_scim_operations_total;
# discovery endpoints are not counted.
OPERATIONS = {
    "scim.list_users": ("users", "list"), "scim.search_users": ("users", "list"),
    "scim.get_user": ("users", "get"), "scim.create_user": ("users", "create"),
    "scim.replace_user": ("users", "replace"), "scim.patch_user": ("users", "patch"),
    "scim.delete_user": ("users", "delete"),
    "scim.list_groups": ("groups", "list"), "scim.search_groups": ("groups", "list"),
    "scim.get_group": ("groups", "get"), "scim.create_group": ("groups", "create"),
    "scim.replace_group": ("groups", "replace"), "scim.patch_group": ("groups", "patch"),
    "scim.delete_group": ("groups", "delete"),
    "scim.search_all": ("all", "list"),
}


@bp.after_request
def count_operation(response: Response) -> Response:
    metrics.scim_operation(OPERATIONS.get(request.endpoint or ""), response.status_code)
    return response
