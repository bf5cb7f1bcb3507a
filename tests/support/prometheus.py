"""Reading a ``/metrics`` exposition in tests, and running the real ``promtool`` on things."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(payload: str) -> tuple[Samples, dict[str, str]]:
    """Every sample by (name, sorted labels), and every family's type."""
    samples: Samples = {}
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(payload):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples, types


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def promtool(
    *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:  # .ci/run installs it (Debian's prometheus package)
        pytest.fail("promtool is not installed (apt-get install prometheus)", pytrace=False)
    return subprocess.run(
        [binary, *args], input=stdin, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def promtool_check_metrics(payload: str) -> subprocess.CompletedProcess[str]:
    return promtool("check", "metrics", stdin=payload)
