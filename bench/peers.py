"""LightFM as a peer of the ranker, behind the baseline interface.

:class:`LightFMPeer` follows :class:`models.baselines.Baseline`: it is fitted
on a split's training orders and scores candidate rows, so the quality
benchmark trains and scores it on exactly the splits of the ranker. LightFM
comes from the ``lightfm-next`` package (``import lightfm``).

Each relevant training order is one positive interaction. Relevance is the
ranker's: every order, or with ``min_rating`` only the orders rated at least
that much (:func:`models.cutoffs.relevant_orders`).

Identity features exist only for users and restaurants with at least one
training order. Any other id, whether it is in the store's tables without
orders or absent from them, is scored as LightFM scores a row without an
identity feature. In the pure model that row is all zeros, so an unknown
user's score for a restaurant is the restaurant's bias. Every unknown
restaurant gets the user's bias, the same for all of them. In the hybrid
model an unknown restaurant that is in ``frames.restaurants`` keeps its
attribute features, which is how the hybrid ranks restaurants without orders.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl
from lightfm import LightFM
from scipy import sparse

from features.schema import RESTAURANT_ID, USER_ID
from features.transforms import StoreFrames, restaurant_menu, snapshot_at
from models.cutoffs import relevant_orders

DEFAULT_SEED = 0


class LightFMPeer:
    """A LightFM model, pure collaborative or hybrid with restaurant attributes.

    Args:
        name: the model's name in the evaluation report.
        hybrid: add restaurant attributes to the restaurant identity features:
            cuisines, price level, city, chain, vegetarian options and the
            vegetarian share of the menu (see :func:`restaurant_attributes`).
            Users keep identity features only, so the two variants differ in
            the restaurant side alone.
        components: dimension of the latent vectors.
        epochs: passes over the training interactions.
        loss: LightFM loss, ``warp``, ``bpr``, ``warp-kos`` or ``logistic``.
        seed: seed of LightFM's initialisation and negative sampling. With
            one thread, the same seed and data give the same scores.
        min_rating: with a value, only orders rated at least that much are
            interactions; None counts every order.
    """

    def __init__(
        self,
        name: str,
        hybrid: bool,
        components: int = 16,
        epochs: int = 30,
        loss: str = "warp",
        seed: int = DEFAULT_SEED,
        min_rating: float | None = None,
    ) -> None:
        if components < 1 or epochs < 1:
            msg = (
                f"components and epochs must be at least 1, got {components} "
                f"and {epochs}"
            )
            raise ValueError(msg)

        self.name = name
        self.hybrid = hybrid
        self.components = components
        self.epochs = epochs
        self.loss = loss
        self.seed = seed
        self.min_rating = min_rating
        self._model: LightFM | None = None
        self._users: dict[str, int] = {}
        self._restaurants: dict[str, int] = {}
        self._user_features: sparse.csr_matrix | None = None
        self._item_features: sparse.csr_matrix | None = None

    def fit(self, frames: StoreFrames) -> None:
        """Train on the relevant orders of ``frames`` as positive interactions.

        Raises:
            ValueError: no order is relevant, so there is nothing to learn.
        """
        # Sorted because LightFM visits the interactions in a seeded shuffle
        # of their input order.
        orders = (
            relevant_orders(frames.orders, self.min_rating)
            .select(USER_ID, RESTAURANT_ID)
            .unique()
            .sort(USER_ID, RESTAURANT_ID)
        )
        if orders.height == 0:
            msg = (
                f"{self.name}: no relevant training orders to fit LightFM on "
                f"(min_rating {self.min_rating})"
            )
            raise ValueError(msg)

        ordering_users = sorted(orders[USER_ID].unique().to_list())
        ordered_restaurants = sorted(orders[RESTAURANT_ID].unique().to_list())
        attributes = restaurant_attributes(frames) if self.hybrid else {}
        catalogue = sorted(set(ordered_restaurants) | set(attributes))

        self._users = {user_id: i for i, user_id in enumerate(ordering_users)}
        self._restaurants = {rid: i for i, rid in enumerate(catalogue)}
        user_features = sparse.identity(
            len(ordering_users), dtype=np.float32, format="csr"
        )
        item_features = _item_rows(catalogue, set(ordered_restaurants), attributes)
        interactions = sparse.coo_matrix(
            (
                np.ones(orders.height, dtype=np.float32),
                (
                    _indices(orders[USER_ID], self._users),
                    _indices(orders[RESTAURANT_ID], self._restaurants),
                ),
            ),
            shape=(len(ordering_users), len(catalogue)),
        )
        model = LightFM(
            no_components=self.components, loss=self.loss, random_state=self.seed
        )
        model.fit(
            interactions,
            user_features=user_features,
            item_features=item_features,
            epochs=self.epochs,
            num_threads=1,
        )
        self._model = model
        # LightFM learns one vector per feature column, so rows can be added
        # after training. The appended zero row scores every id unknown here.
        self._user_features = _with_zero_row(user_features)
        self._item_features = _with_zero_row(item_features)

    def score(self, rows: pl.DataFrame) -> np.ndarray:
        """Score each (user_id, restaurant_id) row; higher ranks first."""
        if self._model is None:
            msg = f"{self.name}: call fit before score"
            raise RuntimeError(msg)

        scores = self._model.predict(
            _indices(rows[USER_ID], self._users),
            _indices(rows[RESTAURANT_ID], self._restaurants),
            user_features=self._user_features,
            item_features=self._item_features,
            num_threads=1,
        )
        return np.asarray(scores, dtype=np.float64)


def restaurant_attributes(frames: StoreFrames) -> dict[str, dict[str, float]]:
    """Map each restaurant id to its attribute features and their weights.

    The features are ``cuisine:<tag>`` per cuisine, ``price_level:<level>``,
    ``city:<name>`` and ``chain`` with weight 1, ``vegetarian_options:yes`` or
    ``:no`` when known (from the menu, or else from a vegetarian cuisine tag,
    as in the ``restaurant_menu`` feature table), and
    ``vegetarian_item_share`` weighted by the menu's vegetarian share. A
    missing value adds no feature.
    """
    # restaurant_menu reads only the restaurants and menus, which have no
    # history, so the cutoff of the snapshot does not matter.
    menu = restaurant_menu(snapshot_at(frames, datetime.now(UTC)))
    table = frames.restaurants.select(
        RESTAURANT_ID, "cuisines", "price_level", "city", "is_chain"
    ).join(
        menu.select(
            RESTAURANT_ID,
            "restaurant_has_vegetarian_options",
            "restaurant_vegetarian_item_share",
        ),
        on=RESTAURANT_ID,
        how="left",
    )
    return {
        row[RESTAURANT_ID]: _attribute_weights(row)
        for row in table.iter_rows(named=True)
    }


def _attribute_weights(row: dict[str, Any]) -> dict[str, float]:
    weights = {f"cuisine:{tag}": 1.0 for tag in row["cuisines"] or []}
    if row["price_level"] is not None:
        weights[f"price_level:{row['price_level']}"] = 1.0
    if row["city"] is not None:
        weights[f"city:{row['city']}"] = 1.0
    if row["is_chain"]:
        weights["chain"] = 1.0
    options = row["restaurant_has_vegetarian_options"]
    if options is not None:
        weights[f"vegetarian_options:{'yes' if options else 'no'}"] = 1.0
    share = row["restaurant_vegetarian_item_share"]
    if share:
        weights["vegetarian_item_share"] = float(share)
    return weights


def _with_zero_row(features: sparse.csr_matrix) -> sparse.csr_matrix:
    zero_row = sparse.csr_matrix((1, features.shape[1]), dtype=features.dtype)
    return sparse.vstack([features, zero_row], format="csr")


def _item_rows(
    catalogue: list[str],
    ordered: set[str],
    attributes: dict[str, dict[str, float]],
) -> sparse.csr_matrix:
    """Feature rows of the catalogue, one per restaurant in its order.

    Identity columns come first, one per ordered restaurant, then one column
    per attribute. Each row is scaled to sum to 1, as LightFM's ``Dataset``
    does by default, so a restaurant's representation is the weighted mean of
    its feature vectors.
    """
    identity_columns = {rid: i for i, rid in enumerate(sorted(ordered))}
    names = sorted({name for weights in attributes.values() for name in weights})
    attribute_columns = {
        name: len(identity_columns) + i for i, name in enumerate(names)
    }
    rows, columns, values = [], [], []
    for row, restaurant_id in enumerate(catalogue):
        weights = attributes.get(restaurant_id, {})
        entries = [
            (attribute_columns[name], weight) for name, weight in weights.items()
        ]
        if restaurant_id in identity_columns:
            entries.append((identity_columns[restaurant_id], 1.0))
        total = sum(weight for _, weight in entries)
        for column, weight in entries:
            rows.append(row)
            columns.append(column)
            values.append(weight / total)
    shape = (len(catalogue), len(identity_columns) + len(attribute_columns))
    return sparse.csr_matrix(
        (np.asarray(values, dtype=np.float32), (rows, columns)), shape=shape
    )


def _indices(ids: Iterable[str], index: dict[str, int]) -> np.ndarray:
    """Look up the row index of each id. An id missing from ``index`` gets
    ``len(index)``, the zero row that :meth:`LightFMPeer.fit` appends."""
    zero_row = len(index)
    return np.fromiter(
        (index.get(identifier, zero_row) for identifier in ids), dtype=np.int32
    )
