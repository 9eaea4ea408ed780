"""Tests of the release audits: loading, checking, messages and exit code."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from models.audits import (
    FAILED,
    NOT_MEASURED,
    PASSED,
    AuditSpec,
    audit_exit_code,
    known_metrics,
    load_audits,
    run_audits,
)
from models.segments import load_segments

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

MEAT_ONLY = AuditSpec(
    name="vegetarian_meat_only",
    failure_mode="Vegetarians are recommended restaurants with no vegetarian dish.",
    metric="meat_only_share@10",
    segment="vegetarians",
    threshold=0.02,
    direction="max",
    owner="ranking",
)
FAVOURITE = AuditSpec(
    name="favourite_kept",
    failure_mode="A user's favourite restaurant drops out of the top 10.",
    metric="favourite_recall@10",
    segment="has_favourite",
    threshold=0.9,
    direction="min",
    owner="ranking",
    signed_off=True,
)
EACH = AuditSpec(
    name="segment_ndcg_floor",
    failure_mode="One segment of users gets much worse lists than users overall.",
    metric="ndcg_ratio_to_overall",
    segment="each",
    threshold=0.8,
    direction="min",
    owner="ranking",
    min_users=30,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "audits.yaml"
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------
# Checking values.
# ---------------------------------------------------------------------------


def test_failed_audit_message() -> None:
    measured = {("meat_only_share@10", "vegetarians"): 0.137}

    [result] = run_audits([MEAT_ONLY], measured)

    assert result.status == FAILED
    assert result.value == 0.137
    assert result.message == (
        "audit vegetarian_meat_only failed: meat_only_share@10 on vegetarians is "
        "0.137, threshold <= 0.02 (owner ranking, not signed off)"
    )


def test_passed_audit_message() -> None:
    measured = {("meat_only_share@10", "vegetarians"): 0.0125}

    [result] = run_audits([MEAT_ONLY], measured)

    assert result.status == PASSED
    assert result.reason is None
    assert result.message == (
        "audit vegetarian_meat_only passed: meat_only_share@10 on vegetarians is "
        "0.0125, threshold <= 0.02 (owner ranking, not signed off)"
    )


@pytest.mark.parametrize(
    ("value", "status"),
    [(0.9, PASSED), (0.95, PASSED), (0.899, FAILED)],
    ids=["at-threshold", "above", "below"],
)
def test_min_direction_bound(value: float, status: str) -> None:
    [result] = run_audits(
        [FAVOURITE], {("favourite_recall@10", "has_favourite"): value}
    )

    assert result.status == status


def test_max_direction_at_threshold_passes() -> None:
    [result] = run_audits([MEAT_ONLY], {("meat_only_share@10", "vegetarians"): 0.02})

    assert result.status == PASSED


def test_value_close_to_threshold_shown_in_full() -> None:
    # 0.02004 rounds to 0.02 at three digits, the same as the threshold.
    [result] = run_audits([MEAT_ONLY], {("meat_only_share@10", "vegetarians"): 0.02004})

    assert result.status == FAILED
    assert "on vegetarians is 0.02004, threshold <= 0.02" in result.message


def test_unknown_city_segment_lists_known_ones() -> None:
    spec = MEAT_ONLY.model_copy(update={"metric": "ndcg@10", "segment": "city=madrid"})
    measured = {
        ("ndcg@10", "city=Madrid"): 0.5,
        ("ndcg@10", "city=Lyon"): 0.4,
        ("ndcg@10", "vegetarians"): 0.3,
    }

    [result] = run_audits([spec], measured)

    assert result.status == NOT_MEASURED
    assert result.reason == (
        "no city segment is named city=madrid; the measured ones are city=Lyon, "
        "city=Madrid (names match exactly, case included)"
    )


def test_unknown_segment_list_capped() -> None:
    spec = MEAT_ONLY.model_copy(update={"metric": "ndcg@10", "segment": "city=X"})
    measured = {("ndcg@10", f"city=C{number:02d}"): 0.5 for number in range(12)}

    [result] = run_audits([spec], measured)

    assert result.reason is not None
    assert result.reason.endswith(
        "city=C08, city=C09 and more (names match exactly, case included)"
    )
    assert "city=C10" not in result.reason


def test_missing_value_not_measured() -> None:
    [result] = run_audits([MEAT_ONLY], {("ndcg@10", "vegetarians"): 0.5})

    assert result.status == NOT_MEASURED
    assert result.value is None
    assert result.reason == "meat_only_share@10 on vegetarians has no value"
    assert result.message == (
        "audit vegetarian_meat_only not measured: meat_only_share@10 on "
        "vegetarians has no value, threshold <= 0.02 (owner ranking, not signed off)"
    )


def test_nan_value_not_measured() -> None:
    measured = {("favourite_recall@10", "has_favourite"): math.nan}

    [result] = run_audits([FAVOURITE], measured)

    assert result.status == NOT_MEASURED
    assert result.value is not None
    assert math.isnan(result.value)
    assert result.message == (
        "audit favourite_kept not measured: favourite_recall@10 on has_favourite "
        "has no value (not a number), threshold >= 0.9 (owner ranking, signed off)"
    )


def test_result_copies_spec_fields() -> None:
    [result] = run_audits([FAVOURITE], {("favourite_recall@10", "has_favourite"): 1})

    assert result.name == "favourite_kept"
    assert result.failure_mode == FAVOURITE.failure_mode
    assert result.metric == "favourite_recall@10"
    assert result.segment == "has_favourite"
    assert result.threshold == 0.9
    assert result.direction == "min"
    assert result.owner == "ranking"
    assert result.signed_off is True
    assert result.note is None
    assert result.value == 1.0


# ---------------------------------------------------------------------------
# The each segment.
# ---------------------------------------------------------------------------


def test_each_expands_per_measured_segment() -> None:
    measured = {
        ("ndcg_ratio_to_overall", "all"): 1.0,
        ("ndcg_ratio_to_overall", "cold_start"): 0.95,
        ("ndcg_ratio_to_overall", "city=Porto"): 0.71,
        ("ndcg@10", "vegetarians"): 0.2,
    }

    results = run_audits([EACH], measured)

    # Sorted by segment name; "all" and the other metric are left out.
    assert [(r.segment, r.status) for r in results] == [
        ("city=Porto", FAILED),
        ("cold_start", PASSED),
    ]
    assert results[0].message == (
        "audit segment_ndcg_floor failed: ndcg_ratio_to_overall on city=Porto is "
        "0.71, threshold >= 0.8 (owner ranking, not signed off)"
    )


def test_each_leaves_out_small_segments() -> None:
    measured = {
        ("ndcg_ratio_to_overall", "cold_start"): 0.95,
        ("ndcg_ratio_to_overall", "city=Porto"): 0.5,
        ("ndcg_ratio_to_overall", "light_users"): math.nan,
    }
    sizes = {"cold_start": 30, "city=Porto": 29, "light_users": 40}

    results = run_audits([EACH], measured, sizes)

    # city=Porto has 29 users, fewer than min_users 30.
    assert [(r.segment, r.status) for r in results] == [
        ("cold_start", PASSED),
        ("light_users", NOT_MEASURED),
    ]


def test_each_leaves_out_excluded_segments() -> None:
    spec = EACH.model_copy(update={"exclude": ("cold_start", "city")})
    measured = {
        ("ndcg_ratio_to_overall", "cold_start"): 0.5,
        ("ndcg_ratio_to_overall", "city=Porto"): 0.5,
        ("ndcg_ratio_to_overall", "light_users"): 0.9,
    }

    results = run_audits([spec], measured)

    # "city" is declared with per, so it leaves out every city=value.
    assert [(r.segment, r.status) for r in results] == [("light_users", PASSED)]


def test_each_without_measurement_not_measured() -> None:
    [result] = run_audits([EACH], {("ndcg@10", "all"): 0.3})

    assert result.segment == "each"
    assert result.status == NOT_MEASURED
    assert result.message == (
        "audit segment_ndcg_floor not measured: ndcg_ratio_to_overall was measured "
        "on no segment, threshold >= 0.8 (owner ranking, not signed off)"
    )


def test_named_small_segment_not_measured() -> None:
    spec = FAVOURITE.model_copy(update={"min_users": 50})
    measured = {("favourite_recall@10", "has_favourite"): 0.2}

    [result] = run_audits([spec], measured, {"has_favourite": 12})

    assert result.status == NOT_MEASURED
    assert result.reason == "has_favourite has 12 users, fewer than min_users 50"


# ---------------------------------------------------------------------------
# Exit code.
# ---------------------------------------------------------------------------


def test_exit_code_passed_is_zero() -> None:
    results = run_audits([MEAT_ONLY], {("meat_only_share@10", "vegetarians"): 0.0})

    assert audit_exit_code(results) == 0


def test_exit_code_failed_is_one() -> None:
    measured = {
        ("meat_only_share@10", "vegetarians"): 0.0,
        ("favourite_recall@10", "has_favourite"): 0.5,
    }

    results = run_audits([MEAT_ONLY, FAVOURITE], measured)

    assert [r.status for r in results] == [PASSED, FAILED]
    assert audit_exit_code(results) == 1


def test_signed_off_failure_still_fails() -> None:
    measured = {("favourite_recall@10", "has_favourite"): 0.5}

    [result] = run_audits([FAVOURITE], measured)

    assert result.status == FAILED
    assert result.message.endswith("(owner ranking, signed off)")
    assert audit_exit_code([result]) == 1


def test_exit_code_not_measured() -> None:
    results = run_audits([MEAT_ONLY], {})

    assert audit_exit_code(results) == 0
    assert audit_exit_code(results, fail_on_not_measured=True) == 1


# ---------------------------------------------------------------------------
# Loading.
# ---------------------------------------------------------------------------


def test_config_audits_load() -> None:
    segments = load_segments(CONFIGS / "segments.yaml")

    audits = load_audits(CONFIGS / "audits.yaml", segments)

    assert {audit.name: (audit.metric, audit.segment) for audit in audits} == {
        "vegetarian_meat_only": ("meat_only_share@k", "vegetarians"),
        "favourite_kept": ("favourite_recall@k", "has_favourite"),
        "cold_start_vs_popularity": ("ndcg_minus_popularity", "cold_start"),
        "light_users_vs_popularity": ("ndcg_minus_popularity", "light_users"),
        "segment_ndcg_floor": ("ndcg_ratio_to_overall", "each"),
        "small_independent_exposure": ("exposure_ratio", "small_independents"),
        "missed_orders": ("false_negative_rate", "all"),
        "shown_not_ordered": ("false_positive_rate", "all"),
        "vegetarian_rule_false_positives": (
            "segment_false_positive_rate",
            "vegetarians",
        ),
        "vegetarian_rule_false_negatives": (
            "segment_false_negative_rate",
            "vegetarians",
        ),
    }
    assert all(not audit.signed_off for audit in audits)
    assert {audit.owner for audit in audits} == {"ranking", "data"}


def test_yaml_audit_runs(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "audits:\n"
        "  - name: cold_start_vs_popularity\n"
        "    failure_mode: Users without orders get worse lists than popularity.\n"
        "    metric: ndcg_minus_popularity\n"
        "    segment: cold_start\n"
        "    threshold: 0\n"
        "    direction: min\n"
        "    owner: ranking\n"
        "    note: Popularity is the most-popular baseline.\n",
    )
    [spec] = load_audits(path)

    [result] = run_audits([spec], {("ndcg_minus_popularity", "cold_start"): -0.0123})

    assert spec.threshold == 0.0
    assert spec.note == "Popularity is the most-popular baseline."
    assert result.message == (
        "audit cold_start_vs_popularity failed: ndcg_minus_popularity on "
        "cold_start is -0.0123, threshold >= 0 (owner ranking, not signed off)"
    )


VALID = (
    "  - name: favourite_kept\n"
    "    failure_mode: A favourite drops out.\n"
    "    metric: favourite_recall@10\n"
    "    segment: has_favourite\n"
    "    threshold: 0.9\n"
    "    direction: min\n"
    "    owner: ranking\n"
)


def entry(**changes: str | None) -> str:
    """Return an audit entry like VALID, named ``other``, with the fields in
    ``changes`` replaced (None removes a field)."""
    fields = {
        "name": "other",
        "failure_mode": "A favourite drops out.",
        "metric": "favourite_recall@10",
        "segment": "has_favourite",
        "threshold": "0.9",
        "direction": "min",
        "owner": "ranking",
    }
    fields.update(changes)
    lines = [f"{key}: {value}" for key, value in fields.items() if value is not None]
    return "  - " + "\n    ".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            entry(direction="below"),
            "field 'direction': got 'below', "
            "expected 'max' (value <= threshold) or 'min' (value >= threshold)",
            id="direction",
        ),
        pytest.param(
            entry(threshold="'high'"),
            "field 'threshold': got 'high', expected a finite number",
            id="threshold-text",
        ),
        pytest.param(
            entry(threshold="true"),
            "field 'threshold': got True, expected a finite number",
            id="threshold-bool",
        ),
        pytest.param(
            entry(threshold=".nan"),
            "field 'threshold': got nan, expected a finite number",
            id="threshold-nan",
        ),
        pytest.param(
            entry(owner=None),
            "field 'owner': missing, "
            "expected a team role in lower case, such as ranking or data",
            id="missing-owner",
        ),
        pytest.param(
            entry(metric="'NDCG at 10'"),
            "field 'metric': got 'NDCG at 10', "
            "expected a metric name such as ndcg@10 or exposure_ratio",
            id="metric",
        ),
        pytest.param(
            entry(signed_off="'yes'"),
            "field 'signed_off': got 'yes', expected true or false",
            id="signed-off",
        ),
        pytest.param(
            entry(name="favourite_kept"),
            "field 'name': got 'favourite_kept', "
            "expected a name not already used by audits[0]",
            id="duplicate-name",
        ),
    ],
)
def test_invalid_audit_message(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, "audits:\n" + VALID + text)
    name = "favourite_kept" if "name: favourite_kept" in text else "other"

    with pytest.raises(ValueError) as raised:
        load_audits(path)

    assert str(raised.value) == f"{path}: audits[1] ({name}): {expected}"


def test_unknown_segment_message(tmp_path: Path) -> None:
    segments = load_segments(CONFIGS / "segments.yaml")
    path = write(tmp_path, "audits:\n" + entry(segment="vegetarian"))

    with pytest.raises(ValueError) as raised:
        load_audits(path, segments)

    message = str(raised.value)
    assert message.startswith(
        f"{path}: audits[0] (other): field 'segment': got 'vegetarian', "
        "expected 'all', 'each', one of age_band, budget, chains, city,"
    )
    assert message.endswith(
        "or name=value of one declared with per "
        "(age_band, budget, city, price_level, restaurant_city)"
    )


def test_per_value_segment_accepted(tmp_path: Path) -> None:
    segments = load_segments(CONFIGS / "segments.yaml")
    path = write(tmp_path, "audits:\n" + entry(segment="city=Madrid"))

    [spec] = load_audits(path, segments)

    assert spec.segment == "city=Madrid"


@pytest.mark.parametrize(
    ("metric", "segment", "reason"),
    [
        (
            "exposure_ratio",
            "vegetarians",
            "a user segment, expected a restaurant segment, since exposure_ratio "
            "is measured on restaurants",
        ),
        (
            "ndcg@10",
            "small_independents",
            "a restaurant segment, expected a user segment, since ndcg is "
            "measured on users",
        ),
        (
            "ndcg@10",
            "restaurant_city=Madrid",
            "a restaurant segment, expected a user segment, since ndcg is "
            "measured on users",
        ),
        (
            "false_positive_rate",
            "each",
            "expected 'all', since false_positive_rate is measured on all users only",
        ),
    ],
    ids=["exposure-on-users", "ndcg-on-restaurants", "per-value", "rate-on-each"],
)
def test_metric_on_wrong_entity_rejected(
    tmp_path: Path, metric: str, segment: str, reason: str
) -> None:
    segments = load_segments(CONFIGS / "segments.yaml")
    path = write(tmp_path, "audits:\n" + entry(metric=metric, segment=segment))

    with pytest.raises(ValueError) as raised:
        load_audits(path, segments)

    assert str(raised.value) == (
        f"{path}: audits[0] (other): field 'segment': got {segment!r}, {reason}"
    )


def test_invalid_yaml_message(tmp_path: Path) -> None:
    path = write(tmp_path, "audits:\n  - name: [unclosed\n")

    with pytest.raises(ValueError) as raised:
        load_audits(path)

    assert str(raised.value).startswith(f"{path}: invalid YAML: ")


@pytest.mark.parametrize("metric", ["ndgc@10", "ndcg@5", "exposure_ratio@10"])
def test_unknown_metric_message(tmp_path: Path, metric: str) -> None:
    path = write(tmp_path, "audits:\n" + entry(metric=metric))

    with pytest.raises(ValueError) as raised:
        load_audits(path, k=10)

    assert str(raised.value) == (
        f"{path}: audits[0] (other): field 'metric': got {metric!r}, expected one "
        "of exposure_ratio, false_negative_rate, false_positive_rate, "
        "favourite_recall@10, meat_only_share@10, ndcg@10, ndcg_minus_popularity, "
        "ndcg_ratio_to_overall, segment_false_negative_rate, "
        "segment_false_positive_rate"
    )


@pytest.mark.parametrize("k", [5, 10, 20])
def test_shipped_audits_read_known_metrics(k: int) -> None:
    segments = load_segments(CONFIGS / "segments.yaml")

    audits = load_audits(CONFIGS / "audits.yaml", segments, k=k)
    metrics = {audit.name: audit.metric for audit in audits}

    assert set(metrics.values()) <= set(known_metrics(k))
    assert metrics["vegetarian_meat_only"] == f"meat_only_share@{k}"
    assert metrics["favourite_kept"] == f"favourite_recall@{k}"


def test_audits_file_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"audits:\n  - \xff\n")

    with pytest.raises(ValueError) as not_found:
        load_audits(missing)
    with pytest.raises(ValueError) as folder:
        load_audits(tmp_path)
    with pytest.raises(ValueError) as not_text:
        load_audits(binary)

    assert str(not_found.value) == (
        f"{missing}: file not found; expected a YAML file with a list of audits"
    )
    assert str(folder.value) == (
        f"{tmp_path}: is a folder; expected a YAML file with a list of audits"
    )
    assert str(not_text.value) == (
        f"{binary}: not UTF-8 text (invalid start byte at byte offset 12)"
    )


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        ("audits:\n" + entry() + "audits:\n" + entry(name="second"), "audits", 1),
        ("audits:\n" + entry(note="one") + "    owner: data\n", "owner", 8),
    ],
    ids=["two-lists", "two-owners"],
)
def test_repeated_key_rejected(tmp_path: Path, text: str, key: str, line: int) -> None:
    path = write(tmp_path, text)

    with pytest.raises(ValueError) as raised:
        load_audits(path)

    assert str(raised.value).startswith(f"{path}: invalid YAML: ")
    assert f"found the key {key!r} twice (first at line {line})" in str(raised.value)


@pytest.mark.parametrize(
    ("metric", "threshold"),
    [("false_positive_rate", "1.5"), ("favourite_recall@10", "-1"), ("ndcg@k", "2")],
)
def test_share_threshold_out_of_range(
    tmp_path: Path, metric: str, threshold: str
) -> None:
    path = write(tmp_path, "audits:\n" + entry(metric=metric, threshold=threshold))

    with pytest.raises(ValueError) as raised:
        load_audits(path)

    base = metric.partition("@")[0]
    assert str(raised.value) == (
        f"{path}: audits[0] (other): field 'threshold': got {float(threshold):g}, "
        f"expected a value from 0 to 1, because {base} is a share"
    )


@pytest.mark.parametrize(
    ("metric", "threshold", "expected"),
    [
        (
            "ndcg_minus_popularity",
            "1.5",
            "a value from -1 to 1, because ndcg_minus_popularity is a difference "
            "of two NDCGs",
        ),
        (
            "exposure_ratio",
            "-0.5",
            "a value of 0 or more, because exposure_ratio is a ratio",
        ),
    ],
)
def test_threshold_outside_metric_range(
    tmp_path: Path, metric: str, threshold: str, expected: str
) -> None:
    path = write(tmp_path, "audits:\n" + entry(metric=metric, threshold=threshold))

    with pytest.raises(ValueError) as raised:
        load_audits(path)

    assert str(raised.value) == (
        f"{path}: audits[0] (other): field 'threshold': got {float(threshold):g}, "
        f"expected {expected}"
    )


def test_ratio_threshold_above_one_accepted(tmp_path: Path) -> None:
    path = write(
        tmp_path, "audits:\n" + entry(metric="exposure_ratio", threshold="1.5")
    )

    [spec] = load_audits(path)

    assert spec.threshold == 1.5


def test_segment_without_declared_segments(tmp_path: Path) -> None:
    path = write(tmp_path, "audits:\n" + entry(segment="vegetarians"))

    with pytest.raises(ValueError) as raised:
        load_audits(path, [])

    assert str(raised.value) == (
        f"{path}: audits[0] (other): field 'segment': got 'vegetarians', expected "
        "'all' or 'each', since the segments file declares no segment"
    )


def test_exclude_needs_each(tmp_path: Path) -> None:
    path = write(
        tmp_path, "audits:\n" + entry(segment="vegetarians") + "    exclude: [city]\n"
    )

    with pytest.raises(ValueError) as raised:
        load_audits(path)

    assert str(raised.value) == (
        f"{path}: audits[0] (other): field 'exclude': got ['city'], expected no "
        "exclude, since only an audit of segment 'each' leaves segments out"
    )


def test_exclude_number_names_item(tmp_path: Path) -> None:
    path = write(
        tmp_path, "audits:\n" + entry(segment="each") + "    exclude: [city, 1e5]\n"
    )

    with pytest.raises(ValueError) as raised:
        load_audits(path)

    assert str(raised.value) == (
        f"{path}: audits[0] (other): field 'exclude': got ['city', 100000.0], "
        "expected a list of segment names (YAML read item 1, 100000.0, as a "
        "float; put it in quotes to keep it as text)"
    )


def test_exclude_unknown_segment(tmp_path: Path) -> None:
    segments = load_segments(CONFIGS / "segments.yaml")
    path = write(
        tmp_path, "audits:\n" + entry(segment="each") + "    exclude: [cold_starts]\n"
    )

    with pytest.raises(ValueError) as raised:
        load_audits(path, segments)

    message = str(raised.value)
    assert message.startswith(
        f"{path}: audits[0] (other): field 'exclude': got 'cold_starts', expected "
        "a user segment, since favourite_recall is measured on users: one of "
        "age_band, budget, city, coffee_or_tea_only,"
    )
    assert message.endswith(
        "or name=value of one declared with per (age_band, budget, city)"
    )


@pytest.mark.parametrize(
    ("segment", "exclude", "expected"),
    [
        pytest.param(
            "each",
            "[cold_start, light_users, cold_start]",
            "got 'cold_start' more than once, expected each segment once",
            id="repeated",
        ),
        pytest.param(
            "has_favourite",
            "[]",
            "got [], expected no exclude, since only an audit of segment 'each' "
            "leaves segments out",
            id="empty-list-not-each",
        ),
    ],
)
def test_exclude_mistakes(
    tmp_path: Path, segment: str, exclude: str, expected: str
) -> None:
    path = write(
        tmp_path, "audits:\n" + entry(segment=segment) + f"    exclude: {exclude}\n"
    )

    with pytest.raises(ValueError) as raised:
        load_audits(path)

    assert (
        str(raised.value) == f"{path}: audits[0] (other): field 'exclude': {expected}"
    )


def test_exclude_restaurant_segment_from_user_metric(tmp_path: Path) -> None:
    segments = load_segments(CONFIGS / "segments.yaml")
    path = write(
        tmp_path,
        "audits:\n" + entry(segment="each") + "    exclude: [new_restaurants]\n",
    )

    with pytest.raises(ValueError, match="got 'new_restaurants', expected a user"):
        load_audits(path, segments)


def test_whole_per_segment_rejected(tmp_path: Path) -> None:
    segments = load_segments(CONFIGS / "segments.yaml")
    path = write(tmp_path, "audits:\n" + entry(segment="city"))

    with pytest.raises(ValueError) as raised:
        load_audits(path, segments)

    assert str(raised.value).endswith(
        "field 'segment': got 'city', which is declared with per and measured "
        "for each value only; expected city=VALUE for one value, or 'each'"
    )


def test_exclude_one_value_of_per_segment(tmp_path: Path) -> None:
    segments = load_segments(CONFIGS / "segments.yaml")
    path = write(
        tmp_path,
        "audits:\n" + entry(segment="each") + "    exclude: [city=Madrid]\n",
    )

    [spec] = load_audits(path, segments)
    measured = {
        ("favourite_recall@10", "city=Madrid"): 0.1,
        ("favourite_recall@10", "city=Porto"): 0.95,
    }

    results = run_audits([spec], measured)

    assert [(r.segment, r.status) for r in results] == [("city=Porto", PASSED)]


def test_each_all_excluded_says_so() -> None:
    spec = EACH.model_copy(update={"exclude": ("cold_start",)})

    [result] = run_audits([spec], {("ndcg_ratio_to_overall", "cold_start"): 0.5})

    assert result.status == NOT_MEASURED
    assert result.reason == (
        "ndcg_ratio_to_overall was measured on no segment that is large enough "
        "and not excluded"
    )
