"""Read-back checks of the materialization benchmark.

After the timed runs, a sample of users is read from the online store with
``get_online_features`` and compared with the feature tables, and a sample of
the pruned users must read back without features.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import polars as pl

from features.feast_store import USER_VIEWS, open_store
from features.paths import FEATURE_REPO
from features.schema import USER_ID

# Users read back after the runs, in each check.
SAMPLE_USERS = 200


def check_sample(var_dir: Path, profile: str, users: pl.DataFrame) -> list[str]:
    """Compare the online values of a sample of users with the tables."""
    store = open_store(FEATURE_REPO, var_dir, profile)
    sample = users.sort(USER_ID).gather_every(max(1, users.height // SAMPLE_USERS))
    sample = sample.head(SAMPLE_USERS)
    names = [c for c in sample.columns if c != USER_ID]
    references = [
        f"{view}:{name}"
        for view in USER_VIEWS
        for name in store.get_feature_view(view).features
        for name in [name.name]
    ]
    online = store.get_online_features(
        features=references,
        entity_rows=[{USER_ID: key} for key in sample[USER_ID]],
    ).to_dict()
    mismatches = []
    for index, row in enumerate(sample.iter_rows(named=True)):
        for name in names:
            if not _same(row[name], online[name][index]):
                mismatches.append(
                    f"{row[USER_ID]} {name}: table {row[name]!r}, "
                    f"online {online[name][index]!r}"
                )
    return mismatches


def check_pruned(var_dir: Path, profile: str, pruned: list[str]) -> list[str]:
    """Return a line per pruned user in a sample that still has a feature."""
    store = open_store(FEATURE_REPO, var_dir, profile)
    sample = pruned[:: max(1, len(pruned) // SAMPLE_USERS)][:SAMPLE_USERS]
    references = [
        f"{view}:{field.name}"
        for view in USER_VIEWS
        for field in store.get_feature_view(view).features
    ]
    online = store.get_online_features(
        features=references, entity_rows=[{USER_ID: key} for key in sample]
    ).to_dict()
    return [
        f"{key} {name}: pruned, online {values[index]!r}"
        for name, values in online.items()
        if name != USER_ID
        for index, key in enumerate(sample)
        if values[index] is not None
    ]


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, float) and math.isnan(expected):
        expected = None
    if isinstance(actual, float) and math.isnan(actual):
        actual = None
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, list):
        return len(expected) == len(actual) and all(
            _same(e, a) for e, a in zip(expected, actual, strict=True)
        )
    if isinstance(expected, float):
        return math.isclose(expected, float(actual), rel_tol=1e-9, abs_tol=1e-12)
    return bool(expected == actual)
