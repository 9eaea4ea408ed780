"""Candidate pairs and the feature rows the ranker trains and scores on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import polars as pl

from features.pairs import pair_features
from features.schema import RESTAURANT_ID, USER_ID
from features.transforms import FeatureTables, build_feature_tables
from models.splits import fold_assignment

LABEL = "label"
GROUP = "group"


@dataclass(frozen=True)
class TrainingSet:
    """Feature rows sorted by query group, with labels and group sizes."""

    rows: pl.DataFrame
    group_sizes: np.ndarray


def candidate_pairs(
    user_ids: list[str], restaurant_ids: list[str], exclude: pl.DataFrame
) -> pl.DataFrame:
    """Every (user, restaurant) pair except those in ``exclude``.

    ``exclude`` contains the interactions the features were computed from, so a
    restaurant a user already visited is not a candidate for that user.
    """
    users = pl.DataFrame({USER_ID: user_ids}, schema={USER_ID: pl.String})
    restaurants = pl.DataFrame(
        {RESTAURANT_ID: restaurant_ids}, schema={RESTAURANT_ID: pl.String}
    )
    return users.join(restaurants, how="cross").join(
        exclude.select(USER_ID, RESTAURANT_ID), on=[USER_ID, RESTAURANT_ID], how="anti"
    )


def feature_rows(tables: FeatureTables, pairs: pl.DataFrame) -> pl.DataFrame:
    """Join user and restaurant features to ``pairs`` and add the pair features."""
    joined = pairs.join(tables.users(), on=USER_ID, how="left").join(
        tables.restaurants(), on=RESTAURANT_ID, how="left"
    )
    return pair_features(joined)


def training_set(
    users: pl.DataFrame,
    restaurants: pl.DataFrame,
    interactions: pl.DataFrame,
    n_folds: int,
    seed: int,
    negatives_per_group: int | None = None,
) -> TrainingSet:
    """Build labelled rows from ``interactions`` without label leakage.

    The interactions are cut into ``n_folds`` folds. For each fold, features
    are computed from the other folds, and every user with an interaction in
    the fold gets one query group: all restaurants they did not visit in the
    other folds, labelled 1 when visited in this fold. With
    ``negatives_per_group``, each group keeps all its positives and that many
    of its negatives, drawn at random (seeded), which bounds the training set
    when there are many restaurants.
    """
    folds = fold_assignment(interactions.height, n_folds, seed)
    as_of = datetime.now(UTC)
    restaurant_ids = restaurants[RESTAURANT_ID].to_list()

    parts = []
    for fold in range(n_folds):
        in_fold = pl.Series(folds == fold)
        labels = interactions.filter(in_fold)
        visible = interactions.filter(~in_fold)
        tables = build_feature_tables(users, restaurants, visible, as_of)
        pairs = candidate_pairs(
            sorted(labels[USER_ID].unique().to_list()), restaurant_ids, visible
        )
        # A repeated visit is one positive, not two rows.
        positives = labels.select(
            USER_ID, RESTAURANT_ID, pl.lit(1).alias(LABEL)
        ).unique()
        pairs = pairs.join(positives, on=[USER_ID, RESTAURANT_ID], how="left")
        pairs = pairs.with_columns(pl.col(LABEL).fill_null(0).cast(pl.Int64))
        if negatives_per_group is not None:
            pairs = _sample_negatives(pairs, negatives_per_group, seed + fold)
        parts.append(
            feature_rows(tables, pairs).with_columns(
                pl.lit(fold, pl.Int64).alias(GROUP)
            )
        )

    rows = pl.concat(parts).sort(GROUP, USER_ID, RESTAURANT_ID)
    sizes = rows.group_by(GROUP, USER_ID, maintain_order=True).len()["len"]
    return TrainingSet(rows=rows, group_sizes=sizes.to_numpy())


def _sample_negatives(pairs: pl.DataFrame, count: int, seed: int) -> pl.DataFrame:
    draw = pl.Series("_draw", np.random.default_rng(seed).random(pairs.height))
    kept = pairs.with_columns(draw).filter(
        (pl.col(LABEL) == 1)
        | (pl.col("_draw").rank("ordinal").over(USER_ID, LABEL) <= count)
    )
    return kept.drop("_draw")
