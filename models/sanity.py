"""A quick check that a training set can be learned at all.

A ranker that cannot even overfit a handful of users is trained on a broken
set: labels that are all zero, features that do not vary, or query groups
that do not line up with the rows. :func:`check_trainable` finds these in
seconds, before a full training run spends minutes on them.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import polars as pl

from features.schema import RESTAURANT_ID, USER_ID
from models.dataset import GROUP, LABEL, TrainingSet
from models.metrics import ndcg_at_k

# Settings that let LightGBM memorise a few groups.
OVERFIT_PARAMS = {
    "objective": "lambdarank",
    "learning_rate": 0.3,
    "num_leaves": 31,
    "min_data_in_leaf": 1,
    "min_data_in_bin": 1,
    "min_sum_hessian_in_leaf": 1e-3,
    "lambda_l2": 0.0,
    "num_threads": 1,
    "deterministic": True,
    "force_row_wise": True,
    "verbosity": -1,
}
OVERFIT_ROUNDS = 100


class UntrainableSetError(ValueError):
    """The training set cannot be learned; the message names the likely cause."""


def check_trainable(
    training: TrainingSet,
    features: list[str],
    groups: int = 20,
    min_ndcg: float = 0.9,
    seed: int = 0,
    k: int = 10,
) -> float:
    """Fit the first ``groups`` query groups that have a positive and a negative
    and return their training NDCG@k.

    Raises:
        UntrainableSetError: the labels are all zero, every feature is
            constant, the group sizes do not match the rows, or the fit stays
            below ``min_ndcg``. The message names what was found.
    """
    rows = training.rows
    sizes = training.group_sizes
    if int(sizes.sum()) != rows.height:
        msg = (
            f"query groups misaligned: the group sizes add up to {int(sizes.sum())} "
            f"rows but the training set has {rows.height}"
        )
        raise UntrainableSetError(msg)
    # Lengths of the runs of consecutive rows with the same group and user.
    runs = (
        rows.select(pl.struct(GROUP, USER_ID).rle().struct.field("len"))
        .to_series()
        .to_numpy()
    )
    if not np.array_equal(runs, sizes):
        msg = (
            "query groups misaligned: the rows are not sorted by group and user in "
            "the order of the group sizes"
        )
        raise UntrainableSetError(msg)
    if rows[LABEL].sum() == 0:
        msg = "labels are all zero: no training row is a positive"
        raise UntrainableSetError(msg)
    constant = [name for name in features if rows[name].n_unique() < 2]
    if len(constant) == len(features):
        msg = f"every feature is constant across the training rows: {constant}"
        raise UntrainableSetError(msg)

    sample = _sample_groups(rows, groups)
    if sample.height == 0:
        msg = (
            "no query group holds both a positive and a negative, so there is "
            "nothing to rank: are the candidates only the ordered restaurants?"
        )
        raise UntrainableSetError(msg)
    sample_sizes = sample.group_by(GROUP, USER_ID, maintain_order=True).len()["len"]
    data = lgb.Dataset(
        sample.select(features).cast(pl.Float64).to_numpy(),
        label=sample[LABEL].to_numpy(),
        group=sample_sizes.to_numpy(),
        feature_name=list(features),
    )
    booster = lgb.train({**OVERFIT_PARAMS, "seed": seed}, data, OVERFIT_ROUNDS)
    scored = sample.with_columns(
        pl.Series("_score", booster.predict(sample.select(features).to_numpy()))
    )
    ndcg = _mean_ndcg(scored, k)
    if ndcg < min_ndcg:
        msg = (
            f"a ranker cannot fit {sample_sizes.len()} training groups (training "
            f"NDCG@{k} {ndcg:.3f}, expected at least {min_ndcg}); likely causes: "
            "labels that do not depend on the features, features that are null or "
            f"constant (constant: {constant or 'none'}), or rows joined to the "
            "wrong user or cutoff"
        )
        raise UntrainableSetError(msg)
    return ndcg


def _sample_groups(rows: pl.DataFrame, groups: int) -> pl.DataFrame:
    """Return the rows of the first ``groups`` groups with a positive and a
    negative."""
    usable = (
        rows.group_by(GROUP, USER_ID, maintain_order=True)
        .agg(pl.col(LABEL).min().alias("_min"), pl.col(LABEL).max().alias("_max"))
        .filter((pl.col("_min") == 0) & (pl.col("_max") == 1))
        .head(groups)
        .select(GROUP, USER_ID)
    )
    return rows.join(usable, on=[GROUP, USER_ID], how="semi", maintain_order="left")


def _mean_ndcg(scored: pl.DataFrame, k: int) -> float:
    values = []
    for _, group in scored.group_by(GROUP, USER_ID, maintain_order=True):
        ranked = group.sort(["_score", RESTAURANT_ID], descending=[True, False])
        relevant = set(group.filter(pl.col(LABEL) == 1)[RESTAURANT_ID].to_list())
        values.append(ndcg_at_k(ranked[RESTAURANT_ID].to_list(), relevant, k))
    return float(np.mean(values))
