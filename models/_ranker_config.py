"""The ranker's training settings and their reading from ``configs/ranker.yaml``."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import lightgbm as lgb

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


# LightGBM's seed parameter and its aliases (LightGBM 4.x Parameters).
_SEED_PARAMS = ("seed", "random_seed", "random_state")

# LightGBM's ranking objectives and their aliases (LightGBM 4.x Parameters).
RANKING_OBJECTIVES = (
    "lambdarank",
    "rank_xendcg",
    "xendcg",
    "xe_ndcg",
    "xe_ndcg_mart",
    "xendcg_mart",
)


def lightgbm_param_aliases() -> dict[str, list[str]] | None:
    """Return LightGBM's parameters, each with its aliases, or None when the
    installed LightGBM lacks the private table they are read from."""
    table = getattr(lgb.basic, "_ConfigAliases", None)
    if table is None or not hasattr(table, "_get_all_param_aliases"):
        return None
    return {main: list(names) for main, names in table._get_all_param_aliases().items()}


def _check_lightgbm_params(path: Path, params: dict[str, Any]) -> None:
    """Raise ValueError for a parameter name LightGBM does not know.

    LightGBM only warns about one, and the config's ``verbosity: -1`` hides
    the warning, so a misspelled ``num_leavs`` would train with the default.
    """
    # Without LightGBM's table (another LightGBM version) the check is skipped.
    aliases = lightgbm_param_aliases()
    if aliases is None:
        return
    known = {name for main, names in aliases.items() for name in (main, *names)}
    unknown = sorted(str(name) for name in params if name not in known)
    if unknown:
        msg = (
            f"{path}: params: unknown LightGBM parameters {unknown}; see "
            "https://lightgbm.readthedocs.io/en/latest/Parameters.html"
        )
        raise ValueError(msg)
    _check_numeric_params(path, params, aliases)
    _check_eval_at(path, params, aliases)
    objective_names = aliases.get("objective", ())
    objectives = 0
    for name in ("objective", *objective_names):
        objective = params.get(name)
        if objective is None:
            continue
        objectives += 1
        if objective not in RANKING_OBJECTIVES:
            msg = (
                f"{path}: params: {name} must be a ranking objective, "
                f"lambdarank or rank_xendcg, got {objective!r}; training "
                "groups the rows by user and cutoff and measures NDCG"
            )
            raise ValueError(msg)
    # Without an objective, LightGBM trains a regression on the labels.
    if objectives == 0:
        msg = (
            f"{path}: params: objective is missing or null; set it to lambdarank "
            "or rank_xendcg, because LightGBM's default, regression, does not rank"
        )
        raise ValueError(msg)


# The numeric LightGBM parameters a ranker config is likely to set, with their
# type. LightGBM reports a string in their place as "Unknown token fast in data
# file", which names neither the parameter nor the config.
_NUMERIC_PARAMS: dict[str, type] = {
    "learning_rate": float,
    "num_leaves": int,
    "max_depth": int,
    "min_data_in_leaf": int,
    "min_sum_hessian_in_leaf": float,
    "bagging_fraction": float,
    "bagging_freq": int,
    "feature_fraction": float,
    "feature_fraction_bynode": float,
    "lambda_l1": float,
    "lambda_l2": float,
    "min_gain_to_split": float,
    "max_delta_step": float,
    "max_bin": int,
    "num_iterations": int,
    "early_stopping_round": int,
    "lambdarank_truncation_level": int,
    "num_threads": int,
    "verbosity": int,
    "seed": int,
    "bagging_seed": int,
    "feature_fraction_seed": int,
    # The other whole-number parameters of LightGBM 4 (docs: Parameters), so
    # that each is checked against 32 bits: LightGBM wraps an extra_seed of
    # 10**11 to 1215752192 and a min_data_in_bin of 2**32 + 3 to 3.
    "extra_seed": int,
    "drop_seed": int,
    "data_random_seed": int,
    "objective_seed": int,
    "max_drop": int,
    "top_k": int,
    "max_cat_threshold": int,
    "max_cat_to_onehot": int,
    "min_data_per_group": int,
    "min_data_in_bin": int,
    "bin_construct_sample_cnt": int,
    "num_class": int,
    "num_grad_quant_bins": int,
    "multi_error_top_k": int,
    "snapshot_freq": int,
    "metric_freq": int,
    "num_machines": int,
    "local_listen_port": int,
    "time_out": int,
    "num_gpu": int,
    "gpu_platform_id": int,
    "gpu_device_id": int,
}


# LightGBM stores whole-number parameters as 32-bit integers and wraps a larger
# value without an error: num_leaves 2**31 fails the check "num_leaves > 1",
# and a seed of 10**11 trains with another seed.
_INT32_MIN = -(2**31)
_INT32_MAX = 2**31 - 1


def _check_numeric_params(
    path: Path, params: dict[str, Any], aliases: dict[str, Any]
) -> None:
    """Raise ValueError for a numeric LightGBM parameter set to something else,
    under its own name or an alias."""
    for main, kind in _NUMERIC_PARAMS.items():
        for name in (main, *aliases.get(main, ())):
            value = params.get(name)
            if value is None:
                continue
            if kind is int:
                valid = (
                    isinstance(value, int)
                    and not isinstance(value, bool)
                    and _INT32_MIN <= value <= _INT32_MAX
                )
                expected = f"a whole number from {_INT32_MIN} to {_INT32_MAX}"
            else:
                valid = (
                    isinstance(value, int | float)
                    and not isinstance(value, bool)
                    and math.isfinite(value)
                )
                expected = "a finite number"
            if not valid:
                msg = f"{path}: params: {name} must be {expected}, got {value!r}"
                raise ValueError(msg)


def _check_eval_at(path: Path, params: dict[str, Any], aliases: dict[str, Any]) -> None:
    """Raise ValueError for NDCG and MAP cut-offs that are not whole numbers
    from 1 to the 32-bit maximum, under ``eval_at`` or an alias.

    LightGBM keeps them as 32-bit integers too, so [4294967306] measured
    NDCG@10, and it rejects 0, a negative number or a string only once
    training has started, with a message that names neither the setting nor
    the file.
    """
    for name in ("eval_at", *aliases.get("eval_at", ())):
        value = params.get(name)
        if value is None:
            continue
        cutoffs = value if isinstance(value, list) else [value]
        valid = bool(cutoffs) and all(
            isinstance(cutoff, int)
            and not isinstance(cutoff, bool)
            and 1 <= cutoff <= _INT32_MAX
            for cutoff in cutoffs
        )
        if not valid:
            msg = (
                f"{path}: params: {name} must be a whole number or a non-empty "
                f"list of whole numbers from 1 to {_INT32_MAX}, got {value!r}"
            )
            raise ValueError(msg)


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
    _check_lightgbm_params(path, params)
    seed = _whole_number(path, raw["seed"], "seed", minimum=0, maximum=_INT32_MAX)
    rounds = _whole_number(path, raw["num_boost_round"], "num_boost_round", minimum=1)
    # LightGBM prefers ``seed`` to its aliases, so the config's seed is added
    # only when params sets none. Otherwise it would override a random_state.
    if not any(name in params for name in _SEED_PARAMS):
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
