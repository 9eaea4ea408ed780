"""Candidate restaurants per user: the short list the ranker orders.

Scoring every restaurant for every user stops scaling with the catalogue, so
each user gets at most ``total`` candidates, pooled from five sources in this
order of priority:

- ``history``: restaurants the user ordered from before;
- ``collaborative``: co-visitation, the restaurants most often ordered by
  the users who ordered from the user's restaurants, weighted by cosine
  similarity;
- ``content``: restaurants serving a cuisine the user ordered or declared;
- ``local``: the most ordered restaurants of the user's city;
- ``popular``: the most ordered restaurants overall.

Within a source, candidates are taken by its weight, then by popularity, then
by restaurant id, so the list is deterministic. When the catalogue has no more
than ``total`` open restaurants, every one of them is a candidate (source
``all``) and nothing is missed. The ranker cannot recover a restaurant that no
source proposes: :func:`candidate_recall` measures that loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from features.schema import RESTAURANT_ID, USER_ID
from features.taste import co_ordered
from features.transforms import Snapshot
from models._candidate_sources import (
    _co_visited,
    _most_popular,
    _same_city,
    _same_cuisine,
)

SOURCE = "source"
SOURCES = ("history", "collaborative", "content", "local", "popular")
# Restaurants kept per restaurant in the co-visitation lists.
CO_VISITED_PER_RESTAURANT = 30
# Co-visitation is counted over at most this many users, chosen by a hash of
# their id, so that its self-join stays bounded on millions of users.
CO_VISIT_USERS = 100_000


@dataclass(frozen=True)
class CandidateSettings:
    """How many candidates each source may add, and the cap per user."""

    total: int = 500
    collaborative: int = 150
    content: int = 150
    local: int = 200
    popular: int = 100

    def validate(self) -> None:
        """Raise ValueError naming the first count that is not positive."""
        for name in ("total", *SOURCES[1:]):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                msg = f"candidates: {name} must be a positive integer, got {value!r}"
                raise ValueError(msg)


def generate_candidates(
    snapshot: Snapshot,
    user_ids: list[str],
    restaurant_ids: list[str],
    settings: CandidateSettings,
) -> pl.DataFrame:
    """Candidate pairs for ``user_ids`` among ``restaurant_ids`` (the open ones).

    Columns ``user_id``, ``restaurant_id`` and ``source`` (the first source, in
    priority order, that proposed the pair), sorted by user and restaurant.
    """
    settings.validate()
    users = pl.DataFrame({USER_ID: user_ids}, schema={USER_ID: pl.String})
    restaurants = pl.DataFrame(
        {RESTAURANT_ID: restaurant_ids}, schema={RESTAURANT_ID: pl.String}
    )
    if restaurants.height <= settings.total:
        return (
            users.join(restaurants, how="cross")
            .with_columns(pl.lit("all").alias(SOURCE))
            .sort(USER_ID, RESTAURANT_ID)
        )

    orders = snapshot.orders.select(USER_ID, RESTAURANT_ID).join(
        restaurants, on=RESTAURANT_ID, how="semi"
    )
    # The pooling below joins and sorts tens of millions of proposals on
    # large worlds, so it runs on integer codes in place of the ids. Codes
    # follow the id order, so ties broken by code are broken by id.
    codes = _Codes(
        users=pl.concat([users, orders.select(USER_ID)]).unique().sort(USER_ID),
        restaurants=restaurants.unique().sort(RESTAURANT_ID),
    )
    neighbours = codes.encode(
        co_ordered(orders, CO_VISITED_PER_RESTAURANT, CO_VISIT_USERS),
        restaurants=(RESTAURANT_ID, "neighbour_id"),
    )
    store = snapshot.store
    pooled = _pooled(
        codes.encode(orders),
        codes.encode(users),
        codes.encode(restaurants),
        codes.encode(store.users.select(USER_ID, "liked_cuisines", "city")),
        codes.encode(store.restaurants.select(RESTAURANT_ID, "cuisines", "city")),
        neighbours,
        settings,
    )
    # Codes sort as their ids do.
    return codes.decode(pooled.sort(USER_ID, RESTAURANT_ID))


@dataclass(frozen=True)
class _Codes:
    """Integer codes of user and restaurant ids: the row of each id in the
    sorted frames given."""

    users: pl.DataFrame
    restaurants: pl.DataFrame

    def encode(
        self,
        frame: pl.DataFrame,
        users: tuple[str, ...] = (USER_ID,),
        restaurants: tuple[str, ...] = (RESTAURANT_ID,),
    ) -> pl.DataFrame:
        """Replace the id columns present in ``frame`` by their codes, dropping
        the rows of ids without one."""
        for columns, ids, key in (
            (users, self.users, USER_ID),
            (restaurants, self.restaurants, RESTAURANT_ID),
        ):
            table = ids.with_row_index("_code")
            for column in columns:
                if column not in frame.columns:
                    continue
                frame = (
                    frame.join(
                        table.rename({key: column}),
                        on=column,
                        how="inner",
                        maintain_order="left",
                    )
                    .drop(column)
                    .rename({"_code": column})
                )
        return frame

    def decode(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Replace the codes of ``user_id`` and ``restaurant_id`` by the ids."""
        return frame.with_columns(
            self.users[USER_ID].gather(frame[USER_ID]),
            self.restaurants[RESTAURANT_ID].gather(frame[RESTAURANT_ID]),
        )


def _pooled(
    orders: pl.DataFrame,
    users: pl.DataFrame,
    restaurants: pl.DataFrame,
    store_users: pl.DataFrame,
    store_restaurants: pl.DataFrame,
    neighbours: pl.DataFrame,
    settings: CandidateSettings,
) -> pl.DataFrame:
    """Pool the sources' proposals for ``users``: columns ``user_id``,
    ``restaurant_id`` and ``source``. Every frame contains codes, not ids, and
    ``restaurants`` and ``store_restaurants`` only the open restaurants."""
    popularity = restaurants.join(
        orders.group_by(RESTAURANT_ID).len("_popularity"), on=RESTAURANT_ID, how="left"
    ).with_columns(pl.col("_popularity").fill_null(0))
    visited = orders.join(users, on=USER_ID, how="semi").unique()

    proposals = [
        visited.with_columns(pl.lit(0.0).alias("_weight"), pl.lit(0).alias("_rank")),
        _tagged(
            _co_visited(neighbours, visited, restaurants.height),
            1,
            settings.collaborative,
            popularity,
            visited,
        ),
        _tagged(
            _same_cuisine(
                store_users,
                store_restaurants,
                users,
                visited,
                popularity,
                settings.content,
            ),
            2,
            settings.content,
            popularity,
            visited,
        ),
        _tagged(
            _same_city(
                store_users, store_restaurants, users, popularity, settings.local
            ),
            3,
            None,
            popularity,
            visited,
        ),
        _tagged(
            users.join(_most_popular(popularity, settings.popular), how="cross"),
            4,
            None,
            popularity,
            visited,
        ),
    ]
    # A restaurant that several sources propose keeps the proposal of the
    # first source. Sorted by pair, then source, those proposals sit side by
    # side, and the first of each pair is kept. One integer per pair sorts
    # much faster than two columns.
    pair = pl.col(USER_ID).cast(pl.UInt64) * restaurants.height + pl.col(RESTAURANT_ID)
    distinct = (
        pl.concat(
            [p.select(USER_ID, RESTAURANT_ID, "_weight", "_rank") for p in proposals]
        )
        .with_columns(pair.alias("_pair"))
        .sort("_pair", "_rank")
        .filter(pl.col("_pair").ne_missing(pl.col("_pair").shift(1)))
        .drop("_pair")
    )
    # Users with more than `total` distinct proposals keep the first ones, in
    # source order, then by weight, popularity and id.
    over = pl.len().over(USER_ID) > settings.total
    capped = pl.concat(
        [
            distinct.filter(~over),
            distinct.filter(over)
            .join(popularity, on=RESTAURANT_ID, how="left")
            .sort(
                [USER_ID, "_rank", "_weight", "_popularity", RESTAURANT_ID],
                descending=[False, False, True, True, False],
            )
            .filter(pl.int_range(pl.len()).over(USER_ID) < settings.total)
            .drop("_popularity"),
        ]
    )
    names = pl.Series(SOURCE, SOURCES)
    return capped.with_columns(names.gather(capped["_rank"]).alias(SOURCE)).select(
        USER_ID, RESTAURANT_ID, SOURCE
    )


def _tagged(
    proposals: pl.DataFrame,
    rank: int,
    limit: int | None,
    popularity: pl.DataFrame,
    visited: pl.DataFrame,
) -> pl.DataFrame:
    """Keep each user's ``limit`` best proposals of one source, leaving out the
    restaurants of the user's history, which are candidates already.

    ``limit`` None is for sources that propose at most their limit per user,
    all of them open: their proposals are kept as they are, and the pooling
    drops those in the history.
    """
    fresh = proposals
    if limit is not None:
        order = [pl.col("_weight"), pl.col("_popularity"), pl.col(RESTAURANT_ID)]
        fresh = (
            fresh.join(visited, on=[USER_ID, RESTAURANT_ID], how="anti")
            .join(popularity, on=RESTAURANT_ID)
            .group_by(USER_ID)
            .agg(
                pl.col(name).top_k_by(order, k=limit, reverse=[False, False, True])
                for name in (RESTAURANT_ID, "_weight")
            )
            .explode(RESTAURANT_ID, "_weight")
        )
    return fresh.select(USER_ID, RESTAURANT_ID, "_weight").with_columns(
        pl.lit(rank).alias("_rank")
    )


def candidate_recall(candidates: pl.DataFrame, relevant: pl.DataFrame) -> float:
    """Share of the relevant (user, restaurant) pairs that are candidates; nan
    when there is no relevant pair."""
    pairs = relevant.select(USER_ID, RESTAURANT_ID).unique()
    if pairs.height == 0:
        return float("nan")
    found = pairs.join(candidates, on=[USER_ID, RESTAURANT_ID], how="semi").height
    return found / pairs.height
