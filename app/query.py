"""Neutral search criteria: what to find, with no SQL and no SCIM syntax in it.

The SCIM layer builds these from a filter string; the repository compiles them to SQL. Paths are
canonical catalogue keys (``app.catalog.Path.key``): ``userName``, ``name.givenName``,
``emails.value``, ``meta.created``,
``urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Operator = Literal["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr"]
Value = str | bool | int | float | datetime | None


@dataclass(frozen=True)
class Compare:
    """``path op value``; for ``pr`` the value is ignored.

    Inside a ``ValuePath`` the path is the sub-attribute name alone (``type``, ``value``).
    """

    path: str
    op: Operator
    value: Value = None


@dataclass(frozen=True)
class And:
    """Every item matches."""

    items: tuple[Criteria, ...]


@dataclass(frozen=True)
class Or:
    """At least one item matches."""

    items: tuple[Criteria, ...]


@dataclass(frozen=True)
class Not:
    """The item does not match."""

    item: Criteria


@dataclass(frozen=True)
class ValuePath:
    """One element of the multi-valued attribute ``path`` matches ``where`` as a whole.

    ``emails[type eq "work" and value co "@example.com"]`` is
    ``ValuePath("emails", And((Compare("type", "eq", "work"), Compare("value", "co", "@..."))))``.
    """

    path: str
    where: Criteria


Criteria = Compare | And | Or | Not | ValuePath


@dataclass(frozen=True)
class Sort:
    """Sort by a canonical path; ascending unless ``descending``."""

    path: str
    descending: bool = False


@dataclass(frozen=True)
class Page:
    """A 1-based page: ``start`` is the SCIM startIndex, ``count`` the page size."""

    start: int = 1
    count: int = 100
