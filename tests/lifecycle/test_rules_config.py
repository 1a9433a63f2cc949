"""Dormant rules are validated when the app starts: a bad rule stops the start, naming the key."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

import config
from app.lifecycle.rules import DormantRule
from app.web.context import get_db
from tests.helpers.lifecycle import RULE
from tests.helpers.lifecycle import with_rules


@pytest.mark.parametrize(("rule", "message"), [
    ({**RULE, "inactive_for": "90 days"},
     "lifecycle.dormant.default.inactive_for: '90 days' is not a duration"),
    ({**RULE, "inactive_for": "0s"}, "lifecycle.dormant.default.inactive_for: must be longer"),
    ({k: v for k, v in RULE.items() if k != "inactive_for"},
     "lifecycle.dormant.default.inactive_for: required"),
    ({**RULE, "warn_before": "90d"},
     "lifecycle.dormant.default.warn_before: must be shorter than inactive_for"),
    ({**RULE, "warn_befor": "7d"},
     "lifecycle.dormant.default.warn_befor: unknown key (did you mean 'warn_before'?)"),
    ({**RULE, "action": "delete"}, "lifecycle.dormant.default.action: one of deactivate, "
                                   "suspend, auto; got 'delete'"),
    ({**RULE, "exclude_groups": "admins"},
     "lifecycle.dormant.default.exclude_groups: expected a list of group names"),
    ({**RULE, "exclude_admins": "yes"},
     "lifecycle.dormant.default.exclude_admins: expected true or false"),
    ({**RULE, "new_account_grace": "-1d"},
     "lifecycle.dormant.default.new_account_grace: '-1d' is not a duration"),
])
def test_a_bad_rule_stops_the_start_with_the_key_at_fault(
        make_app: Callable[..., Flask], settings: config.Settings, rule: dict[str, Any],
        message: str) -> None:
    make_app()  # the test's first app empties the database
    with pytest.raises(config.SettingsError) as caught:
        make_app(with_rules(settings, {"default": rule}))
    assert str(caught.value).startswith(message), str(caught.value)


def test_a_bad_rule_name_and_section(make_app: Callable[..., Flask],
                                     settings: config.Settings) -> None:
    make_app()
    with pytest.raises(config.SettingsError, match=r"^lifecycle.dormant.bad name: a rule name"):
        make_app(with_rules(settings, {"bad name": RULE}))
    broken = dict(settings.extra)
    broken["lifecycle"] = {"dormnat": {}}
    with pytest.raises(config.SettingsError,
                       match=r"^lifecycle.dormnat: unknown key \(did you mean 'dormant'\?\)"):
        make_app(settings, extra=broken)


def test_good_rules_load_in_file_order_with_seconds_durations(
        make_app: Callable[..., Flask], settings: config.Settings) -> None:
    app = make_app(with_rules(settings, {
        "contractors": {"inactive_for": "30s", "warn_before": "0s", "action": "suspend",
                        "scope_groups": ["contractors"], "exclude_admins": False},
        "default": RULE}))
    rules = get_db(app).lifecycle.dormant
    assert rules == (
        DormantRule("contractors", timedelta(seconds=30), timedelta(0), timedelta(days=7), (),
                    ("contractors",), True, False, "suspend"),
        DormantRule("default", timedelta(days=90), timedelta(days=7), timedelta(days=7),
                    ("service-accounts",), (), True, True, "auto"))
    assert [rules[1].action_for(s) for s in ("scim", "jit", "local")] == [
        "suspend", "deactivate", "deactivate"]


def test_rules_come_from_the_toml_file(tmp_path: Path) -> None:
    """The issue's own example, read from FRONTDESK_CONFIG: [lifecycle] is a section the settings
    know (unknown sections stop the start)."""
    toml = tmp_path / "frontdesk.toml"
    toml.write_text('[lifecycle.dormant.default]\ninactive_for = "90d"\nwarn_before = "7d"\n'
                    'new_account_grace = "7d"\nexclude_groups = ["service-accounts"]\n'
                    "scope_groups = []\n")
    loaded = config.load({"FRONTDESK_CONFIG": str(toml)})
    assert loaded.extra["lifecycle"]["dormant"]["default"]["inactive_for"] == "90d"
    toml.write_text('[lifecyle.dormant.default]\ninactive_for = "90d"\n')
    with pytest.raises(config.SettingsError, match=r"unknown key 'lifecyle' \(did you mean "
                                                   r"lifecycle\?\)"):
        config.load({"FRONTDESK_CONFIG": str(toml)})
