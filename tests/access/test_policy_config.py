"""Access policies and webhooks from the TOML file: validated at start-up, naming the key."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest

import config
from app.access.policy import DEFAULT_MFA_CONTEXTS
from app.access.policy import PolicyError
from app.access.policy import load_access_config
from app.models import OutboxMessage
from app.outbox import Endpoint
from app.outbox import WebhookConfigError
from app.outbox import load_endpoints
from app.outbox import render
from app.web.factory import create_app
from config.durations import DurationError
from config.durations import format_duration
from config.durations import parse_duration

GOOD = {"groups": ["prod-db-readers"], "approvers": ["sre-leads"]}


def policies(**tables: Any) -> dict[str, Any]:
    return {"access": {"policies": tables}}


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("5m", 300), ("8h", 28800), ("90d", 7776000), (" 2h ", 7200),
    ("PT2H", 7200), ("pt1h30m", 5400), ("P1DT1S", 86401), ("3600", 3600), (45, 45),
])
def test_durations_people_write(text: Any, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "h", "2 hours", "-5s", "P", "PT", "P1M", "1.5h", True,
                                  2.5, "PT1H2", "99999d", None])
def test_durations_refused(text: Any) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)


def test_duration_round_trip() -> None:
    assert [format_duration(parse_duration(t)) for t in ("90d", "8h", "30m", "45s", "61s")] == [
        "90d", "8h", "30m", "45s", "61s"]


def test_a_valid_policy_with_defaults_and_patterns() -> None:
    cfg = load_access_config(policies(read={**GOOD, "groups": ["prod-*"], "max_duration": "4h",
                                            "default_duration": "30m"}))
    policy = cfg.policy_for("PROD-DB-Readers")  # names are case-insensitive; patterns match
    assert policy is not None and policy.name == "read"
    assert (policy.max_duration, policy.default_duration, policy.approvals,
            policy.reason_required) == (timedelta(hours=4), timedelta(minutes=30), 1, True)
    assert cfg.policy_for("staging-db") is None
    assert len(policy.digest) == 64
    changed = load_access_config(policies(read={**GOOD, "groups": ["prod-*"],
                                                "max_duration": "5h"}))
    assert changed.policies[0].digest != policy.digest  # the hash says which text decided


def test_non_ascii_group_names_match_case_insensitively() -> None:
    cfg = load_access_config(policies(p={**GOOD, "groups": ["Straße-Ädmins"]}))
    assert cfg.policy_for("STRASSE-ädmins") is not None  # casefold: ß == ss, Ä == ä
    assert cfg.policy_for("strasse-admins") is None


@pytest.mark.parametrize(("table", "message"), [
    ({**GOOD, "max_duraton": "1h"},
     "access.policies.p.max_duraton: unknown key (did you mean 'max_duration'?)"),
    ({**GOOD, "max_duration": "soon"},
     "access.policies.p.max_duration: 'soon' is not a duration"),
    ({**GOOD, "default_duration": "9h"},
     "access.policies.p.default_duration: longer than max_duration"),
    ({"groups": ["x"]}, "access.policies.p.approvers: name the groups whose members approve"),
    ({"approvers": ["x"]}, "access.policies.p.groups: required"),
    ({**GOOD, "ticket_pattern": "INC-("},
     "access.policies.p.ticket_pattern: not a regular expression"),
    ({**GOOD, "approvals": 0}, "access.policies.p.approvals: a whole number from 1 to 10"),
    ({**GOOD, "reason": "maybe"}, "access.policies.p.reason: 'required' or 'optional'"),
    ({**GOOD, "require_mfa": "yes"}, "access.policies.p.require_mfa: expected true or false"),
    ({**GOOD, "groups": "prod"}, "access.policies.p.groups: expected a list of names"),
])
def test_policy_mistakes_name_the_key(table: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError) as err:
        load_access_config(policies(p=table))
    assert str(err.value).startswith(message)


def test_unknown_access_section_keys_are_named() -> None:
    with pytest.raises(PolicyError) as err:
        load_access_config({"access": {"policy": {}}})
    assert str(err.value) == "access.policy: unknown key (did you mean 'policies'?)"


def test_mfa_contexts_per_idp_and_default() -> None:
    cfg = load_access_config({"access": {"policies": {}, "mfa": {
        "https://idp.example.com": ["urn:example:mfa"]}}})
    assert cfg.is_mfa("https://idp.example.com", ("urn:example:mfa",))
    assert not cfg.is_mfa("https://idp.example.com", (DEFAULT_MFA_CONTEXTS[0],))
    assert load_access_config({}).is_mfa("https://other", (DEFAULT_MFA_CONTEXTS[1],))
    assert not load_access_config({}).is_mfa("https://other", (
        "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",))


def test_the_app_does_not_start_with_a_bad_policy(settings: config.Settings) -> None:
    bad = dataclasses.replace(settings, extra=policies(p={**GOOD, "max_duration": "-1h"}))
    with pytest.raises(config.SettingsError) as err:
        create_app(bad)
    assert str(err.value).startswith("access.policies.p.max_duration: '-1h' is not a duration")


@pytest.mark.parametrize(("table", "message"), [
    ({"url": "ftp://x", "secret": "s" * 16}, "webhooks.w.url: an http:// or https:// URL"),
    ({"url": "https://x"}, "webhooks.w.secret: at least 16 characters"),
    ({"url": "https://x", "secret": "s" * 16, "format": "xml"}, "webhooks.w.format: one of"),
    ({"url": "https://x", "secret": "s" * 16, "retries": 3}, "webhooks.w.retries: unknown key"),
])
def test_webhook_mistakes_name_the_key(table: dict[str, Any], message: str) -> None:
    with pytest.raises(WebhookConfigError) as err:
        load_endpoints({"webhooks": {"w": table}})
    assert str(err.value).startswith(message)


def test_slack_and_json_bodies() -> None:
    message = OutboxMessage(event_id="e1", topic="access.grant.ended",
                            payload={"user": "äda", "summary": "äda's access ended"},
                            created_at=parse_and_now())
    slack = Endpoint("s", "https://hooks.example.com", "s" * 16, format="slack")
    plain = Endpoint("j", "https://hooks.example.com", "s" * 16)
    assert render(slack, message) == b'{"text": "[Frontdesk] \\u00e4da\'s access ended"}'
    assert b'"topic": "access.grant.ended"' in render(plain, message)
    assert plain.wants("access.grant.ended") and not Endpoint(
        "x", "https://x", "s" * 16, topics=("access.request.*",)).wants("access.grant.ended")


def parse_and_now() -> Any:
    from datetime import UTC
    from datetime import datetime

    return datetime(2026, 3, 2, tzinfo=UTC)
