"""The attributes a user and a group have: RFC 7643 §4 and §8.7.1, as data.

One catalogue serves every door: the SCIM layer validates, patches and filters against it and
publishes it at ``/Schemas``; the repository compiles filters and sorts against it; SAML mapping
writes into the same attribute names. An attribute that is not in here cannot be stored,
filtered on or sorted by, so what ``/Schemas`` promises is what the server does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from functools import cached_property
from typing import Literal

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
# Frontdesk's own, read-only: what the service knows about a user that no IdP writes.
LIFECYCLE_SCHEMA = "urn:frontdesk:params:scim:schemas:extension:lifecycle:2.0:User"

AttrType = Literal["string", "boolean", "decimal", "integer", "dateTime", "reference", "complex"]
Mutability = Literal["readOnly", "readWrite", "immutable", "writeOnly"]
Returned = Literal["always", "never", "default", "request"]
Uniqueness = Literal["none", "server", "global"]


@dataclass(frozen=True)
class Attribute:
    """One attribute definition with the characteristics of RFC 7643 §2.2 and §7."""

    name: str
    type: AttrType = "string"
    multi_valued: bool = False
    description: str = ""
    required: bool = False
    case_exact: bool = False
    mutability: Mutability = "readWrite"
    returned: Returned = "default"
    uniqueness: Uniqueness = "none"
    canonical_values: tuple[str, ...] = ()
    reference_types: tuple[str, ...] = ()
    sub_attributes: tuple[Attribute, ...] = ()

    def sub(self, name: str) -> Attribute | None:
        """Return the sub-attribute called ``name`` (case-insensitively), or None."""
        folded = name.casefold()
        for attr in self.sub_attributes:
            if attr.name.casefold() == folded:
                return attr
        return None

    def to_scim(self) -> dict[str, object]:
        """Render this definition as RFC 7643 §7 attribute JSON."""
        doc: dict[str, object] = {
            "name": self.name,
            "type": self.type,
            "multiValued": self.multi_valued,
            "description": self.description,
            "required": self.required,
            "caseExact": self.case_exact,
            "mutability": self.mutability,
            "returned": self.returned,
            "uniqueness": self.uniqueness,
        }
        if self.canonical_values:
            doc["canonicalValues"] = list(self.canonical_values)
        if self.reference_types:
            doc["referenceTypes"] = list(self.reference_types)
        if self.sub_attributes:
            doc["subAttributes"] = [a.to_scim() for a in self.sub_attributes]
        return doc


@dataclass(frozen=True)
class Schema:
    """A schema: its URN, a name, and its top-level attributes."""

    id: str
    name: str
    description: str
    attributes: tuple[Attribute, ...] = field(default_factory=tuple)

    def attr(self, name: str) -> Attribute | None:
        """Return the top-level attribute called ``name`` (case-insensitively), or None."""
        return self._by_folded_name.get(name.casefold())

    @cached_property
    def _by_folded_name(self) -> dict[str, Attribute]:
        # Looked up for every attribute of every rendered resource: a dict, not a scan.
        return {attr.name.casefold(): attr for attr in self.attributes}


def _s(name: str, description: str = "", **kw: object) -> Attribute:
    return Attribute(name=name, description=description, **kw)  # type: ignore[arg-type]


def _multi(
    name: str,
    description: str,
    *,
    types: tuple[str, ...] = ("work", "home", "other"),
    value_type: AttrType = "string",
    reference_types: tuple[str, ...] = (),
    mutability: Mutability = "readWrite",
) -> Attribute:
    """Build the usual value/display/type/primary multi-valued attribute of RFC 7643 §2.4."""
    return Attribute(
        name=name,
        type="complex",
        multi_valued=True,
        description=description,
        mutability=mutability,
        sub_attributes=(
            _s("value", f"The value of the {name} entry.", type=value_type,
               reference_types=reference_types, mutability=mutability),
            _s("display", "A human-readable name, primarily used for display purposes.",
               mutability=mutability),
            _s("type", "A label indicating the attribute's function.", canonical_values=types,
               mutability=mutability),
            _s("primary", "Whether this is the primary value of the attribute.",
               type="boolean", mutability=mutability),
        ),
    )


_NAME = Attribute(
    name="name",
    type="complex",
    description="The components of the user's real name.",
    sub_attributes=(
        _s("formatted", "The full name, formatted for display."),
        _s("familyName", "The family name of the user."),
        _s("givenName", "The given name of the user."),
        _s("middleName", "The middle name(s) of the user."),
        _s("honorificPrefix", "The honorific prefix(es) of the user."),
        _s("honorificSuffix", "The honorific suffix(es) of the user."),
    ),
)

_ADDRESSES = Attribute(
    name="addresses",
    type="complex",
    multi_valued=True,
    description="A physical mailing address for this user.",
    sub_attributes=(
        _s("formatted", "The full mailing address, formatted for display."),
        _s("streetAddress", "The full street address component."),
        _s("locality", "The city or locality component."),
        _s("region", "The state or region component."),
        _s("postalCode", "The zip code or postal code component."),
        _s("country", "The country name component."),
        _s("type", "A label indicating the attribute's function.",
           canonical_values=("work", "home", "other")),
        _s("primary", "Whether this is the primary address.", type="boolean"),
    ),
)

_USER_GROUPS = Attribute(
    name="groups",
    type="complex",
    multi_valued=True,
    description="The groups the user belongs to, directly.",
    mutability="readOnly",
    sub_attributes=(
        _s("value", "The identifier of the group.", mutability="readOnly"),
        _s("$ref", "The URI of the group.", type="reference", reference_types=("Group",),
           mutability="readOnly"),
        _s("display", "The displayName of the group.", mutability="readOnly"),
        _s("type", "How the membership is held.", canonical_values=("direct",),
           mutability="readOnly"),
    ),
)

USER = Schema(
    id=USER_SCHEMA,
    name="User",
    description="User Account",
    attributes=(
        _s("userName", "Unique identifier for the user, used to sign in.", required=True,
           uniqueness="server"),
        _NAME,
        _s("displayName", "The name of the user, suitable for display."),
        _s("nickName", "The casual way to address the user."),
        _s("profileUrl", "A URL to the user's online profile.", type="reference",
           reference_types=("external",)),
        _s("title", "The user's title, such as 'Vice President'."),
        _s("userType", "The relationship between the organization and the user."),
        _s("preferredLanguage", "The user's preferred written or spoken language."),
        _s("locale", "The user's default location, for localizing."),
        _s("timezone", "The user's time zone in the Olson database format."),
        _s("active", "The user's administrative status.", type="boolean"),
        _s("password", "The user's cleartext password; accepted and never stored or returned.",
           mutability="writeOnly", returned="never"),
        _multi("emails", "Email addresses for the user.", types=("work", "home", "other")),
        _multi("phoneNumbers", "Phone numbers for the user.",
               types=("work", "home", "mobile", "fax", "pager", "other")),
        _multi("ims", "Instant messaging addresses for the user.",
               types=("aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo")),
        _multi("photos", "URLs of photos of the user.", types=("photo", "thumbnail"),
               value_type="reference", reference_types=("external",)),
        _ADDRESSES,
        _USER_GROUPS,
        _multi("entitlements", "A list of entitlements for the user.", types=()),
        _multi("roles", "A list of roles for the user.", types=()),
        _multi("x509Certificates", "A list of certificates issued to the user.", types=()),
    ),
)

ENTERPRISE_USER = Schema(
    id=ENTERPRISE_SCHEMA,
    name="EnterpriseUser",
    description="Enterprise User",
    attributes=(
        _s("employeeNumber", "A string identifier, typically numeric or alphanumeric."),
        _s("costCenter", "The name of a cost center."),
        _s("organization", "The name of an organization."),
        _s("division", "The name of a division."),
        _s("department", "The name of a department."),
        Attribute(
            name="manager",
            type="complex",
            description="The user's manager.",
            sub_attributes=(
                _s("value", "The id of the SCIM resource representing the user's manager."),
                _s("$ref", "The URI of the manager's resource.", type="reference",
                   reference_types=("User",)),
                _s("displayName", "The displayName of the user's manager.",
                   mutability="readOnly"),
            ),
        ),
    ),
)

GROUP = Schema(
    id=GROUP_SCHEMA,
    name="Group",
    description="Group",
    attributes=(
        _s("displayName", "A human-readable name for the group.", required=True,
           uniqueness="server"),
        Attribute(
            name="members",
            type="complex",
            multi_valued=True,
            description="A list of members of the group.",
            sub_attributes=(
                _s("value", "Identifier of the member of this group.", mutability="immutable"),
                _s("$ref", "The URI of the member resource.", type="reference",
                   reference_types=("User", "Group"), mutability="immutable"),
                # Not in RFC 7643 §8.7.1; computed, so returned only when asked for.
                _s("display", "The display name of the member.", mutability="readOnly",
                   returned="request"),
                _s("type", "The type of the member.", canonical_values=("User", "Group"),
                   mutability="immutable"),
            ),
        ),
    ),
)

# Multi-valued user attributes indexed one element a row in ``user_values`` (so that
# ``emails[type eq "work"].value eq ...`` is an indexed EXISTS).
INDEXED_MULTI = ("emails", "phoneNumbers", "ims", "photos", "addresses", "entitlements", "roles",
                 "x509Certificates")

# Attributes every resource has (RFC 7643 §3.1). They are not part of any schema's list.
COMMON = (
    _s("id", "Unique identifier for the resource, assigned by the service provider.",
       case_exact=True, mutability="readOnly", returned="always", uniqueness="server"),
    _s("externalId", "An identifier for the resource as defined by the provisioning client.",
       case_exact=True),
    Attribute(
        name="meta",
        type="complex",
        description="Resource metadata.",
        mutability="readOnly",
        sub_attributes=(
            _s("resourceType", "The name of the resource type.", case_exact=True,
               mutability="readOnly"),
            _s("created", "When the resource was added.", type="dateTime", mutability="readOnly"),
            _s("lastModified", "When the resource was last changed.", type="dateTime",
               mutability="readOnly"),
            _s("location", "The URI of the resource.", type="reference", case_exact=True,
               mutability="readOnly"),
            _s("version", "The version of the resource (weak ETag).", case_exact=True,
               mutability="readOnly"),
        ),
    ),
)


@dataclass(frozen=True)
class ResourceKind:
    """A resource type: its core schema and the extensions it may carry."""

    name: str
    endpoint: str
    core: Schema
    extensions: tuple[Schema, ...] = ()
    # Served and published at /Schemas, never written: ignored on input (``scim.schemas``,
    # ``scim.patch``). Not in the ResourceType's schemaExtensions: clients take those as
    # writable and would PATCH the whole object (scim2-tester does).
    read_only_extensions: tuple[Schema, ...] = ()

    def schemas(self) -> Iterator[Schema]:
        """Yield the core schema, then every extension."""
        yield self.core
        yield from self.extensions

    def extension(self, urn: str) -> Schema | None:
        """Return the extension whose URN is ``urn`` (case-insensitively), or None."""
        folded = urn.casefold()
        for schema in self.extensions:
            if schema.id.casefold() == folded:
                return schema
        return None

    def top(self, name: str) -> Attribute | None:
        """Return a core or common top-level attribute by name (case-insensitively)."""
        found = self.core.attr(name)
        if found is not None:
            return found
        folded = name.casefold()
        for attr in COMMON:
            if attr.name.casefold() == folded:
                return attr
        return None


LIFECYCLE_USER = Schema(
    id=LIFECYCLE_SCHEMA,
    name="FrontdeskLifecycleUser",
    description="What Frontdesk records about a user's own use of it (read-only)",
    attributes=(
        _s("lastActivityAt", "The user's last own activity: a successful sign-in, a personal "
           "token's use, an access request or approval (never an IdP's write).",
           type="dateTime", mutability="readOnly"),
        _s("lastActivityKind", "What that activity was.", mutability="readOnly",
           canonical_values=("sign_in", "token", "access_request", "access_approval")),
    ),
)
USER_KIND = ResourceKind("User", "/Users", USER, (ENTERPRISE_USER,), (LIFECYCLE_USER,))
GROUP_KIND = ResourceKind("Group", "/Groups", GROUP)
ALL_SCHEMAS = (USER, ENTERPRISE_USER, LIFECYCLE_USER, GROUP)


@dataclass(frozen=True)
class Path:
    """A resolved attribute path: which schema, which attribute, which sub-attribute.

    ``schema`` is None for the common attributes (id, externalId, meta).
    """

    schema: str | None
    attribute: Attribute
    sub: Attribute | None = None

    @property
    def key(self) -> str:
        """Return the canonical dotted name, URN-prefixed for extension attributes."""
        base = self.attribute.name if self.sub is None else (
            f"{self.attribute.name}.{self.sub.name}"
        )
        if self.schema is not None and self.schema != USER_SCHEMA and self.schema != GROUP_SCHEMA:
            return f"{self.schema}:{base}"
        return base

    @property
    def leaf(self) -> Attribute:
        """Return the attribute the path ends at."""
        return self.sub if self.sub is not None else self.attribute


def resolve(kind: ResourceKind, path: str) -> Path | None:
    """Resolve ``path`` ("name.givenName", "urn:...:User:manager.value", "UserName") or None.

    Attribute names are case-insensitive (RFC 7643 §2.1); a URN prefix selects the schema.
    """
    schema_id: str | None = None
    rest = path
    lowered = path.casefold()
    for schema in kind.schemas():
        prefix = schema.id.casefold() + ":"
        if lowered.startswith(prefix):
            schema_id, rest = schema.id, path[len(prefix):]
            break
    if schema_id is None and lowered.startswith("urn:"):
        return None
    head, _, tail = rest.partition(".")
    if schema_id is None or schema_id == kind.core.id:
        attr = kind.top(head)
        if attr is None:
            return None
        owner: str | None = kind.core.id if kind.core.attr(head) is not None else None
    else:
        ext = kind.extension(schema_id)
        attr = ext.attr(head) if ext is not None else None
        if attr is None:
            return None
        owner = schema_id
    if not tail:
        return Path(owner, attr)
    sub = attr.sub(tail)
    if sub is None:
        return None
    return Path(owner, attr, sub)
