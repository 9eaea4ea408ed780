"""Every model's lists of the test users, encoded once as integer arrays."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from models.segments import Segment

if TYPE_CHECKING:
    from models.analysis import RankedLists


# Per-user values of one metric, in the order of _Slots.users.
_Values = npt.NDArray[np.float64]


@dataclass(frozen=True)
class _Slots:
    """Every model's lists of the test users, with restaurants as integer codes.

    Row i of a matrix is ``users[i]`` and column r is rank r + 1. A matrix is
    k wide, or as wide as the model's longest list when that is longer. A slot
    past the end of a shorter list has code -1 and is not a hit.
    """

    # Test users (those with a relevant restaurant), sorted.
    users: list[str]
    # Row of each test user, in the order of ``RankedLists.relevant``.
    relevant_order: npt.NDArray[np.intp]
    # Number of relevant restaurants of each test user.
    relevant_counts: npt.NDArray[np.int64]
    # Restaurant id of each code: every restaurant in a test user's list.
    restaurants: list[str]
    code_of: dict[str, int]
    # Per model: each test user's whole list, empty when the model has none.
    lists: dict[str, list[list[str]]]
    # Per model: the length of each list, its codes and whether each is relevant.
    lengths: dict[str, npt.NDArray[np.int64]]
    codes: dict[str, npt.NDArray[np.int64]]
    hits: dict[str, npt.NDArray[np.bool_]]


def _encode_slots(ranked: RankedLists) -> _Slots:
    """Encode the lists of every test user once, for all the array steps."""
    users = sorted(ranked.relevant)
    row_of = {user: row for row, user in enumerate(users)}
    lists = {
        model: [by_user.get(user, []) for user in users]
        for model, by_user in ranked.lists.items()
    }
    restaurants = sorted(
        set().union(*(chain.from_iterable(rows) for rows in lists.values()))
    )
    code_of = {restaurant: code for code, restaurant in enumerate(restaurants)}
    # Each (test user, relevant restaurant) pair that a list can contain, as
    # row * len(restaurants) + code.
    relevant_keys = np.sort(
        np.array(
            [
                row * len(restaurants) + code_of[restaurant]
                for row, user in enumerate(users)
                for restaurant in ranked.relevant[user]
                if restaurant in code_of
            ],
            dtype=np.int64,
        )
    )
    encoded = {
        model: _encode_lists(rows, code_of, relevant_keys, ranked.k)
        for model, rows in lists.items()
    }
    return _Slots(
        users=users,
        relevant_order=np.array([row_of[user] for user in ranked.relevant], np.intp),
        relevant_counts=np.array(
            [len(ranked.relevant[user]) for user in users], dtype=np.int64
        ),
        restaurants=restaurants,
        code_of=code_of,
        lists=lists,
        lengths={model: lengths for model, (lengths, _, _) in encoded.items()},
        codes={model: codes for model, (_, codes, _) in encoded.items()},
        hits={model: hits for model, (_, _, hits) in encoded.items()},
    )


def _encode_lists(
    lists: list[list[str]],
    code_of: Mapping[str, int],
    relevant_keys: npt.NDArray[np.int64],
    k: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Return the length of each list, the code at each rank and whether the
    restaurant there is relevant, as :class:`_Slots` stores them."""
    lengths = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    flat = list(chain.from_iterable(lists))
    flat_codes = np.fromiter(map(code_of.__getitem__, flat), np.int64, len(flat))
    rows = np.repeat(np.arange(len(lists)), lengths)
    ranks = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    width = max(k, int(lengths.max(initial=0)))
    codes = np.full((len(lists), width), -1, dtype=np.int64)
    codes[rows, ranks] = flat_codes
    hits = np.zeros((len(lists), width), dtype=bool)
    hits[rows, ranks] = _contains(relevant_keys, rows * len(code_of) + flat_codes)
    return lengths, codes, hits


def _contains(
    sorted_keys: npt.NDArray[np.int64], keys: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    """Mark the keys found in ``sorted_keys``, by binary search."""
    if sorted_keys.size == 0:
        return np.zeros(keys.shape, dtype=bool)
    positions = np.searchsorted(sorted_keys, keys).clip(max=sorted_keys.size - 1)
    return sorted_keys[positions] == keys


def _member_mask(ids: Sequence[str], segment: Segment) -> npt.NDArray[np.bool_]:
    """Mark the ids that belong to the segment."""
    return np.fromiter((id_ in segment.members for id_ in ids), bool, len(ids))


def _mean_of(values: _Values) -> float:
    # Python's sum adds in order, as mean_ignoring_nan does, while numpy's
    # pairwise sum can differ in the last bit.
    defined = values[~np.isnan(values)].tolist()
    return sum(defined) / len(defined) if defined else math.nan
