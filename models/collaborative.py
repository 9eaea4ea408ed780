"""Collaborative-filtering baselines on the user x restaurant order matrix.

Each baseline is fitted on a split's training orders, as a sparse matrix of
order counts with one row per user and one column per restaurant that
appears in those orders. A user or restaurant without training orders is
unknown to the matrix and scores 0.

- :class:`UserKnnBaseline`: user-based nearest neighbours, cosine similarity.
- :class:`ItemKnnBaseline`: item-based nearest neighbours, cosine similarity.
- :class:`AlsBaseline`: implicit-feedback matrix factorization by alternating
  least squares, from the ``implicit`` library.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from sparse_dot_topn import sp_matmul_topn
from threadpoolctl import threadpool_limits

from features.schema import RESTAURANT_ID, USER_ID
from features.transforms import StoreFrames
from models._sparse_rows import (
    edge_inside,
    keep_largest,
    largest_per_row,
    unit_rows,
    without_self,
)

# Dense blocks of scores or similarities are computed for this many cells at
# a time (32 MiB of float64), so memory stays bounded for many users.
_BLOCK_CELLS = 1 << 22
# Users whose similarities to every user are computed at once by user-kNN.
_SIMILARITY_USERS = 256


@dataclass(frozen=True)
class InteractionMatrix:
    """Order counts per (user, restaurant) of the training orders.

    Attributes:
        user_ids: row labels, sorted.
        restaurant_ids: column labels, sorted.
        counts: CSR matrix of shape (users, restaurants), float64.
    """

    user_ids: pl.Series
    restaurant_ids: pl.Series
    counts: sp.csr_matrix

    @classmethod
    def from_orders(cls, orders: pl.DataFrame) -> InteractionMatrix:
        """Count the orders of each (user, restaurant) pair."""
        pairs = orders.select(
            pl.col(USER_ID).cast(pl.String), pl.col(RESTAURANT_ID).cast(pl.String)
        )
        user_ids = pairs[USER_ID].unique().sort()
        restaurant_ids = pairs[RESTAURANT_ID].unique().sort()
        rows = _positions(pairs[USER_ID], user_ids)
        columns = _positions(pairs[RESTAURANT_ID], restaurant_ids)
        # scipy sums duplicate (row, column) entries, so each order adds 1.
        counts = sp.csr_matrix(
            (np.ones(pairs.height), (rows, columns)),
            shape=(user_ids.len(), restaurant_ids.len()),
        )
        return cls(user_ids, restaurant_ids, counts)

    def score_pairs(
        self,
        rows: pl.DataFrame,
        user_block: Callable[[np.ndarray], np.ndarray],
        block_width: int | None = None,
    ) -> np.ndarray:
        """Look up each row's score in per-user blocks of scores.

        ``user_block`` takes an array of user positions and returns a dense
        array of shape (len(positions), restaurants). It is called on the
        distinct known users of ``rows``, as many at a time as keep a dense
        array of ``block_width`` columns per user (default: one per restaurant)
        within ``_BLOCK_CELLS``. Rows of unknown users or restaurants score 0.
        """
        users = _positions(rows[USER_ID].cast(pl.String), self.user_ids)
        restaurants = _positions(
            rows[RESTAURANT_ID].cast(pl.String), self.restaurant_ids
        )
        scores = np.zeros(rows.height)
        known = (users >= 0) & (restaurants >= 0)
        distinct = np.unique(users[known])
        width = self.restaurant_ids.len() if block_width is None else block_width
        step = max(1, _BLOCK_CELLS // max(1, width))
        for start in range(0, distinct.size, step):
            chunk = distinct[start : start + step]
            block = user_block(chunk)
            in_chunk = known & np.isin(users, chunk)
            local = np.searchsorted(chunk, users[in_chunk])
            scores[in_chunk] = block[local, restaurants[in_chunk]]
        return scores


class UserKnnBaseline:
    """User-based nearest neighbours over the training orders.

    Users are rows of order counts, compared by cosine similarity. The score of
    (user, restaurant) is the sum, over the user's ``neighbours`` most similar
    other users, of similarity times that neighbour's orders at the
    restaurant, plus the user's own orders there. Among users of equal
    similarity at the edge of the neighbourhood, the smaller user id is kept.

    The defaults were compared on five 80/20 splits of the UCI ratings (seeds
    100 to 104, not the evaluation's). Among 5, 10, 20, 30, 50 and 100
    neighbours, 10 and 20 tied for the best NDCG@10 (0.360), and 20 had the
    better recall@10.
    """

    name = "user_knn"

    def __init__(self, neighbours: int = 20) -> None:
        _check_positive("neighbours", neighbours)
        self.neighbours = neighbours
        self._matrix: InteractionMatrix | None = None
        self._normalized = sp.csr_matrix((0, 0))
        self._transposed: sp.csr_matrix | None = None

    def fit(self, frames: StoreFrames) -> None:
        """Build the order matrix and its rows scaled to unit length."""
        self._matrix = InteractionMatrix.from_orders(frames.orders)
        self._normalized = unit_rows(self._matrix.counts)
        self._transposed = None

    def score(self, rows: pl.DataFrame) -> np.ndarray:
        matrix = _fitted(self._matrix, self.name)
        return matrix.score_pairs(rows, self._user_block)

    def _user_block(self, users: np.ndarray) -> np.ndarray:
        assert self._matrix is not None
        if getattr(self, "_transposed", None) is None:
            self._transposed = self._normalized.T.tocsr()
        weights = sp.vstack(
            [
                self._neighbour_weights(users[start : start + _SIMILARITY_USERS])
                for start in range(0, users.size, _SIMILARITY_USERS)
            ],
            format="csr",
        )
        # The user's own orders count with weight 1, because a user is most
        # similar to themselves. This matters only where past restaurants are
        # candidates (orders with times).
        counts = self._matrix.counts[users]
        return np.asarray((weights @ self._matrix.counts + counts).todense())

    def _neighbour_weights(self, users: np.ndarray) -> sp.csr_matrix:
        """Similarity of each of ``users`` to their nearest other users, as
        sparse rows over every user.

        sparse_dot_topn computes each row's largest similarities without
        storing the others, in C++ on every core: a few per user instead of
        thousands. Its choice among equal values is not defined, so a row is
        read from it only when every value equal to the row's edge value is
        among those returned. Otherwise the row is computed in full.
        """
        assert self._transposed is not None
        # Many users tie (all who ordered from the same one restaurant, say),
        # so the product keeps 15 times as many values as neighbours, plus the
        # user's own. On 2,048 users of a world of 200,000, that covered every
        # edge value; twice as many covered 71% of them.
        width = 15 * self.neighbours + 1
        largest = without_self(
            sp_matmul_topn(
                self._normalized[users],
                self._transposed,
                top_n=width,
                n_threads=os.cpu_count() or 1,
            ),
            users,
        )
        complete = edge_inside(largest, width, self.neighbours)
        weights = largest_per_row(largest, self.neighbours)
        incomplete = np.flatnonzero(~complete)
        if incomplete.size == 0:
            return weights
        full = largest_per_row(
            without_self(
                self._normalized[users[incomplete]] @ self._transposed,
                users[incomplete],
            ),
            self.neighbours,
        )
        rows = [weights[row] for row in range(users.size)]
        for position, row in enumerate(incomplete):
            rows[row] = full[position]
        return sp.vstack(rows, format="csr")


class ItemKnnBaseline:
    """Item-based nearest neighbours over the training orders.

    Restaurants are columns of order counts, compared by cosine similarity.
    Each keeps its ``neighbours`` most similar other restaurants. The score of
    (user, restaurant) is the sum, over that restaurant's neighbours, of
    similarity times the user's orders at the neighbour, plus the user's own
    orders at the restaurant. Among restaurants of
    equal similarity at the edge of the neighbourhood, the smaller restaurant
    id is kept.

    The default of 30 neighbours had the best NDCG@10 (0.385) among 5, 10,
    20, 30, 50 and 100 neighbours, on five 80/20 splits of the UCI ratings
    (seeds 100 to 104, not the evaluation's).
    """

    name = "item_knn"

    def __init__(self, neighbours: int = 30) -> None:
        _check_positive("neighbours", neighbours)
        self.neighbours = neighbours
        self._matrix: InteractionMatrix | None = None
        self._similarity = sp.csr_matrix((0, 0))

    def fit(self, frames: StoreFrames) -> None:
        """Build the order matrix and each restaurant's nearest restaurants."""
        self._matrix = InteractionMatrix.from_orders(frames.orders)
        columns = unit_rows(self._matrix.counts.T.tocsr())
        similarity = (columns @ columns.T).toarray()
        np.fill_diagonal(similarity, 0.0)
        self._similarity = sp.csr_matrix(keep_largest(similarity, self.neighbours))

    def score(self, rows: pl.DataFrame) -> np.ndarray:
        matrix = _fitted(self._matrix, self.name)
        return matrix.score_pairs(rows, self._user_block)

    def _user_block(self, users: np.ndarray) -> np.ndarray:
        assert self._matrix is not None
        # scores[u, i] = sum over j of counts[u, j] * similarity[i, j], plus
        # counts[u, i]: a restaurant is most similar to itself, which matters
        # only where past restaurants are candidates (orders with times).
        counts = self._matrix.counts[users]
        scores = counts @ self._similarity.T + counts
        return np.asarray(scores.todense())


class AlsBaseline:
    """Implicit-feedback ALS (``implicit``'s CPU solver) on the order counts.

    The score of (user, restaurant) is the dot product of their factors. The
    fit runs on one thread, with BLAS limited to one thread as ``implicit``
    recommends, and starts from factors drawn with ``random_state``, so the
    same orders and arguments give the same scores.

    Args:
        factors: length of the user and restaurant factor vectors.
        iterations: ALS sweeps over users and restaurants.
        regularization: L2 penalty on the factors.
        alpha: confidence weight of an order; ``implicit`` multiplies the
            order counts by it.
        random_state: seed of the initial factors.

    The defaults were compared on five 80/20 splits of the UCI ratings (seeds
    100 to 104, not the evaluation's), over a grid of 4 to 64 factors,
    regularization 0.01 to 5, alpha 1 to 40 and 15 or 30 iterations. They
    sit in the best region, about 0.36 NDCG@10 for 8 factors with alpha 10 to
    20. With 32 or 64 factors, no setting passed 0.33.

    NOTE: the UCI matrix has 138 users and 130 restaurants; a larger order
    matrix probably needs more factors than the default 8.
    """

    name = "als"

    def __init__(
        self,
        factors: int = 8,
        iterations: int = 15,
        regularization: float = 1.0,
        alpha: float = 10.0,
        random_state: int = 0,
    ) -> None:
        _check_positive("factors", factors)
        _check_positive("iterations", iterations)
        if regularization < 0:
            msg = f"regularization must be 0 or more, got {regularization}"
            raise ValueError(msg)
        if alpha <= 0:
            msg = f"alpha must be positive, got {alpha}"
            raise ValueError(msg)
        self.factors = factors
        self.iterations = iterations
        self.regularization = regularization
        self.alpha = alpha
        self.random_state = random_state
        self._matrix: InteractionMatrix | None = None
        self._user_factors = np.zeros((0, factors))
        self._restaurant_factors = np.zeros((0, factors))

    def fit(self, frames: StoreFrames) -> None:
        """Factorize the order matrix."""
        self._matrix = InteractionMatrix.from_orders(frames.orders)
        # implicit warns at construction when BLAS runs more than one thread,
        # since its own threads then compete with BLAS's.
        with threadpool_limits(limits=1, user_api="blas"):
            model = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                num_threads=1,
                random_state=self.random_state,
            )
            model.fit(self._matrix.counts, show_progress=False)
        self._user_factors = np.asarray(model.user_factors, dtype=np.float64)
        self._restaurant_factors = np.asarray(model.item_factors, dtype=np.float64)

    def score(self, rows: pl.DataFrame) -> np.ndarray:
        matrix = _fitted(self._matrix, self.name)
        return matrix.score_pairs(
            rows, lambda users: self._user_factors[users] @ self._restaurant_factors.T
        )


def _positions(ids: pl.Series, labels: pl.Series) -> np.ndarray:
    """Return the position of each id in the sorted ``labels``, -1 if absent."""
    index = pl.DataFrame(
        {"_id": labels, "_position": np.arange(labels.len(), dtype=np.int64)}
    )
    found = (
        pl.DataFrame({"_id": ids})
        .join(index, on="_id", how="left", maintain_order="left")["_position"]
        .fill_null(-1)
    )
    return found.to_numpy()


def _fitted(matrix: InteractionMatrix | None, name: str) -> InteractionMatrix:
    if matrix is None:
        msg = f"baseline {name} is not fitted; call fit(frames) before score(rows)"
        raise RuntimeError(msg)
    return matrix


def _check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = f"{name} must be a positive integer, got {value!r}"
        raise ValueError(msg)
