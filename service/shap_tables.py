"""TreeSHAP values of a LightGBM model from tables built when the model loads.

LightGBM's ``pred_contrib`` runs path-dependent TreeSHAP (Lundberg et al.,
"Consistent Individualized Feature Attribution for Tree Ensembles", 2018,
Algorithm 2) on every row. For the 177-tree, 15-leaf ranker of the load
benchmark that is 0.26 ms per row on a 2-core machine, so the reasons of 10
returned restaurants cost 2.6 ms, more than scoring all 500 candidates. The
tables below take about 0.8 ms for those 10 rows.

For one leaf, the algorithm reads a row only through which of the features on
the leaf's path the row follows toward the leaf at every split on them (its
"one fraction", 1 or 0). The "zero fractions" are ratios of training counts,
fixed by the tree. A leaf with ``d`` distinct path features therefore has
``2**d`` cases, and :class:`ShapTables` runs the algorithm for every leaf and
case once, when the model loads. A row's SHAP values are then the sum, over
leaves, of the table entry of the row's case.

The tables use the operations of LightGBM's ExtendPath and UnwoundPathSum
(``src/io/tree.cpp``, LightGBM 4) in their order. Two steps differ, so the
values can differ in the last bits. A feature split twice on a path is
extended once with its combined fractions, where LightGBM unwinds it and
extends it again. The leaves are added in a fixed order, where LightGBM adds
them in the order the row visits them. ``checked_tables`` and
``tests/service/test_shap_tables.py`` compare the values with ``pred_contrib``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
from scipy import sparse

logger = logging.getLogger(__name__)

# A leaf deeper than this makes its tables too large: 2**depth paths, and
# 2**d cases of d values for d distinct features on the path.
MAX_PATH_SPLITS = 16
# Values of all tables of a model, at 8 bytes each (80 MB per worker); a
# larger model keeps pred_contrib. The load benchmark's ranker needs 0.9 million.
MAX_TABLE_VALUES = 10_000_000
# LightGBM reads a dense value with an absolute value at most this as 0:
# kZeroThreshold in include/LightGBM/meta.h, the float literal 1e-35f.
ZERO_THRESHOLD = float(np.float32(1e-35))
# LightGBM reads values beyond +-1e300, infinities included, as +-1e300.
MAX_VALUE = 1e300
_MISSING_TYPES = {"None": 0, "Zero": 1, "NaN": 2}


def checked_tables(
    booster: lgb.Booster, rows: int = 200, tolerance: float = 1e-9
) -> ShapTables | None:
    """Build the tables of ``booster`` and check them against ``pred_contrib``.

    The check compares ``rows`` rows around the model's split thresholds.
    Returns None, and logs why, when the model is not supported or a value
    differs by more than ``tolerance``.
    """
    try:
        tables = ShapTables(booster)
    except ValueError as error:
        logger.warning("explaining with LightGBM's pred_contrib: %s", error)
        return None
    probe = tables.probe_rows(rows)
    expected = np.asarray(booster.predict(probe, pred_contrib=True, num_threads=1))
    difference = float(np.abs(tables.contributions(probe) - expected[:, :-1]).max())
    if difference > tolerance:
        logger.warning(
            "explaining with LightGBM's pred_contrib: the SHAP tables differ "
            "from it by %.3g on probe rows",
            difference,
        )
        return None
    return tables


@dataclass
class _Leaf:
    value: float
    # Per step from the root: the split's index, whether the leaf is left of
    # it, and the slot of the split's feature in the leaf's unique path.
    splits: list[int] = field(default_factory=list)
    left: list[bool] = field(default_factory=list)
    slots: list[int] = field(default_factory=list)
    # Per slot: the feature and the product of the count ratios of its splits.
    features: list[int] = field(default_factory=list)
    zero_fractions: list[float] = field(default_factory=list)


class ShapTables:
    """The per-leaf TreeSHAP tables of one LightGBM booster."""

    def __init__(self, booster: lgb.Booster) -> None:
        """Build the tables.

        Raises:
            ValueError: the model has more than one output per iteration, a
                categorical split or linear leaves, a leaf is more than
                :data:`MAX_PATH_SPLITS` splits deep, or the tables would hold
                more than :data:`MAX_TABLE_VALUES` values.
        """
        model = booster.dump_model()
        if model["num_tree_per_iteration"] != 1:
            msg = "the tables support models with one output per iteration"
            raise ValueError(msg)
        self.num_features = model["max_feature_idx"] + 1
        thresholds: list[float] = []
        split_features: list[int] = []
        missing_types: list[int] = []
        default_left: list[bool] = []
        leaves: list[_Leaf] = []
        for tree in model["tree_info"]:
            _walk(
                tree["tree_structure"],
                [],
                (thresholds, split_features, missing_types, default_left),
                leaves,
            )
        # Per split, as columns: (splits, 1) arrays broadcast over rows.
        self.thresholds = np.array(thresholds, dtype=np.float64)[:, None]
        self.split_features = np.array(split_features, dtype=np.int64)
        types = np.array(missing_types, dtype=np.int64)[:, None]
        self.zero_default = types == _MISSING_TYPES["Zero"]
        self.nan_default = types == _MISSING_TYPES["NaN"]
        self.default_left = np.array(default_left, dtype=bool)[:, None]
        self._index_leaves(leaves)

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """Return the SHAP values of each row, shape (rows, features): the
        columns of ``pred_contrib`` without the expected value."""
        matrix = np.asarray(matrix, dtype=np.float64)
        rows = len(matrix)
        if rows == 0 or len(self.slot_feature) == 0:
            return np.zeros((rows, self.num_features))
        # Arrays below are (splits, leaves or slots) by rows.
        goes_left = self._decisions(matrix)
        # Bit s of a leaf's path number is set when the row goes left at the
        # leaf's s-th split. The path number gives the leaf's case.
        paths = (self.path_bits @ goes_left).astype(np.int32)
        cases = self.case_of_path[self.path_offsets + paths]
        leaf_entries = self.table_offsets + cases * self.slot_counts[:, None]
        entries = np.repeat(leaf_entries, self.slot_counts, axis=0) + self.slot_position
        return (self.by_feature @ self.table[entries]).T

    def probe_rows(self, rows: int, seed: int = 0) -> np.ndarray:
        """Return rows that reach both sides of many splits: per feature, a
        threshold of one of its splits plus or minus a small step, 0, or NaN."""
        rng = np.random.default_rng(seed)
        probe = np.zeros((rows, self.num_features))
        thresholds = self.thresholds[:, 0]
        for feature in range(self.num_features):
            own = thresholds[self.split_features == feature]
            if len(own) == 0:
                continue
            chosen = rng.choice(own, size=rows)
            step = np.abs(chosen) * 1e-6 + 1e-9
            values = chosen + rng.choice([-1.0, 1.0], size=rows) * step
            special = rng.random(rows)
            values[special < 0.1] = np.nan
            values[(special >= 0.1) & (special < 0.15)] = 0.0
            probe[:, feature] = values
        return probe

    def _decisions(self, matrix: np.ndarray) -> np.ndarray:
        """Return, per split and row, 1.0 where the row goes left, as
        LightGBM's numerical decision does."""
        values = matrix.T[self.split_features]
        # LightGBM clips values to +-1e300, the bound it also gives thresholds.
        np.clip(values, -MAX_VALUE, MAX_VALUE, out=values)
        values[np.abs(values) <= ZERO_THRESHOLD] = 0.0
        is_nan = np.isnan(values)
        # NaN reads as 0 unless the split sends NaN to its default side.
        values[is_nan & ~self.nan_default] = 0.0
        to_default = (self.zero_default & (values == 0.0)) | (self.nan_default & is_nan)
        with np.errstate(invalid="ignore"):
            below = values <= self.thresholds
        return np.where(to_default, self.default_left, below).astype(np.float64)

    def _index_leaves(self, leaves: list[_Leaf]) -> None:
        """Lay out the slots and tables of all leaves as flat arrays and
        sparse matrices."""
        # A tree of one leaf has no split and adds no SHAP value.
        split_leaves = [leaf for leaf in leaves if leaf.features]
        too_deep = max((len(leaf.splits) for leaf in split_leaves), default=0)
        if too_deep > MAX_PATH_SPLITS:
            msg = (
                f"a leaf is {too_deep} splits deep; the tables support at "
                f"most {MAX_PATH_SPLITS}"
            )
            raise ValueError(msg)
        size = sum(
            (1 << len(leaf.features)) * len(leaf.features) + (1 << len(leaf.splits))
            for leaf in split_leaves
        )
        if size > MAX_TABLE_VALUES:
            msg = (
                f"the tables would hold {size} values; the limit is {MAX_TABLE_VALUES}"
            )
            raise ValueError(msg)

        splits = len(self.split_features)
        # (leaves, splits): 2**s at the leaf's s-th split.
        path_rows: list[int] = []
        path_columns: list[int] = []
        path_values: list[float] = []
        cases_of_paths: list[np.ndarray] = []
        path_offsets: list[int] = []
        slot_feature: list[int] = []
        slot_position: list[int] = []
        table_offsets: list[int] = []
        slot_counts: list[int] = []
        tables: list[np.ndarray] = []
        offset = 0
        path_offset = 0
        for number, leaf in enumerate(split_leaves):
            count = len(leaf.features)
            table_offsets.append(offset)
            path_offsets.append(path_offset)
            slot_counts.append(count)
            for step, split in enumerate(leaf.splits):
                path_rows.append(number)
                path_columns.append(split)
                path_values.append(float(1 << step))
            cases = _cases_of_paths(leaf)
            cases_of_paths.append(cases)
            path_offset += len(cases)
            slot_feature.extend(leaf.features)
            slot_position.extend(range(count))
            table = _leaf_table(np.array(leaf.zero_fractions), leaf.value)
            tables.append(table.ravel())
            offset += table.size
        slot_count = len(slot_feature)
        self.path_bits = sparse.csr_array(
            (path_values, (path_rows, path_columns)),
            shape=(len(split_leaves), splits),
        )
        self.case_of_path = np.concatenate(cases_of_paths).astype(np.int32)
        self.path_offsets = np.array(path_offsets, dtype=np.int32)[:, None]
        # int32 indices halve the memory the per-request gathers move; the
        # tables hold at most MAX_TABLE_VALUES values, far below 2**31.
        self.table_offsets = np.array(table_offsets, dtype=np.int32)[:, None]
        self.slot_counts = np.array(slot_counts, dtype=np.int32)
        self.slot_position = np.array(slot_position, dtype=np.int32)[:, None]
        self.slot_feature = np.array(slot_feature, dtype=np.int64)
        self.table = np.concatenate(tables) if tables else np.empty(0)
        # (features, slots) ones where a slot is of the feature: summing the
        # slot values of each feature is one sparse product.
        self.by_feature = sparse.csr_array(
            (np.ones(slot_count), (self.slot_feature, np.arange(slot_count))),
            shape=(self.num_features, slot_count),
        )


def _walk(
    node: dict[str, Any],
    path: list[tuple[int, bool, int, float]],
    splits: tuple[list[float], list[int], list[int], list[bool]],
    leaves: list[_Leaf],
) -> None:
    """Collect the splits of a tree and the path of each of its leaves.

    ``path`` holds, per split above ``node``: its index, whether ``node`` is
    on its left, its feature and the count ratio of the child toward ``node``.
    """
    if "split_index" not in node:
        leaves.append(_unique_path(path, float(node["leaf_value"])))
        return
    if node["decision_type"] != "<=":
        msg = f"the tables support numerical splits only, not {node['decision_type']}"
        raise ValueError(msg)
    thresholds, features, missing_types, default_left = splits
    index = len(thresholds)
    thresholds.append(float(node["threshold"]))
    features.append(int(node["split_feature"]))
    missing_types.append(_MISSING_TYPES[node["missing_type"]])
    default_left.append(bool(node["default_left"]))
    count = float(node["internal_count"])
    for child, is_left in ((node["left_child"], True), (node["right_child"], False)):
        if "leaf_coeff" in child:
            msg = "the tables do not support linear trees"
            raise ValueError(msg)
        child_count = (
            child["internal_count"] if "split_index" in child else child["leaf_count"]
        )
        step = (index, is_left, int(node["split_feature"]), child_count / count)
        _walk(child, [*path, step], splits, leaves)


def _unique_path(path: list[tuple[int, bool, int, float]], value: float) -> _Leaf:
    """Return a leaf's unique path in LightGBM's order: a feature split again
    moves to the end, with the product of its count ratios."""
    order: list[int] = []
    zero_fraction: dict[int, float] = {}
    for _, _, feature, ratio in path:
        incoming = 1.0
        if feature in zero_fraction:
            incoming = zero_fraction[feature]
            order.remove(feature)
        order.append(feature)
        zero_fraction[feature] = ratio * incoming
    slot_of = {feature: slot for slot, feature in enumerate(order)}
    return _Leaf(
        value=value,
        splits=[split for split, _, _, _ in path],
        left=[left for _, left, _, _ in path],
        slots=[slot_of[feature] for _, _, feature, _ in path],
        features=order,
        zero_fractions=[zero_fraction[feature] for feature in order],
    )


def _cases_of_paths(leaf: _Leaf) -> np.ndarray:
    """Return the case of each path number of a leaf.

    Path number ``p`` has bit ``s`` set when a row goes left at the leaf's
    s-th split. Its case has bit ``j`` set when the row goes toward the leaf
    at every split on the feature of slot ``j``.
    """
    depth = len(leaf.splits)
    paths = np.arange(1 << depth)
    goes_left = ((paths[:, None] >> np.arange(depth)) & 1).astype(bool)
    toward = goes_left == np.array(leaf.left)
    cases = np.zeros(len(paths), dtype=np.int64)
    for slot in range(len(leaf.features)):
        steps = [step for step, s in enumerate(leaf.slots) if s == slot]
        followed = toward[:, steps].all(axis=1)
        cases |= followed.astype(np.int64) << slot
    return cases


def _leaf_table(zero_fractions: np.ndarray, value: float) -> np.ndarray:
    """Return the SHAP values of one leaf per case, shape (2**d, d).

    Case ``c`` has one fraction ``(c >> j) & 1`` for slot ``j``. The path
    weights are extended as LightGBM's ExtendPath does, starting from the
    element of no feature, and each slot's weight is LightGBM's
    UnwoundPathSum.
    """
    depth = len(zero_fractions)
    cases = np.arange(1 << depth)
    one_fractions = ((cases[:, None] >> np.arange(depth)) & 1).astype(np.float64)
    weights = np.zeros((len(cases), depth + 1))
    weights[:, 0] = 1.0
    for position in range(1, depth + 1):
        zero, ones = zero_fractions[position - 1], one_fractions[:, position - 1]
        for i in range(position - 1, -1, -1):
            weights[:, i + 1] += ones * weights[:, i] * (i + 1) / float(position + 1)
            weights[:, i] = zero * weights[:, i] * (position - i) / float(position + 1)

    table = np.empty((len(cases), depth))
    for slot in range(depth):
        zero, ones = zero_fractions[slot], one_fractions[:, slot]
        total = np.zeros(len(cases))
        next_one_portion = weights[:, depth].copy()
        for i in range(depth - 1, -1, -1):
            scale = (depth - i) / float(depth + 1)
            # Case with one fraction 1 for this slot.
            with np.errstate(divide="ignore", invalid="ignore"):
                portion = next_one_portion * (depth + 1) / ((i + 1) * ones)
            followed = np.where(ones != 0, portion, 0.0)
            # Case with one fraction 0.
            skipped = (weights[:, i] / zero) / scale
            total += np.where(ones != 0, followed, skipped)
            next_one_portion = np.where(
                ones != 0, weights[:, i] - followed * zero * scale, next_one_portion
            )
        table[:, slot] = total * (ones - zero) * value
    return table
