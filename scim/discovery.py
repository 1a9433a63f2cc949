"""Discovery documents (RFC 7644 §4), generated from the catalogue and the settings so they
describe exactly what this server does."""

from __future__ import annotations

from typing import Any

from app import catalog
from app.catalog import ResourceKind
from scim.schemas import LIST_RESPONSE

SPC_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"
KINDS = (catalog.USER_KIND, catalog.GROUP_KIND)


def service_provider_config(base: str, max_results: int, max_operations: int,
                            max_payload: int) -> dict[str, Any]:
    """Return /ServiceProviderConfig: what is supported, with the real limits."""
    return {
        "schemas": [SPC_SCHEMA],
        "documentationUri": f"{base.rsplit('/scim/v2', 1)[0]}/",
        # RFC 7643 §5 gives "patch" only "supported": the cap on operations per PATCH
        # (max_operations, FRONTDESK_SCIM_MAX_PATCH_OPERATIONS) is not advertised, since strict
        # discovery clients (scim2-models, used by scim2-tester) refuse any other attribute.
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": max_results},
        "changePassword": {"supported": False},
        "sort": {"supported": True},
        "etag": {"supported": True},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "A token from `frontdesk tokens create NAME`, sent as "
                           "'Authorization: Bearer <token>'.",
            "primary": True,
        }],
        "meta": {"resourceType": "ServiceProviderConfig",
                 "location": f"{base}/ServiceProviderConfig"},
    }


def resource_type(kind: ResourceKind, base: str) -> dict[str, Any]:
    """Return one ResourceType document."""
    return {
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": kind.name,
        "name": kind.name,
        "endpoint": kind.endpoint,
        "description": kind.core.description,
        "schema": kind.core.id,
        "schemaExtensions": [{"schema": e.id, "required": False} for e in kind.extensions],
        "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/{kind.name}"},
    }


def schema_document(schema: catalog.Schema, base: str) -> dict[str, Any]:
    """Return one Schema document; the common attributes are listed on the core schemas."""
    attributes = [a.to_scim() for a in schema.attributes]
    return {
        "schemas": [SCHEMA_SCHEMA],
        "id": schema.id,
        "name": schema.name,
        "description": schema.description,
        "attributes": attributes,
        "meta": {"resourceType": "Schema", "location": f"{base}/Schemas/{schema.id}"},
    }


def list_response(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """Wrap discovery documents in a ListResponse (Entra requires /Schemas to be one)."""
    return {
        "schemas": [LIST_RESPONSE],
        "totalResults": len(resources),
        "itemsPerPage": len(resources),
        "startIndex": 1,
        "Resources": resources,
    }
