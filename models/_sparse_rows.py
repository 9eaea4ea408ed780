"""Row-wise operations on similarity matrices for the nearest-neighbour
baselines of :mod:`models.collaborative`: unit rows, the largest values of
each row, and the checks around a user's similarity to themselves."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def unit_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Scale each row to unit Euclidean length; empty rows stay empty."""
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sp.csr_matrix(sp.diags(inverse) @ matrix)


def keep_largest(similarity: np.ndarray, count: int) -> np.ndarray:
    """Zero all but the ``count`` largest values of each row.

    A stable sort keeps, among equal values, the one in the smaller column.
    """
    if count >= similarity.shape[1]:
        return similarity
    order = np.argsort(-similarity, axis=1, kind="stable")[:, :count]
    pruned = np.zeros_like(similarity)
    row_index = np.arange(similarity.shape[0])[:, None]
    pruned[row_index, order] = similarity[row_index, order]
    return pruned


def largest_per_row(matrix: sp.csr_matrix, count: int) -> sp.csr_matrix:
    """Keep the ``count`` largest values above 0 of each row and drop the rest.

    Among equal values at the edge, the ones in smaller columns are kept. This
    is :func:`keep_largest` for sparse rows: the zeros that it may keep add
    nothing to a weighted sum. The column indices need not be sorted.
    """
    height = matrix.shape[0]
    lengths = np.diff(matrix.indptr)
    rows = np.repeat(np.arange(height), lengths)
    positive = matrix.data > 0
    values = np.where(positive, matrix.data, -np.inf)
    # Each row's count-th largest value; -inf for rows with fewer values. One
    # partition per row costs tens of microseconds for thousands of values.
    threshold = np.full(height, -np.inf)
    for row in np.flatnonzero(lengths > count):
        begin, end = matrix.indptr[row], matrix.indptr[row + 1]
        threshold[row] = np.partition(values[begin:end], end - begin - count)[
            end - begin - count
        ]
    threshold = threshold[rows]
    above = positive & (matrix.data > threshold)
    tied = np.flatnonzero(positive & (matrix.data == threshold))
    needed = count - np.bincount(rows[above], minlength=height)
    # The tied values in row order, then column order.
    tied = tied[np.lexsort((matrix.indices[tied], rows[tied]))]
    tied_rows = rows[tied]
    first = np.flatnonzero(np.r_[True, tied_rows[1:] != tied_rows[:-1]])
    rank = np.arange(tied.size) - np.repeat(first, np.diff(np.r_[first, tied.size]))
    keep = above
    keep[tied[rank < needed[tied_rows]]] = True
    return sp.csr_matrix(
        (matrix.data[keep], (rows[keep], matrix.indices[keep])), shape=matrix.shape
    )


def without_self(similarity: sp.csr_matrix, users: np.ndarray) -> sp.csr_matrix:
    """Set each row's similarity to its own user to 0: a user is not their own
    neighbour."""
    similarity = similarity.tocsr()
    rows = np.repeat(np.arange(users.size), np.diff(similarity.indptr))
    similarity.data[similarity.indices == users[rows]] = 0.0
    return similarity


def edge_inside(largest: sp.csr_matrix, width: int, count: int) -> np.ndarray:
    """Return whether each row of the ``width`` largest values of a similarity
    row contains every value equal to the row's count-th largest.

    It does when fewer than ``width`` values came back (that is the whole
    row), or when the smallest returned value, the self-similarity aside, is
    below the count-th largest: every value left out is at most that
    smallest one.
    """
    lengths = np.diff(largest.indptr)
    rows = np.repeat(np.arange(largest.shape[0]), lengths)
    place = np.arange(largest.nnz) - np.repeat(largest.indptr[:-1], lengths)
    padded = np.full((largest.shape[0], width), np.inf)
    padded[rows, place] = np.where(largest.data > 0, largest.data, np.inf)
    smallest = padded.min(axis=1)
    padded[np.isinf(padded)] = -np.inf
    edge = -np.sort(-padded, axis=1)[:, count - 1]
    return (lengths < width) | (smallest < edge)
