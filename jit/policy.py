"""Per-IdP sign-in policy: which IdPs are trusted and what a login from each may do.

Global defaults come from ``FRONTDESK_SAML_*`` settings; any of them can be overridden for one
IdP in the TOML file::

    [saml.idp."http://www.okta.com/exk123"]
    attribute_map = "okta"            # default | okta | entra | ldap
    attributes = { "mail" = "email" } # extra name -> field pairs
    create_users = true
    groups_mode = "sync"              # off | add | sync
    create_unknown_groups = false
    default_groups = ["Everyone"]
    allow_idp_initiated = true
    response_signature_only = false   # accept a signed Response with an unsigned Assertion
    user_name_attribute = ""          # empty: userName is the NameID
    requested_authn_context = true    # a step-up names the MFA contexts it wants; false:
                                      # ForceAuthn only (Entra refuses a RequestedAuthnContext
                                      # it does not match: MFA there comes from Conditional Access)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import config
from app.provisioning import JitPolicy
from jit.mapping import resolve_map

GROUP_MODES = ("off", "add", "sync")


class PolicyError(ValueError):
    """The SAML configuration is wrong; the message names the setting."""


@dataclass(frozen=True)
class IdpPolicy:
    """Everything Frontdesk decides per IdP."""

    entity_id: str
    jit: JitPolicy
    attribute_map: dict[str, str]
    allow_idp_initiated: bool
    response_signature_only: bool
    user_name_attribute: str | None
    requested_authn_context: bool = True


def _groups_mode(value: Any) -> str:
    if value not in GROUP_MODES:
        raise PolicyError(f"groups_mode must be one of {', '.join(GROUP_MODES)}, not {value!r}")
    return str(value)


def policy_for(settings: config.Settings, entity_id: str) -> IdpPolicy:
    """Return the policy of one IdP: global settings overlaid with its TOML section."""
    saml = settings.extra.get("saml", {})
    idps: Mapping[str, Any] = saml.get("idp", {}) if isinstance(saml, Mapping) else {}
    own: Mapping[str, Any] = idps.get(entity_id, {}) if isinstance(idps, Mapping) else {}

    def pick(key: str, default: Any) -> Any:
        return own.get(key, default)

    try:
        attribute_map = resolve_map(str(pick("attribute_map", settings.saml_attribute_map)),
                                    dict(pick("attributes", {})))
    except ValueError as err:
        raise PolicyError(str(err)) from None
    jit = JitPolicy(
        create_users=bool(pick("create_users", settings.saml_create_users)),
        groups_mode=_groups_mode(pick("groups_mode", settings.saml_groups_mode)),  # type: ignore[arg-type]
        create_unknown_groups=bool(pick("create_unknown_groups",
                                        settings.saml_create_unknown_groups)),
        default_groups=tuple(pick("default_groups", settings.saml_default_groups)),
    )
    return IdpPolicy(
        entity_id=entity_id,
        jit=jit,
        attribute_map=attribute_map,
        allow_idp_initiated=bool(pick("allow_idp_initiated", settings.saml_allow_idp_initiated)),
        response_signature_only=bool(pick("response_signature_only", False)),
        user_name_attribute=str(pick("user_name_attribute", "")) or None,
        requested_authn_context=bool(pick("requested_authn_context", True)),
    )
