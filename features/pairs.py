"""Features of a (user, restaurant) pair, defined once for training and serving.

:func:`pair_features` is the transformation of the Feast on-demand feature
view ``user_restaurant_pair`` (``feature_repo/definitions.py``), so training
rows read through ``get_historical_features`` get their pair features from
it. The service calls the same function on one user's row joined to every
restaurant in memory, which is much faster than asking Feast for hundreds of
pair rows per request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

from features.cities import EARTH_RADIUS_KM
from features.schema import RESTAURANT_ID, USER_ID

if TYPE_CHECKING:
    import pandas as pd

# Pair features that do not depend on diet or menu features.
BASE_PAIR_FEATURES: tuple[str, ...] = (
    "distance_km",
    "history_distance_km",
    "same_city",
    "declared_cuisine_match",
    "cuisine_affinity",
    "price_budget_gap",
    "past_orders_here",
    "taste_affinity",
    "neighbour_affinity",
)
VEGETARIAN_PAIR_FEATURES: tuple[str, ...] = ("vegetarian_match", "vegetarian_gap")
PAIR_FEATURES: tuple[str, ...] = (*BASE_PAIR_FEATURES, *VEGETARIAN_PAIR_FEATURES)

# The columns pair_features reads, besides user_id and restaurant_id, with
# their types.
PAIR_INPUTS: dict[str, pl.DataType] = {
    "user_latitude": pl.Float64(),
    "user_longitude": pl.Float64(),
    "user_city": pl.String(),
    "user_budget_level": pl.Int64(),
    "user_liked_cuisines": pl.List(pl.String),
    "user_visited_restaurant_ids": pl.List(pl.String),
    "user_history_latitude": pl.Float64(),
    "user_history_longitude": pl.Float64(),
    "user_cuisine_names": pl.List(pl.String),
    "user_cuisine_shares": pl.List(pl.Float64),
    "user_vegetarian_order_ratio": pl.Float64(),
    "restaurant_latitude": pl.Float64(),
    "restaurant_longitude": pl.Float64(),
    "restaurant_city": pl.String(),
    "restaurant_price_level": pl.Int64(),
    "restaurant_cuisines": pl.List(pl.String),
    "restaurant_vegetarian_item_share": pl.Float64(),
    "restaurant_has_vegetarian_options": pl.Int64(),
    "user_taste_factors": pl.List(pl.Float64),
    "restaurant_taste_factors": pl.List(pl.Float64),
    "restaurant_neighbour_ids": pl.List(pl.String),
    "restaurant_neighbour_similarities": pl.List(pl.Float64),
}

_PAIR_INDEX = "_pair"
# Identifies a restaurant's row: the same restaurant appears once per cutoff
# in training rows, with different neighbours at each.
_NEIGHBOURS = "_neighbours"
# Identifies a user's row: the same user appears once per cutoff in training
# rows, with a different history at each.
_HISTORY = "_history"


def pair_features(pairs: pl.DataFrame) -> pl.DataFrame:
    """Return the pair features of ``pairs``, one row per input row, in order.

    ``pairs`` has one row per (user, restaurant): ``user_id``,
    ``restaurant_id`` and the columns of :data:`PAIR_INPUTS`. Missing inputs (a
    user without coordinates, a restaurant without a menu) give null features,
    which LightGBM treats as missing.

    Features:
        distance_km: from the user's declared location to the restaurant.
        history_distance_km: from the mean location of the user's past
            restaurants to this one.
        same_city: 1 when the user's and the restaurant's cities are equal.
        declared_cuisine_match: number of the restaurant's cuisines the user
            declared to like.
        cuisine_affinity: the largest share of the user's past orders that
            went to a cuisine of this restaurant (0 without a match).
        price_budget_gap: restaurant price level minus the user's budget level.
        past_orders_here: the user's past orders at this restaurant.
        taste_affinity: dot product of the user's and the restaurant's taste
            factors (features/taste.py): high where users who order like this
            user order; null when either has no orders yet.
        neighbour_affinity: over the restaurant's neighbours (the restaurants
            most often ordered by the same users), the sum of similarity times
            the user's past orders there; 0 without a match.
        vegetarian_match: the user's vegetarian-order ratio times the share of
            vegetarian items on the restaurant's menu.
        vegetarian_gap: the user's vegetarian-order ratio when the restaurant
            has no vegetarian options, 0 when it has some.
    """
    # Rows of one user with one history share this key: a hash of the user id
    # and the history lists written out as text.
    separator = "\x1f"
    history_text = pl.concat_str(
        [
            pl.col(USER_ID),
            pl.col("user_visited_restaurant_ids").list.join(separator),
            pl.col("user_cuisine_names").list.join(separator),
            pl.col("user_cuisine_shares")
            .list.eval(pl.element().cast(pl.String))
            .list.join(separator),
        ],
        separator="\x1e",
        ignore_nulls=True,
    )
    neighbours_text = pl.concat_str(
        [
            pl.col(RESTAURANT_ID),
            pl.col("restaurant_neighbour_ids").list.join(separator),
            pl.col("restaurant_neighbour_similarities")
            .list.eval(pl.element().cast(pl.String))
            .list.join(separator),
        ],
        separator="\x1e",
        ignore_nulls=True,
    )
    indexed = pairs.with_row_index(_PAIR_INDEX).with_columns(
        history_text.hash().alias(_HISTORY), neighbours_text.hash().alias(_NEIGHBOURS)
    )
    return (
        indexed.join(_cuisine_affinity(indexed), on=_PAIR_INDEX, how="left")
        .join(_past_orders(indexed), on=[_HISTORY, RESTAURANT_ID], how="left")
        .join(_neighbour_affinity(indexed), on=[_HISTORY, _NEIGHBOURS], how="left")
        .sort(_PAIR_INDEX)
        .select(
            _haversine_km(
                "user_latitude",
                "user_longitude",
                "restaurant_latitude",
                "restaurant_longitude",
            ).alias("distance_km"),
            _haversine_km(
                "user_history_latitude",
                "user_history_longitude",
                "restaurant_latitude",
                "restaurant_longitude",
            ).alias("history_distance_km"),
            (pl.col("user_city") == pl.col("restaurant_city"))
            .cast(pl.Int64)
            .alias("same_city"),
            pl.col("restaurant_cuisines")
            .list.set_intersection(pl.col("user_liked_cuisines"))
            .list.len()
            .cast(pl.Int64)
            .alias("declared_cuisine_match"),
            pl.col("cuisine_affinity").fill_null(0.0),
            (
                pl.col("restaurant_price_level").cast(pl.Int64)
                - pl.col("user_budget_level").cast(pl.Int64)
            ).alias("price_budget_gap"),
            pl.col("past_orders_here").fill_null(0).cast(pl.Int64),
            (pl.col("user_taste_factors") * pl.col("restaurant_taste_factors"))
            .list.sum()
            .alias("taste_affinity"),
            pl.col("neighbour_affinity").fill_null(0.0),
            (
                pl.col("user_vegetarian_order_ratio")
                * pl.col("restaurant_vegetarian_item_share")
            ).alias("vegetarian_match"),
            (
                pl.col("user_vegetarian_order_ratio")
                * (1 - pl.col("restaurant_has_vegetarian_options"))
            ).alias("vegetarian_gap"),
        )
    )


def _haversine_km(
    latitude_a: str, longitude_a: str, latitude_b: str, longitude_b: str
) -> pl.Expr:
    phi_a = pl.col(latitude_a).radians()
    phi_b = pl.col(latitude_b).radians()
    d_phi = phi_b - phi_a
    d_lambda = (pl.col(longitude_b) - pl.col(longitude_a)).radians()
    a = (d_phi / 2).sin().pow(2) + phi_a.cos() * phi_b.cos() * (d_lambda / 2).sin().pow(
        2
    )
    return 2 * EARTH_RADIUS_KM * a.sqrt().arcsin()


def _cuisine_affinity(indexed: pl.DataFrame) -> pl.DataFrame:
    # Exploded once per user, not once per pair: a user has many candidates.
    shares = (
        indexed.select(
            _HISTORY,
            pl.col("user_cuisine_names").alias("cuisine"),
            pl.col("user_cuisine_shares").alias("share"),
        )
        .unique(_HISTORY)
        .explode("cuisine", "share")
        .drop_nulls("cuisine")
    )
    offered = (
        indexed.select(
            _PAIR_INDEX, _HISTORY, pl.col("restaurant_cuisines").alias("cuisine")
        )
        .explode("cuisine")
        .drop_nulls("cuisine")
    )
    return (
        offered.join(shares, on=[_HISTORY, "cuisine"], how="inner")
        .group_by(_PAIR_INDEX)
        .agg(pl.col("share").max().alias("cuisine_affinity"))
    )


def _neighbour_affinity(indexed: pl.DataFrame) -> pl.DataFrame:
    # Per distinct history and distinct neighbour list, not per pair.
    visits = (
        indexed.select(_HISTORY, pl.col("user_visited_restaurant_ids").alias("_id"))
        .unique(_HISTORY)
        .explode("_id")
        .drop_nulls("_id")
        .group_by(_HISTORY, "_id")
        .agg(pl.len().cast(pl.Float64).alias("_orders"))
    )
    ids = pl.col("restaurant_neighbour_ids")
    similarities = pl.col("restaurant_neighbour_similarities")
    neighbours = (
        indexed.select(_NEIGHBOURS, ids.alias("_id"), similarities.alias("_similarity"))
        .unique(_NEIGHBOURS)
        # Lists that do not pair up (one missing, or lengths differ) give no
        # neighbours rather than an error.
        .filter(pl.col("_id").list.len() == pl.col("_similarity").list.len())
        .explode("_id", "_similarity")
        .drop_nulls("_id")
    )
    wanted = indexed.select(_HISTORY, _NEIGHBOURS).unique()
    # Joins return rows in no fixed order, and a float sum depends on its
    # order in the last bits: sorting first makes the feature repeatable.
    return (
        visits.join(neighbours, on="_id")
        .join(wanted, on=[_HISTORY, _NEIGHBOURS], how="semi")
        .sort(_HISTORY, _NEIGHBOURS, "_id")
        .group_by(_HISTORY, _NEIGHBOURS, maintain_order=True)
        .agg(
            (pl.col("_orders") * pl.col("_similarity"))
            .sum()
            .alias("neighbour_affinity")
        )
    )


def _past_orders(indexed: pl.DataFrame) -> pl.DataFrame:
    return (
        indexed.select(
            _HISTORY, pl.col("user_visited_restaurant_ids").alias(RESTAURANT_ID)
        )
        .unique(_HISTORY)
        .explode(RESTAURANT_ID)
        .drop_nulls(RESTAURANT_ID)
        .group_by(_HISTORY, RESTAURANT_ID)
        .agg(pl.len().cast(pl.Int64).alias("past_orders_here"))
    )


def pandas_pair_features(inputs: pd.DataFrame) -> pd.DataFrame:
    """Compute :func:`pair_features` on a pandas frame as Feast passes it to the
    on-demand view, and return float64 columns with NaN for unknown values.

    Feast passes list features as numpy arrays (or None), text with None or
    NaN for missing values, and integer features as floats when any is
    missing. pyarrow converts each column to the type of :data:`PAIR_INPUTS`
    (much faster than converting cell by cell in Python). A missing column is
    read as all nulls, because ``feast apply`` checks the view on made-up rows
    without join keys.
    """
    import pandas as pd

    height = len(inputs)
    columns: dict[str, pl.Series] = {}
    for key in (USER_ID, RESTAURANT_ID):
        values = (
            inputs[key].astype(str).tolist()
            if key in inputs.columns
            else [str(i) for i in range(height)]
        )
        columns[key] = pl.Series(key, values, dtype=pl.String)
    for name, dtype in PAIR_INPUTS.items():
        if name not in inputs.columns:
            columns[name] = pl.Series(name, [None] * height, dtype=dtype)
            continue
        columns[name] = pair_input_from_pandas(inputs, name)
    result = pair_features(pl.DataFrame(columns)).cast(pl.Float64)
    return pd.DataFrame(
        {name: result[name].to_numpy() for name in PAIR_FEATURES}, index=inputs.index
    )


def pair_input_from_pandas(inputs: pd.DataFrame, name: str) -> pl.Series:
    """Return the column ``name`` of :data:`PAIR_INPUTS` from a frame Feast
    returned, as a polars series of the input's type, null for missing."""
    import pyarrow as pa

    converted = pa.array(inputs[name], type=_ARROW_TYPES[name], from_pandas=True)
    return pl.Series(name, pl.from_arrow(converted)).cast(
        PAIR_INPUTS[name], strict=False
    )


def _arrow_type(dtype: pl.DataType) -> Any:
    """The pyarrow type a pandas column is read as before the cast to ``dtype``.

    Integers are read as floats, since Feast passes them as floats when any
    value is missing.
    """
    import pyarrow as pa

    if isinstance(dtype, pl.List):
        inner = dtype.inner
        return pa.list_(pa.string() if inner == pl.String else pa.float64())
    if dtype == pl.String:
        return pa.string()
    return pa.float64()


_ARROW_TYPES = {name: _arrow_type(dtype) for name, dtype in PAIR_INPUTS.items()}
