"""Read ``/metrics`` as a test sees it: Prometheus text parsed into {(name, labels): value}."""

from __future__ import annotations

import json
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Return every sample of a Prometheus text exposition."""
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    """Return one sample's value; 0 when it has not been counted yet."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def json_lines(text: str) -> list[dict[str, Any]]:
    """Parse every line of a log as one JSON object (fails on the first line that is not)."""
    lines = []
    for line in text.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"a log line is not JSON: {line!r}") from None
    return lines
