"""The ranker's training settings and their reading from ``configs/ranker.yaml``."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from models._lightgbm_params import INT32_MAX, SEED_PARAMS, check_lightgbm_params
from models.candidates import CandidateSettings
from models.cutoffs import CutoffSettings
from models.guardrail import DietGuardrail, read_guardrail
from models.yaml_files import read_yaml_file


@dataclass(frozen=True)
class RankerConfig:
    """Training settings, read from ``configs/ranker.yaml``."""

    params: dict[str, Any]
    num_boost_round: int
    seed: int
    # The Feast feature service whose numeric features the model reads.
    feature_service: str
    cutoffs: CutoffSettings
    # None keeps every negative candidate of a training group.
    negatives_per_group: int | None = None
    # Rounds without a better validation NDCG before boosting stops; None
    # boosts num_boost_round rounds without a validation window.
    early_stopping_rounds: int | None = None
    # Candidate sources and their sizes; None makes every open restaurant a
    # candidate.
    candidates: CandidateSettings | None = None
    # Labelled users kept per training cutoff, drawn at random; None keeps
    # them all.
    max_users_per_cutoff: int | None = None
    # Demotes meat-only restaurants for vegetarian users after scoring, in
    # models that read the diet features; None turns it off.
    diet_guardrail: DietGuardrail | None = None


_SETTINGS = {
    "params",
    "num_boost_round",
    "seed",
    "feature_service",
    "cutoffs",
    "negatives_per_group",
    "early_stopping_rounds",
    "relevance",
    "candidates",
    "max_users_per_cutoff",
    "diet_guardrail",
}
# The keys of the ``cutoffs`` mapping and their smallest valid values.
_CUTOFF_MINIMUMS = {"count": 1, "every_days": 1, "horizon_days": 1, "label_folds": 2}


def load_config(path: Path) -> RankerConfig:
    """Read a ranker config file.

    Raises:
        ValueError: the file cannot be read as YAML (missing, a folder, not
            UTF-8, invalid or with a repeated key), or a setting is unknown,
            missing, or of the wrong type or range. The message names the
            file.
    """
    raw = read_yaml_file(path, "of ranker settings")
    if not isinstance(raw, dict):
        msg = f"{path}: expected a mapping of settings, got {type(raw).__name__}"
        raise ValueError(msg)
    # Unknown keys first: a misspelled required key is named as such.
    unknown_settings = set(raw) - _SETTINGS
    if unknown_settings:
        msg = (
            f"{path}: unknown settings {sorted(unknown_settings)}; expected some of "
            f"{sorted(_SETTINGS)}"
        )
        raise ValueError(msg)
    for key in ("params", "num_boost_round", "seed", "feature_service"):
        if key not in raw:
            msg = f"{path}: missing required setting {key!r}"
            raise ValueError(msg)

    service = raw["feature_service"]
    if not isinstance(service, str) or not service:
        msg = (
            f"{path}: feature_service must name a feature service of "
            f"feature_repo/definitions.py, such as ranker_v2; got {service!r}"
        )
        raise ValueError(msg)
    if not isinstance(raw["params"], dict):
        msg = (
            f"{path}: params must be a mapping of LightGBM parameters, got "
            f"{raw['params']!r}"
        )
        raise ValueError(msg)
    params = dict(raw["params"])
    check_lightgbm_params(path, params)
    seed = _whole_number(path, raw["seed"], "seed", minimum=0, maximum=INT32_MAX)
    rounds = _whole_number(path, raw["num_boost_round"], "num_boost_round", minimum=1)
    # LightGBM prefers ``seed`` to its aliases, so the config's seed is added
    # only when params sets none. Otherwise it would override a random_state.
    if not any(name in params for name in SEED_PARAMS):
        params["seed"] = seed
    windows = raw.get("cutoffs") or {}
    if not isinstance(windows, dict):
        msg = f"{path}: 'cutoffs' must be a mapping, got {type(windows).__name__}"
        raise ValueError(msg)
    unknown = set(windows) - set(_CUTOFF_MINIMUMS)
    if unknown:
        msg = f"{path}: unknown 'cutoffs' settings {sorted(unknown)}"
        raise ValueError(msg)
    for key, value in windows.items():
        minimum = _CUTOFF_MINIMUMS[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            msg = (
                f"{path}: cutoffs: {key} must be an integer of at least {minimum}, "
                f"got {value!r}"
            )
            raise ValueError(msg)
    min_rating = _min_rating(path, raw.get("relevance"))
    defaults = CutoffSettings()
    cutoffs = CutoffSettings(
        label_folds=windows.get("label_folds", defaults.label_folds),
        seed=seed,
        cutoffs=windows.get("count", defaults.cutoffs),
        cutoff_every_days=windows.get("every_days", defaults.cutoff_every_days),
        horizon_days=windows.get("horizon_days", defaults.horizon_days),
        min_rating=min_rating,
    )
    try:
        negatives = _optional_int(raw.get("negatives_per_group"), "negatives_per_group")
        stopping = _optional_int(
            raw.get("early_stopping_rounds"), "early_stopping_rounds"
        )
        max_users = _optional_int(
            raw.get("max_users_per_cutoff"), "max_users_per_cutoff"
        )
    except ValueError as error:
        msg = f"{path}: {error}"
        raise ValueError(msg) from error
    candidates = _candidates(path, raw.get("candidates"))
    return RankerConfig(
        params=params,
        num_boost_round=rounds,
        seed=seed,
        feature_service=service,
        cutoffs=cutoffs,
        negatives_per_group=negatives,
        early_stopping_rounds=stopping,
        candidates=candidates,
        max_users_per_cutoff=max_users,
        diet_guardrail=read_guardrail(raw.get("diet_guardrail"), str(path)),
    )


def _whole_number(
    path: Path, value: object, name: str, minimum: int, maximum: int | None = None
) -> int:
    """Return ``value`` when it is an integer from ``minimum`` to ``maximum``.

    Raises:
        ValueError: a string, float, boolean or integer out of range; names
            ``path``.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        msg = f"{path}: {name} must be an integer of at least {minimum}, got {value!r}"
        raise ValueError(msg)
    if maximum is not None and value > maximum:
        msg = (
            f"{path}: {name} must be an integer from {minimum} to {maximum}, "
            f"got {value!r}"
        )
        raise ValueError(msg)
    return value


def _optional_int(value: object, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = f"{name} must be a positive integer or null, got {value!r}"
        raise ValueError(msg)
    return value


def _candidates(path: Path, raw: object) -> CandidateSettings | None:
    """Read the ``candidates`` mapping; absent or null means every restaurant."""
    if raw is None:
        return None
    known = {field.name for field in fields(CandidateSettings)}
    if not isinstance(raw, dict) or set(raw) - known:
        msg = (
            f"{path}: 'candidates' must be a mapping with keys among {sorted(known)}, "
            f"got {raw!r}"
        )
        raise ValueError(msg)
    settings = CandidateSettings(**raw)
    try:
        settings.validate()
    except ValueError as error:
        msg = f"{path}: {error}"
        raise ValueError(msg) from error
    return settings


def _min_rating(path: Path, relevance: object) -> float | None:
    """Read ``relevance: {min_rating: ...}``; absent or null counts every order."""
    if relevance is None:
        return None
    if not isinstance(relevance, dict) or set(relevance) - {"min_rating"}:
        msg = (
            f"{path}: 'relevance' must be a mapping with the one key 'min_rating', "
            f"got {relevance!r}"
        )
        raise ValueError(msg)
    value = relevance.get("min_rating")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"{path}: relevance: min_rating must be a number or null, got {value!r}"
        raise ValueError(msg)
    # No rating is at least nan or inf, so these would leave no relevant
    # order. A number below every rating, not -inf, keeps the rated ones.
    if not math.isfinite(value):
        msg = (
            f"{path}: relevance: min_rating must be a finite number or null, "
            f"got {value!r}"
        )
        raise ValueError(msg)
    return float(value)
