"""Wire ⇄ document: marshmallow schemas generated from the catalogue, plus the response shape.

Loading (POST, PUT, and the result of PATCH) turns a SCIM body into the canonical stored
document: attribute names matched case-insensitively (RFC 7643 §2.1; Microsoft sends
``UserName``), read-only attributes ignored (RFC 7643 §2.2), the Okta and Entra shapes of
``scim.quirks`` accepted, unknown extension URNs and the sub-attributes an IdP adds to a known
complex attribute kept verbatim, and everything else unknown or mistyped refused — a known
attribute is never silently dropped. This is the one type check of a
PATCH too: the engine (``scim.patch``) applies operations structurally and hands the patched
document to ``validate_document``. Dumping builds the response with ``meta`` and applies
``attributes``/``excludedAttributes`` (RFC 7644 §3.9).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any

from marshmallow import EXCLUDE
from marshmallow import INCLUDE
from marshmallow import RAISE
from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import pre_load
from marshmallow import validate

from app import catalog
from app.catalog import Attribute
from app.catalog import ResourceKind
from scim import quirks
from scim.errors import InvalidSyntax
from scim.errors import InvalidValue

LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


class ScimString(fields.String):
    """A string; with ``numbers_as_text``, numbers are accepted as their text (IdPs map numeric
    employee ids in POST and PUT bodies; a PATCH has always refused them)."""

    def __init__(self, *, numbers_as_text: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.numbers_as_text = numbers_as_text

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if self.numbers_as_text and isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        return super()._deserialize(value, attr, data, **kwargs)


class ScimBoolean(fields.Boolean):
    """A boolean, or its text (quirks.string_boolean)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        value = quirks.string_boolean(value)
        if not isinstance(value, bool):
            raise ValidationError("must be true or false")
        return value


def _canonical_keys(attrs: tuple[Attribute, ...], data: Mapping[str, Any]) -> dict[str, Any]:
    """Rename keys to their canonical case; unknown keys are kept for the schema to refuse."""
    by_fold = {a.name.casefold(): a.name for a in attrs}
    out: dict[str, Any] = {}
    for key, value in data.items():
        out[by_fold.get(key.casefold(), key) if isinstance(key, str) else key] = value
    return out


def _writable(attr: Attribute) -> bool:
    return attr.mutability != "readOnly"


def _complex_schema(attr: Attribute, numbers_as_text: bool) -> type[Schema]:
    class _Complex(Schema):
        class Meta:
            # Sub-attributes an IdP adds to a known complex attribute are kept as sent, as
            # unknown extension URNs are: refusing them fails every create from its template.
            unknown = INCLUDE

        @pre_load
        def canonical(self, data: Any, **_: Any) -> Any:
            if not isinstance(data, Mapping):
                raise ValidationError("must be an object")
            try:
                data = quirks.complex_value(attr, data, "")
            except InvalidValue as err:
                raise ValidationError(err.detail) from None
            # Read-only sub-attributes (manager.displayName, members.display) are ignored
            # on input, as are nulls, which mean "unassigned" (RFC 7643 §2.5).
            return {
                k: v for k, v in data.items()
                if v is not None and not (
                    (sub := attr.sub(k)) is not None and not _writable(sub)
                )
            }

    for sub in attr.sub_attributes:
        if _writable(sub):
            _Complex._declared_fields[sub.name] = _field(sub, numbers_as_text)
    return _Complex


def _scalar(attr: Attribute, numbers_as_text: bool) -> fields.Field[Any]:
    if attr.type == "boolean":
        return ScimBoolean()
    if attr.type == "integer":
        return fields.Integer(strict=True)
    if attr.type == "decimal":
        return fields.Float()
    if attr.type == "dateTime":
        return fields.AwareDateTime(default_timezone=None)
    return ScimString(numbers_as_text=numbers_as_text, validate=validate.Length(max=4096))


class _ComplexValue(fields.Nested):
    """A single-valued complex attribute, in Entra's shapes too: a JSON string, a one-element
    list, a bare id (quirks)."""

    def __init__(self, definition: Attribute, nested: type[Schema]) -> None:
        super().__init__(nested)
        self.definition = definition

    def _deserialize(self, value: Any, attr: str | None, data: Any, partial: Any = None,
                     **kwargs: Any) -> Any:
        value = quirks.json_value(value, self.definition.name)
        value = quirks.bare_id(quirks.single_element(value), self.definition)
        return super()._deserialize(value, attr, data, partial, **kwargs)


class _MultiValue(fields.List[Any]):
    """A multi-valued attribute: a JSON string is read (quirks.json_value); one bare value
    becomes a one-element list."""

    def __init__(self, definition: Attribute, inner: fields.Field[Any], **kwargs: Any) -> None:
        super().__init__(inner, **kwargs)
        self.definition = definition

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        value = quirks.json_value(value, self.definition.name)
        if not isinstance(value, list):
            value = [value]
        result = super()._deserialize(value, attr, data, **kwargs)
        primaries = [v for v in result if isinstance(v, dict) and v.get("primary") is True]
        if len(primaries) > 1:
            raise ValidationError("only one value may be primary")
        return result


def _field(attr: Attribute, numbers_as_text: bool) -> fields.Field[Any]:
    if attr.type == "complex":
        nested = _complex_schema(attr, numbers_as_text)
        if attr.multi_valued:
            # A group's members are as many as the group has (bounded by the body size), so a
            # PUT of what a GET returned works for large groups too.
            limit = None if attr.name == "members" else validate.Length(max=1000)
            return _MultiValue(attr, fields.Nested(nested), validate=limit)
        return _ComplexValue(attr, nested)
    if attr.multi_valued:
        return _MultiValue(attr, _scalar(attr, numbers_as_text),
                           validate=validate.Length(max=1000))
    return _scalar(attr, numbers_as_text)


def _extension_schema(ext: catalog.Schema, numbers_as_text: bool) -> type[Schema]:
    class _Extension(Schema):
        class Meta:
            unknown = RAISE

        @pre_load
        def canonical(self, data: Any, **_: Any) -> Any:
            if not isinstance(data, Mapping):
                raise ValidationError("must be an object")
            data = _canonical_keys(ext.attributes, data)
            return {k: v for k, v in data.items() if v is not None}

    for attr in ext.attributes:
        if _writable(attr):
            _Extension._declared_fields[attr.name] = _field(attr, numbers_as_text)
    return _Extension


IGNORED_ON_INPUT = {"id", "meta", "schemas"}


def _resource_schema(kind: ResourceKind, numbers_as_text: bool) -> Schema:
    core_attrs = kind.core.attributes + catalog.COMMON

    class _Resource(Schema):
        class Meta:
            unknown = RAISE

        @pre_load
        def canonical(self, data: Any, **_: Any) -> Any:
            if not isinstance(data, Mapping):
                raise ValidationError("the body must be a JSON object")
            out: dict[str, Any] = {}
            for key, value in data.items():
                if not isinstance(key, str) or key.casefold() in IGNORED_ON_INPUT:
                    continue
                ext = kind.extension(key)
                if ext is not None:
                    out[ext.id] = value
                    continue
                attr = kind.top(key)
                if attr is None:
                    if value is not None:
                        out[key] = value  # refused below as unknown
                    continue
                if attr.name in IGNORED_ON_INPUT or not _writable(attr) or value is None:
                    continue
                if attr.name == "password":
                    continue  # writeOnly, returned never: Frontdesk signs in through SSO only
                out[attr.name] = value
            return out

    for attr in core_attrs:
        if _writable(attr) and attr.name not in IGNORED_ON_INPUT:
            _Resource._declared_fields[attr.name] = _field(attr, numbers_as_text)
    for ext in kind.extensions:
        # Loaded under a dot-free attribute name: marshmallow reads dots in an attribute name
        # as nesting, which would split "...:enterprise:2.0:User" at "2.0". _load renames back.
        _Resource._declared_fields[ext.id] = fields.Nested(
            _extension_schema(ext, numbers_as_text), data_key=ext.id,
            attribute=_ext_attribute(ext))
    return _Resource()


def _ext_attribute(ext: catalog.Schema) -> str:
    return "extension:" + ext.id.replace(".", "_")


_USER = _resource_schema(catalog.USER_KIND, numbers_as_text=True)
_GROUP = _resource_schema(catalog.GROUP_KIND, numbers_as_text=True)
# A patched document: as a PUT body, but a number is no string (PATCH has always refused one).
_PATCHED_USER = _resource_schema(catalog.USER_KIND, numbers_as_text=False)
_PATCHED_GROUP = _resource_schema(catalog.GROUP_KIND, numbers_as_text=False)


def _first_error(messages: Any, path: str = "") -> str:
    if isinstance(messages, dict):
        for key, value in messages.items():
            if key == "_schema":  # raised by a pre_load: the message is about ``path`` itself
                return _first_error(value, path)
            sub = f"{path}.{key}" if path and not isinstance(key, int) else (
                f"{path}[{key}]" if isinstance(key, int) else str(key))
            return _first_error(value, sub)
    if isinstance(messages, list) and messages:
        return _first_error(messages[0], path)
    text = str(messages)
    if text == "Unknown field.":
        return f"unknown attribute '{path}'"
    return f"'{path}': {text}" if path else text


def _read_only_extension(kind: ResourceKind, key: Any) -> bool:
    """Whether ``key`` is a read-only extension of ``kind`` (served, never stored: a PUT of
    what a GET returned works)."""
    return isinstance(key, str) and any(
        key.casefold() == ext.id.casefold() for ext in kind.read_only_extensions)


def _load(kind: ResourceKind, schema: Schema, body: Any) -> dict[str, Any]:
    if not isinstance(body, Mapping):
        raise InvalidSyntax("the body must be a JSON object")
    body = {k: v for k, v in body.items() if not _read_only_extension(kind, k)}
    extras = {k: v for k, v in body.items()
              if isinstance(k, str) and quirks.foreign_urn(kind, k, paths=False)}
    core_inline = {k: v for k, v in body.items() if k not in extras}
    # "urn:...:core:2.0:User": {...} (the core schema URN as a key) is the same as inline.
    for key in list(core_inline):
        if isinstance(key, str) and key.casefold() == kind.core.id.casefold():
            nested = core_inline.pop(key)
            if isinstance(nested, Mapping):
                core_inline = {**nested, **core_inline}
    try:
        doc: dict[str, Any] = schema.load(core_inline)
    except ValidationError as err:
        message = _first_error(err.messages)
        if "unknown attribute" in message:
            raise InvalidSyntax(message) from None
        raise InvalidValue(message) from None
    for ext in kind.extensions:
        if _ext_attribute(ext) in doc:
            doc[ext.id] = _assigned(doc.pop(_ext_attribute(ext)))
    doc = _assigned(doc)
    for key, value in extras.items():
        if isinstance(value, Mapping) and value:
            doc[key] = dict(value)
    for ext in kind.extensions:
        if ext.id in doc and not doc[ext.id]:
            del doc[ext.id]
    return doc


def _assigned(doc: dict[str, Any]) -> dict[str, Any]:
    """Drop complex values left empty (a OneLogin manager with a blank id): unassigned."""
    return {k: v for k, v in doc.items() if v != {}}


def load_user(body: Any, schema: Schema = _USER) -> dict[str, Any]:
    """Validate a User body and return the canonical document; raise a ScimError."""
    doc = _load(catalog.USER_KIND, schema, body)
    if not isinstance(doc.get("userName"), str) or not doc["userName"].strip():
        raise InvalidValue("'userName' is required")
    return doc


def load_group(body: Any, schema: Schema = _GROUP) -> tuple[dict[str, Any], tuple[str, ...] | None]:
    """Validate a Group body; return the document and the member ids (None: not given)."""
    doc = _load(catalog.GROUP_KIND, schema, body)
    if not isinstance(doc.get("displayName"), str) or not doc["displayName"].strip():
        raise InvalidValue("'displayName' is required")
    if "members" not in doc:
        return doc, None
    members = doc.pop("members") or []
    ids: list[str] = []
    for member in members:
        value = member.get("value") if isinstance(member, dict) else None
        if not isinstance(value, str) or not value:
            raise InvalidValue("every member needs a 'value' (the member's id)")
        ids.append(value)
    return doc, tuple(dict.fromkeys(ids))


def validate_document(kind: ResourceKind, doc: dict[str, Any]) -> dict[str, Any]:
    """Validate a document produced by PATCH as a PUT body would be, but for numbers: a number
    sent for a string attribute is refused, not read as its text."""
    if kind is catalog.USER_KIND:
        return load_user(doc, _PATCHED_USER)
    loaded, _ = load_group(doc, _PATCHED_GROUP)
    return loaded


def validate_values(attr: Attribute, values: list[Any]) -> list[Any]:
    """Validate values for the multi-valued ``attr`` as ``validate_document`` would (a PATCH
    remove names the elements to take out by their values)."""
    try:
        loaded: list[Any] = _patched_field(attr).deserialize(values)
    except ValidationError as err:
        raise InvalidValue(_first_error(err.messages, attr.name)) from None
    return loaded


@cache
def _patched_field(attr: Attribute) -> fields.Field[Any]:
    return _field(attr, numbers_as_text=False)


# --- responses ---------------------------------------------------------------------------


def iso(value: datetime) -> str:
    """Format a datetime as RFC 3339 with a Z."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def etag(version: int) -> str:
    """Return the weak ETag of a version."""
    return f'W/"{version}"'


class SearchRequestSchema(Schema):
    """RFC 7644 §3.4.3 body of POST /.search."""

    class Meta:
        unknown = EXCLUDE

    schemas = fields.List(fields.String(), required=True)
    attributes = fields.List(fields.String(validate=validate.Length(max=256)),
                             validate=validate.Length(max=100))
    excludedAttributes = fields.List(fields.String(validate=validate.Length(max=256)),  # noqa: N815
                                     validate=validate.Length(max=100))
    filter = fields.String(validate=validate.Length(max=4096))
    sortBy = fields.String(validate=validate.Length(max=256))  # noqa: N815
    sortOrder = fields.String(validate=validate.OneOf(["ascending", "descending"]))  # noqa: N815
    startIndex = fields.Integer(strict=False)  # noqa: N815
    count = fields.Integer(strict=False)

    @pre_load
    def canonical(self, data: Any, **_: Any) -> Any:
        if not isinstance(data, Mapping):
            raise ValidationError("the body must be a JSON object")
        names = {n.casefold(): n for n in self.fields}
        return {names.get(k.casefold(), k) if isinstance(k, str) else k: v
                for k, v in data.items()}


def load_search_request(body: Any) -> dict[str, Any]:
    """Validate a SearchRequest body."""
    try:
        data: dict[str, Any] = SearchRequestSchema().load(body)
    except ValidationError as err:
        raise InvalidValue(_first_error(err.messages)) from None
    if SEARCH_REQUEST not in data["schemas"]:
        raise InvalidValue(f"'schemas' must contain {SEARCH_REQUEST}")
    return data
