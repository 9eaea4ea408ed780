"""Checks of the LightGBM parameters of a ranker config, before LightGBM reads
them.

LightGBM warns of an unknown parameter only at its default verbosity, reads a
string for a number as a data file token, and wraps whole numbers above 32
bits. Each check here names the config file and the parameter instead.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightgbm as lgb

# LightGBM's seed parameter and its aliases (LightGBM 4.x Parameters).
SEED_PARAMS = ("seed", "random_seed", "random_state")

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


def check_lightgbm_params(path: Path, params: dict[str, Any]) -> None:
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
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


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
                    and INT32_MIN <= value <= INT32_MAX
                )
                expected = f"a whole number from {INT32_MIN} to {INT32_MAX}"
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
            and 1 <= cutoff <= INT32_MAX
            for cutoff in cutoffs
        )
        if not valid:
            msg = (
                f"{path}: params: {name} must be a whole number or a non-empty "
                f"list of whole numbers from 1 to {INT32_MAX}, got {value!r}"
            )
            raise ValueError(msg)
