"""Tests of the YAML reading shared by the config, segment and audit files."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.audits import load_audits
from models.yaml_files import load_unique

AUDIT = """\
audits:
  - name: meat_only
    failure_mode: Vegetarians are shown meat-only places.
    metric: meat_only_share@10
    segment: all
    threshold: {threshold}
    direction: max
    owner: ranking
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1e-3", 0.001),
        ("1e300", 1e300),
        ("1.0e300", 1e300),
        ("-2E5", -200000.0),
        ("+5e1", 50.0),
        (".5e1", 5.0),
        ("1.5e-2", 0.015),
    ],
)
def test_exponent_without_dot_is_float(text: str, expected: float) -> None:
    value = load_unique(f"value: {text}")["value"]

    assert isinstance(value, float)
    assert value == expected


@pytest.mark.parametrize("text", ["1e", "e5", "1e3x", "1.2.3e4", "1e-3 kg"])
def test_other_text_stays_text(text: str) -> None:
    assert load_unique(f"value: {text}")["value"] == text


def test_quoted_exponent_stays_text() -> None:
    assert load_unique("value: '1e-3'")["value"] == "1e-3"


def test_integers_stay_integers() -> None:
    assert load_unique("value: 300")["value"] == 300


def test_audit_threshold_in_exponent_form(tmp_path: Path) -> None:
    path = tmp_path / "audits.yaml"
    path.write_text(AUDIT.format(threshold="2e-2"))

    [audit] = load_audits(path)

    assert audit.threshold == 0.02
