"""The points in time at which feature tables are computed.

Training needs the past as it was: each training example reads the features
of its cutoff, computed from orders strictly before it, and its label comes
from the orders after it. The feature build and the training run derive the
same cutoffs from the store and the ranker config, so every cutoff a training
row asks for has its feature rows in the Parquet files.

Orders with times (a delivery platform, the synthetic world) give
``cutoffs`` cutoffs, ``cutoff_every_days`` apart, the latest ``horizon_days``
before the serving cutoff; the labels of a cutoff are the orders placed in the
``horizon_days`` after it. The serving cutoff is midnight UTC after the last
order, so that a store loaded from a finished data set is served as of its
end rather than as of today.

Orders without times (the UCI ratings) have no past to cut. The ratings are
split into ``label_folds`` seeded folds instead; the snapshot of fold ``f``
sees the other folds, its labels are the ratings of fold ``f``, and it is
stamped ``f`` days after :data:`UNTIMED_EPOCH`, a placeholder date that only
keeps the folds apart in the feature tables. Their serving cutoff is the
time of the feature build.

Labels are defined once, by ``min_rating``: every order counts, or only
orders rated at least that value. Training and evaluation both filter with
:func:`relevant_orders`; the features still see every order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl

from features.schema import ORDER_ID, RESTAURANT_ID, USER_ID
from features.transforms import Snapshot, StoreFrames, compute_tables, snapshot_at
from models.splits import fold_assignment

logger = logging.getLogger(__name__)

UNTIMED_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class CutoffSettings:
    """How many training cutoffs, how far apart, and the label horizon."""

    label_folds: int = 5
    seed: int = 7
    cutoffs: int = 4
    cutoff_every_days: int = 7
    horizon_days: int = 7
    # Which orders are relevant labels: None counts every order; a number
    # counts only orders rated at least that much (unrated orders do not).
    min_rating: float | None = None

    def validate(self) -> None:
        """Raise ValueError naming the first setting out of range."""
        for name in ("label_folds", "cutoffs", "cutoff_every_days", "horizon_days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                msg = f"{name} must be a positive integer, got {value!r}"
                raise ValueError(msg)
        if self.label_folds < 2:
            msg = f"label_folds must be at least 2, got {self.label_folds}"
            raise ValueError(msg)


def relevant_orders(orders: pl.DataFrame, min_rating: float | None) -> pl.DataFrame:
    """Keep the orders that count as relevant labels under ``min_rating``."""
    if min_rating is None:
        return orders
    return orders.filter(pl.col("rating") >= min_rating)


def describe_relevance(min_rating: float | None) -> str:
    """Describe the label definition in words, for reports and model metadata."""
    if min_rating is None:
        return "any order"
    return f"orders rated at least {min_rating:g}"


@dataclass(frozen=True)
class LabelledSnapshot:
    """A training snapshot and the (user, restaurant) pairs ordered after it."""

    snapshot: Snapshot
    labels: pl.DataFrame
    # Whether restaurants the user ordered from before stay candidates.
    repeats_allowed: bool


def has_order_times(store: StoreFrames) -> bool:
    """Return whether every order has a time (and there is at least one)."""
    orders = store.orders
    return orders.height > 0 and orders["ordered_at"].null_count() == 0


def serving_cutoff(store: StoreFrames, now: datetime | None = None) -> datetime:
    """Return midnight UTC after the last order, or ``now`` for orders without
    times."""
    if not has_order_times(store):
        return now if now is not None else datetime.now(UTC)
    last = store.orders["ordered_at"].max()
    assert isinstance(last, datetime)
    day = last.replace(hour=0, minute=0, second=0, microsecond=0)
    return (day + timedelta(days=1)).replace(tzinfo=UTC)


def training_snapshots(
    store: StoreFrames, settings: CutoffSettings
) -> list[LabelledSnapshot]:
    """Return the labelled snapshots that training reads, oldest first.

    Raises:
        ValueError: a setting is out of range, or ``min_rating`` leaves no
            order to count as a label.
    """
    settings.validate()
    minimum = settings.min_rating
    orders = store.orders
    if (
        minimum is not None
        and orders.height
        and relevant_orders(orders, minimum).is_empty()
    ):
        rated = orders.height - orders["rating"].null_count()
        msg = (
            f"relevance.min_rating is {minimum:g}, but no order has a rating of "
            f"at least {minimum:g} ({rated} of {orders.height} orders have a "
            "rating), so no order counts as a label; lower min_rating, or set "
            "it to null to count every order"
        )
        raise ValueError(msg)
    if has_order_times(store):
        return _timed_snapshots(store, settings)
    untimed = store.orders["ordered_at"].null_count()
    if 0 < untimed < store.orders.height:
        logger.warning(
            "%d of %d orders have no time, so training uses %d label folds and "
            "ignores the order times",
            untimed,
            store.orders.height,
            settings.label_folds,
        )
    return _fold_snapshots(store, settings)


def check_cutoff_span(store: StoreFrames, settings: CutoffSettings) -> None:
    """Raise ValueError when orders with times span too few days for the
    training cutoffs of ``settings``; orders without times pass."""
    if not has_order_times(store):
        return
    end = serving_cutoff(store)
    horizon = timedelta(days=settings.horizon_days)
    earliest = (
        end
        - horizon
        - timedelta(days=(settings.cutoffs - 1) * settings.cutoff_every_days)
    )
    first = store.orders["ordered_at"].min()
    assert isinstance(first, datetime)
    if earliest.replace(tzinfo=None) <= first:
        span = (end.replace(tzinfo=None) - first).days
        needed = (settings.cutoffs - 1) * settings.cutoff_every_days
        needed += settings.horizon_days
        msg = (
            f"the orders span {span} days ({first:%Y-%m-%d} to the serving cutoff "
            f"{end:%Y-%m-%d}), too few for the training cutoffs: the earliest "
            f"cutoff ({earliest:%Y-%m-%d}) is {needed} days before the serving "
            "cutoff and must come after the first order; lower cutoffs.count, "
            "every_days or horizon_days in the ranker config"
        )
        raise ValueError(msg)


def _timed_snapshots(
    store: StoreFrames, settings: CutoffSettings
) -> list[LabelledSnapshot]:
    check_cutoff_span(store, settings)
    end = serving_cutoff(store)
    horizon = timedelta(days=settings.horizon_days)
    snapshots = []
    for index in reversed(range(settings.cutoffs)):
        cutoff = end - horizon - timedelta(days=index * settings.cutoff_every_days)
        start, stop = (
            cutoff.replace(tzinfo=None),
            (cutoff + horizon).replace(tzinfo=None),
        )
        window = store.orders.filter(
            (pl.col("ordered_at") >= start) & (pl.col("ordered_at") < stop)
        )
        labels = relevant_orders(window, settings.min_rating).select(
            USER_ID, RESTAURANT_ID
        )
        snapshots.append(
            LabelledSnapshot(snapshot_at(store, cutoff), labels, repeats_allowed=True)
        )
    return snapshots


def _fold_snapshots(
    store: StoreFrames, settings: CutoffSettings
) -> list[LabelledSnapshot]:
    orders = store.orders.sort(ORDER_ID)
    folds = pl.Series(
        fold_assignment(orders.height, settings.label_folds, settings.seed)
    )
    snapshots = []
    for fold in range(settings.label_folds):
        in_fold = folds == fold
        snapshot = Snapshot(
            store=store,
            orders=orders.filter(~in_fold),
            cutoff=UNTIMED_EPOCH + timedelta(days=fold),
        )
        labels = relevant_orders(orders.filter(in_fold), settings.min_rating).select(
            USER_ID, RESTAURANT_ID
        )
        snapshots.append(LabelledSnapshot(snapshot, labels, repeats_allowed=False))
    return snapshots


def feature_history(
    store: StoreFrames, settings: CutoffSettings, now: datetime | None = None
) -> dict[str, pl.DataFrame]:
    """Compute every feature table at every training cutoff and at the serving
    cutoff, and stack each table's rows into one frame."""
    snapshots = [labelled.snapshot for labelled in training_snapshots(store, settings)]
    snapshots.append(snapshot_at(store, serving_cutoff(store, now)))
    stacked: dict[str, list[pl.DataFrame]] = {}
    for snapshot in snapshots:
        for name, frame in compute_tables(snapshot).items():
            stacked.setdefault(name, []).append(frame)
    return {name: stack_cutoffs(name, frames) for name, frames in stacked.items()}


def stack_cutoffs(table_name: str, frames: list[pl.DataFrame]) -> pl.DataFrame:
    """Stack the rows of one feature table computed at several cutoffs.

    A column that is all null at one cutoff may have polars type ``Null``
    there, as ``pl.lit(None)`` gives, and takes the type it has at the
    other cutoffs. A column typed ``Null`` at every cutoff stays so, and the
    check of the feature views rejects it.

    Raises:
        ValueError: a column has two types that no common type covers;
            names the table, the column and the types.
    """
    try:
        return pl.concat(frames, how="vertical_relaxed")
    except (pl.exceptions.SchemaError, pl.exceptions.ComputeError) as error:
        for column in frames[0].columns:
            types = sorted({str(f.schema.get(column)) for f in frames})
            if len(types) > 1:
                msg = (
                    f"feature table {table_name}: column {column} has the types "
                    f"{', '.join(types)} at different cutoffs. Its transform "
                    "must return one type at every cutoff, for example with "
                    "pl.lit(None, pl.Float64) in place of pl.lit(None)"
                )
                raise ValueError(msg) from error
        raise
