"""Vectorised weighted sampling: many draws per call, no Python loop per draw."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# Bits of a packed sort key that hold the row index, so one np.sort of int64
# keys replaces a slower argsort; enough for 2**31 rows.
INDEX_BITS = 31
INDEX_MASK = (1 << INDEX_BITS) - 1


class WeightedChoice:
    """Candidates with positive weights, drawn by inverse CDF."""

    def __init__(self, candidates: np.ndarray, weights: np.ndarray) -> None:
        if candidates.size == 0:
            msg = "a weighted choice needs at least one candidate"
            raise ValueError(msg)
        self.candidates = candidates
        self.cumulative = np.cumsum(weights, dtype=np.float64)

    def draw(self, uniforms: np.ndarray) -> np.ndarray:
        """Map uniform numbers in [0, 1) to candidates."""
        targets = uniforms * self.cumulative[-1]
        positions = np.searchsorted(self.cumulative, targets, side="right")
        np.minimum(positions, self.cumulative.size - 1, out=positions)
        result: np.ndarray = self.candidates[positions]
        return result


def sorted_by_key(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the row indices sorted by non-negative ``keys`` (stable), and the
    keys in that order.

    Packs key and index into one int64, because np.sort of plain integers is
    several times faster than np.argsort on large arrays.
    """
    if keys.size > INDEX_MASK:
        msg = f"cannot sort {keys.size} rows; at most {INDEX_MASK} are supported"
        raise ValueError(msg)
    packed = (keys.astype(np.int64) << INDEX_BITS) | np.arange(keys.size)
    packed.sort()
    return packed & INDEX_MASK, packed >> INDEX_BITS


def draw_by_group(
    groups: np.ndarray,
    uniforms: np.ndarray,
    choice_for: Callable[[int], WeightedChoice],
) -> np.ndarray:
    """Draw one candidate per row from the weighted choice of the row's group.

    ``groups`` contains non-negative group numbers; ``choice_for`` is called once
    per group present, in increasing group order.
    """
    result = np.empty(groups.size, dtype=np.int32)
    if groups.size == 0:
        return result
    rows, sorted_groups = sorted_by_key(groups)
    boundaries = np.flatnonzero(np.diff(sorted_groups)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [groups.size]))
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        selected = rows[start:end]
        choice = choice_for(int(sorted_groups[start]))
        result[selected] = choice.draw(uniforms[selected])
    return result


class OwnedItems:
    """Items grouped by owner, drawn in O(1) per draw within one owner.

    Each item appears ``copies`` times in a flat array, so a uniform position
    in the owner's slice is a draw with weights proportional to the copies.
    Integer copies keep each draw to two array look-ups, where a binary search
    over a cumulative array of a million items would miss the cache.
    """

    def __init__(
        self,
        owners: np.ndarray,
        items: np.ndarray,
        copies: np.ndarray,
        owner_count: int,
    ) -> None:
        """``owners`` must be sorted; ``copies`` are positive integers."""
        self.items = np.repeat(items, copies).astype(np.int32)
        expanded_owners = np.repeat(owners, copies)
        self.starts = np.searchsorted(expanded_owners, np.arange(owner_count))
        ends = np.searchsorted(expanded_owners, np.arange(owner_count), side="right")
        self.lengths = ends - self.starts

    def has_items(self) -> np.ndarray:
        """Per owner: whether it has at least one item."""
        result: np.ndarray = self.lengths > 0
        return result

    def draw(self, owners: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
        """Draw one item of each given owner; every owner must have items."""
        offsets = (uniforms * self.lengths[owners]).astype(np.int64)
        result: np.ndarray = self.items[self.starts[owners] + offsets]
        return result
