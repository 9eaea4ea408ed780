"""Labelled (user, restaurant, cutoff) rows and their features.

:func:`labelled_rows` turns the labelled snapshots of ``models.cutoffs`` into
query groups: per snapshot, each user with a label gets one group of
candidate restaurants, labelled 1 when ordered from after the cutoff. The
features of those rows come either from Feast (:func:`rows_from_feast`, what
training reads, point-in-time correct through ``get_historical_features``)
or from tables computed in memory (:func:`rows_in_memory`, what evaluation
reads on its splits). Both add the pair features with
``features.pairs.pair_features``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from features.pairs import PAIR_INPUTS, pair_input_from_pandas
from features.schema import EVENT_TIMESTAMP, RESTAURANT_ID, USER_ID
from models._dataset_memory import CutoffRows as CutoffRows
from models._dataset_memory import rows_in_memory as rows_in_memory
from models._dataset_memory import with_pair_features
from models.candidates import CandidateSettings, generate_candidates
from models.cutoffs import LabelledSnapshot

if TYPE_CHECKING:
    from feast import FeatureStore

LABEL = "label"
GROUP = "group"
# Training rows read from Feast per call of get_historical_features.
FEAST_CHUNK_ROWS = 250_000


@dataclass(frozen=True)
class TrainingSet:
    """Feature rows sorted by query group, with labels and group sizes."""

    rows: pl.DataFrame
    group_sizes: np.ndarray


def open_restaurants(labelled: LabelledSnapshot) -> list[str]:
    """Return the restaurants open at the snapshot's cutoff, sorted (a restaurant
    without an opening time counts as open)."""
    restaurants = labelled.snapshot.store.restaurants
    cutoff = labelled.snapshot.cutoff_naive
    if labelled.repeats_allowed:
        restaurants = restaurants.filter(
            pl.col("opened_at").is_null() | (pl.col("opened_at") < cutoff)
        )
    return sorted(restaurants[RESTAURANT_ID].to_list())


def candidate_pairs(
    user_ids: list[str], restaurant_ids: list[str], exclude: pl.DataFrame | None
) -> pl.DataFrame:
    """Every (user, restaurant) pair except those in ``exclude``."""
    users = pl.DataFrame({USER_ID: user_ids}, schema={USER_ID: pl.String})
    restaurants = pl.DataFrame(
        {RESTAURANT_ID: restaurant_ids}, schema={RESTAURANT_ID: pl.String}
    )
    pairs = users.join(restaurants, how="cross", maintain_order="left_right")
    if exclude is None:
        return pairs
    return pairs.join(
        exclude.select(USER_ID, RESTAURANT_ID),
        on=[USER_ID, RESTAURANT_ID],
        how="anti",
        maintain_order="left",
    )


def snapshot_candidates(
    labelled: LabelledSnapshot, settings: CandidateSettings | None
) -> pl.DataFrame:
    """Return the candidate pairs of a snapshot's labelled users.

    Every open restaurant when ``settings`` is None, else the pooled sources
    of :func:`models.candidates.generate_candidates`. When repeats are not
    allowed (ratings without times), the restaurants a user rated in the
    visible orders are left out. Columns ``user_id``, ``restaurant_id``.
    """
    users = sorted(labelled.labels[USER_ID].unique().to_list())
    exclude = None if labelled.repeats_allowed else labelled.snapshot.orders
    if settings is None:
        return candidate_pairs(users, open_restaurants(labelled), exclude)
    pairs = generate_candidates(
        labelled.snapshot, users, open_restaurants(labelled), settings
    ).select(USER_ID, RESTAURANT_ID)
    if exclude is None:
        return pairs
    return pairs.join(
        exclude.select(USER_ID, RESTAURANT_ID),
        on=[USER_ID, RESTAURANT_ID],
        how="anti",
        maintain_order="left",
    )


def labelled_rows(
    snapshots: list[LabelledSnapshot],
    negatives_per_group: int | None,
    seed: int,
    candidates: CandidateSettings | None = None,
    add_missed_positives: bool = True,
    max_users_per_cutoff: int | None = None,
) -> pl.DataFrame:
    """One row per (snapshot, labelled user, candidate restaurant).

    Columns: ``user_id``, ``restaurant_id``, ``event_timestamp`` (the cutoff),
    ``label`` (1 when the user ordered there after the cutoff) and ``group``
    (the snapshot's index). Candidates come from :func:`snapshot_candidates`.
    With ``add_missed_positives`` (training), an ordered restaurant that no
    candidate source proposed is added to its group, so the ranker still
    learns from it. Evaluation turns it off, so that a miss of the candidates
    counts as a miss. Users whose group would hold no positive are left out.
    With ``negatives_per_group``, each group keeps all its positives and that
    many negatives drawn at random (seeded). With ``max_users_per_cutoff``,
    each snapshot keeps the labels of at most that many users, drawn at random
    (seeded): on millions of users, a sample of groups trains about as well
    in a fraction of the time.
    """
    parts = []
    for index, labelled in enumerate(snapshots):
        if max_users_per_cutoff is not None:
            labelled = _sample_users(labelled, max_users_per_cutoff, seed + index)
        if labelled.labels.height == 0:
            continue
        pairs = snapshot_candidates(labelled, candidates)
        # A repeated order is one positive, not two rows.
        positives = labelled.labels.select(
            USER_ID, RESTAURANT_ID, pl.lit(1, pl.Int64).alias(LABEL)
        ).unique()
        if add_missed_positives and candidates is not None:
            missed = positives.join(
                pairs, on=[USER_ID, RESTAURANT_ID], how="anti"
            ).join(
                pl.DataFrame(
                    {RESTAURANT_ID: open_restaurants(labelled)},
                    schema={RESTAURANT_ID: pl.String},
                ),
                on=RESTAURANT_ID,
                how="semi",
            )
            pairs = pl.concat([pairs, missed.select(USER_ID, RESTAURANT_ID)])
        pairs = pairs.join(
            positives, on=[USER_ID, RESTAURANT_ID], how="left", maintain_order="left"
        )
        pairs = pairs.with_columns(pl.col(LABEL).fill_null(0))
        # A group without a positive (the user only ordered from restaurants
        # that opened after the cutoff) teaches lambdarank nothing.
        pairs = pairs.filter(pl.col(LABEL).max().over(USER_ID) == 1)
        if negatives_per_group is not None:
            pairs = _sample_negatives(pairs, negatives_per_group, seed + index)
        parts.append(
            pairs.with_columns(
                pl.lit(labelled.snapshot.cutoff, pl.Datetime("us", "UTC")).alias(
                    EVENT_TIMESTAMP
                ),
                pl.lit(index, pl.Int64).alias(GROUP),
            )
        )
    if not parts:
        msg = "no snapshot has labels: there are no orders after any cutoff"
        raise ValueError(msg)
    return pl.concat(parts).sort(GROUP, USER_ID, RESTAURANT_ID)


def _sample_users(
    labelled: LabelledSnapshot, count: int, seed: int
) -> LabelledSnapshot:
    users = labelled.labels[USER_ID].unique().sort()
    if users.len() <= count:
        return labelled
    chosen = users.sample(count, seed=seed)
    return replace(
        labelled, labels=labelled.labels.filter(pl.col(USER_ID).is_in(chosen.implode()))
    )


def _sample_negatives(pairs: pl.DataFrame, count: int, seed: int) -> pl.DataFrame:
    draw = pl.Series("_draw", np.random.default_rng(seed).random(pairs.height))
    kept = pairs.with_columns(draw).filter(
        (pl.col(LABEL) == 1)
        | (pl.col("_draw").rank("ordinal").over(USER_ID, LABEL) <= count)
    )
    return kept.drop("_draw")


def rows_from_feast(
    rows: pl.DataFrame, store: FeatureStore, feature_service: str
) -> pl.DataFrame:
    """Read each row's features at its cutoff with ``get_historical_features``.

    Rows of one user at one cutoff share that user's features, and rows of one
    restaurant at one cutoff share the restaurant's. So Feast reads each
    distinct (user, cutoff) and (restaurant, cutoff) once, with the features
    of the service's user views and restaurant views, and the results are
    joined to the rows. The pair features of the service's on-demand view
    are then computed from those inputs with ``features.pairs.pair_features``,
    the view's own transformation. On the million-user benchmark this reads
    about a hundredth of the rows that a read per (user, restaurant, cutoff)
    would, with the same values (tests/features/test_feast_features.py).

    Only scalar numeric features are kept (lists and strings are inputs of the
    pair features, not model inputs). Row order is kept.
    """
    names = numeric_features(store, feature_service)
    values = {
        key: _historical_by_entity(
            store, rows.select(key, EVENT_TIMESTAMP).unique(), key, references, names
        )
        for key, references in _entity_references(store, feature_service).items()
    }
    parts = []
    # The pair inputs hold lists per row (a user's past restaurants, a
    # restaurant's neighbours), so rows are joined to them a slice at a time.
    for start in range(0, rows.height, FEAST_CHUNK_ROWS):
        joined = rows.slice(start, FEAST_CHUNK_ROWS)
        for key, entity_values in values.items():
            joined = joined.join(
                entity_values,
                on=[key, EVENT_TIMESTAMP],
                how="left",
                maintain_order="left",
            )
        joined = joined.with_columns(
            pl.lit(None, dtype).alias(name)
            for name, dtype in PAIR_INPUTS.items()
            if name not in joined.columns
        )
        parts.append(
            with_pair_features(joined)
            .select(*rows.columns, *names)
            .with_columns(pl.col(names).cast(pl.Float64))
        )
    if not parts:
        return rows.with_columns(pl.lit(None, pl.Float64).alias(name) for name in names)
    return pl.concat(parts)


def _entity_references(
    store: FeatureStore, feature_service: str
) -> dict[str, list[str]]:
    """Return the ``view:feature`` references to read per join key: every
    feature of the service's views, and of the views its on-demand views read.
    """
    from feast.errors import FeatureViewNotFoundException

    service = store.get_feature_service(feature_service)
    by_key: dict[str, list[str]] = {}
    views = []
    for projection in service.feature_view_projections:
        try:
            view = store.get_feature_view(projection.name)
        except FeatureViewNotFoundException:
            on_demand = store.get_on_demand_feature_view(projection.name)
            views += [
                store.get_feature_view(source.name)
                for source in on_demand.source_feature_view_projections.values()
            ]
            continue
        views.append(view)
    for view in views:
        if len(view.join_keys) != 1:
            msg = (
                f"feature view {view.name} has join keys {view.join_keys}; "
                "training reads views keyed by one entity only"
            )
            raise ValueError(msg)
        references = by_key.setdefault(view.join_keys[0], [])
        for field in view.features:
            reference = f"{view.name}:{field.name}"
            if reference not in references:
                references.append(reference)
    return by_key


def _historical_by_entity(
    store: FeatureStore,
    entities: pl.DataFrame,
    key: str,
    references: list[str],
    numeric: list[str],
) -> pl.DataFrame:
    """Read ``references`` for distinct (``key``, cutoff) rows; return the
    numeric features as Float64 and the pair inputs in their own types."""
    import pyarrow as pa

    entity_df = entities.with_row_index("_entity")
    feature_names = [r.split(":", 1)[1] for r in references]
    parts = []
    # Feast builds the whole result in pandas, lists included, so memory
    # grows with the rows asked for at once; chunks keep it bounded.
    for start in range(0, entity_df.height, FEAST_CHUNK_ROWS):
        chunk = entity_df.slice(start, FEAST_CHUNK_ROWS)
        with warnings.catch_warnings():
            # ibis 12, under Feast's DuckDB offline store, calls a method that
            # DuckDB 2 deprecates.
            warnings.filterwarnings(
                "ignore", message="fetch_arrow_table", category=DeprecationWarning
            )
            result = store.get_historical_features(
                entity_df=chunk.to_pandas(), features=references
            ).to_df()
        columns = [pl.Series("_entity", result["_entity"].to_numpy(), pl.UInt32)]
        for name in feature_names:
            if name in PAIR_INPUTS:
                columns.append(pair_input_from_pandas(result, name))
            elif name in numeric:
                values = pa.array(result[name], from_pandas=True)
                columns.append(pl.Series(name, pl.from_arrow(values)).cast(pl.Float64))
        parts.append(pl.DataFrame(columns))
    values = pl.concat(parts, how="vertical_relaxed")
    return entity_df.join(values, on="_entity", how="left").drop("_entity")


def numeric_features(store: FeatureStore, feature_service: str) -> list[str]:
    """Return the scalar numeric features of a feature service, in its order:
    the model's inputs."""
    from feast.errors import FeatureServiceNotFoundException
    from feast.types import Bool, Float32, Float64, Int32, Int64

    from features.feast_store import FeaturesNotReadyError

    numeric = {Float64, Float32, Int64, Int32, Bool}
    try:
        service = store.get_feature_service(feature_service)
    except FeatureServiceNotFoundException as error:
        known = sorted(service.name for service in store.list_feature_services())
        if not known:
            msg = (
                f"feature service {feature_service!r} not found: the Feast "
                "registry has no feature service yet; run `recommender features` "
                "first"
            )
            raise FeaturesNotReadyError(msg) from error
        msg = (
            f"feature service {feature_service!r} not found in the Feast registry, "
            f"which has {', '.join(known)}; check feature_service in the ranker "
            "config or --feature-service, or run `recommender features` if the "
            "service was declared since its last run"
        )
        raise FeaturesNotReadyError(msg) from error
    names = []
    for projection in service.feature_view_projections:
        names += [f.name for f in projection.features if f.dtype in numeric]
    return names


def training_set(rows: pl.DataFrame) -> TrainingSet:
    """Sort featured rows into query groups and count each group's rows."""
    ordered = rows.sort(GROUP, USER_ID, RESTAURANT_ID)
    sizes = ordered.group_by(GROUP, USER_ID, maintain_order=True).len()["len"]
    return TrainingSet(rows=ordered, group_sizes=sizes.to_numpy())


def split_validation(training: TrainingSet) -> tuple[TrainingSet, TrainingSet | None]:
    """Hold out the groups of the latest snapshot as the validation window.

    The latest snapshot is the one with the highest ``group`` index: the
    latest cutoff for orders with times, the last label fold otherwise.
    Returns the set unchanged and None when it has only one snapshot.
    """
    latest = training.rows[GROUP].max()
    if training.rows[GROUP].n_unique() < 2:
        return training, None
    is_latest = pl.col(GROUP) == latest
    return (
        training_set(training.rows.filter(~is_latest)),
        training_set(training.rows.filter(is_latest)),
    )
