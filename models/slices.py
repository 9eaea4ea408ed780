"""Groups of users on which the recommendations fail most, found by SliceLine.

A slice is a conjunction of attribute values, such as ``city = Lisbon and
budget = low``. SliceLine, as the ``sliceline`` package implements it, searches
the lattice of such conjunctions up to ``max_level`` conditions and ranks the
slices by this score (``Slicefinder._score`` in sliceline 0.3.0):

    score = alpha * (slice_error / overall_error - 1)
            - (1 - alpha) * (users / slice_size - 1)

where the errors are means over users. A slice is returned only when it has at
least ``min_support`` users and a positive score, so a large ``alpha`` favours
slices with a high error and a small one favours large slices.

SliceLine takes categorical attributes only. Strings, booleans, categoricals and
enums are used as they are. Numbers are cut into quantile bins, and a null, or a
NaN in a float column, becomes its own ``missing`` value.

Run time grows steeply with ``max_level`` because SliceLine evaluates each
level's candidates with sparse matrix products over all users. On 100,000
random users with 10 attributes, sliceline 0.3.0 without numba on 2 shared
cores took about 3 s with ``max_level=2`` and 40 s with ``max_level=3``.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl
from sliceline import Slicefinder

from features.schema import USER_ID

logger = logging.getLogger(__name__)

# Label of the value that replaces a null, and a NaN in a float column.
MISSING = "missing"
# Significant digits of the bin edges of float columns. The bins are cut at the
# rounded edges, so a label such as ``[0.125, 0.5)`` is exact.
EDGE_DIGITS = 3


@dataclass(frozen=True)
class Slice:
    """A group of users defined by attribute values, with its error."""

    # Conditions joined by "and", e.g. ``city = Lisbon and orders_before < 3``.
    description: str
    # Attribute name to value label: a category, ``missing``, or a bin such as
    # ``< 3``, ``[3, 7)`` or ``>= 7``.
    conditions: dict[str, str]
    # Number of users in the slice.
    size: int
    # Mean error of the users in the slice.
    error: float
    # Mean error of all users.
    overall_error: float
    # SliceLine's score: positive, and higher for larger slices with more error.
    score: float


@dataclass(frozen=True)
class _EncodedColumn:
    name: str
    # Text that follows the column name in a description, indexed by code.
    predicates: tuple[str, ...]
    # Value label for ``Slice.conditions``, indexed by code.
    labels: tuple[str, ...]


def find_slices(
    attributes: pl.DataFrame,
    errors: pl.Series | npt.ArrayLike,
    *,
    key: str = USER_ID,
    k: int = 5,
    max_level: int = 2,
    min_support: int = 30,
    alpha: float = 0.95,
    bins: int = 4,
) -> list[Slice]:
    """Find the ``k`` slices of users with the highest SliceLine score.

    Args:
        attributes: One row per user: the ``key`` column and the attribute
            columns (strings, booleans, categoricals or numbers, nulls allowed).
            A column whose values are all equal, or all null, is ignored.
        errors: Each user's error in [0, 1], such as 1 - NDCG@10, in the order
            of the rows of ``attributes``.
        key: Column that identifies users. It must be unique and is not an
            attribute.
        k: Maximum number of slices returned.
        max_level: Maximum number of conditions in a slice.
        min_support: Minimum number of users in a slice.
        alpha: Weight of the slice's error against its size, in (0, 1].
        bins: Maximum number of quantile bins of a numeric column, at least 2.

    Returns:
        The slices in SliceLine's order: highest score first, ties ordered by
        their encoded conditions. SliceLine keeps every slice tied with the
        k-th score, and this function cuts that list at ``k``. The list is
        empty, with a warning in the log, when there are no users, fewer
        users than ``min_support``, no attribute with two values, or equal
        errors for all users.

    Raises:
        ValueError: If the lengths of ``attributes`` and ``errors`` differ, an
            error is outside [0, 1] or missing, ``key`` is missing or repeated,
            a column has a type that is neither categorical nor numeric, or an
            argument is out of range.
    """
    _check_arguments(k, max_level, min_support, alpha, bins)
    error_values = _error_values(errors, attributes.height)
    _check_key(attributes, key)

    users = attributes.height
    if users == 0:
        logger.warning("No slices: there are no users")
        return []
    if users < min_support:
        logger.warning(
            "No slices: %d users are fewer than min_support=%d", users, min_support
        )
        return []
    if error_values.min() == error_values.max():
        logger.warning(
            "No slices: all %d users have the same error %g", users, error_values[0]
        )
        return []

    columns, codes = _encode_attributes(attributes.drop(key), bins)
    if not columns:
        logger.warning(
            "No slices: none of the columns %s has two distinct values",
            attributes.drop(key).columns,
        )
        return []

    finder = Slicefinder(
        alpha=alpha, k=k, max_l=max_level, min_sup=min_support, verbose=False
    )
    finder.fit(codes, error_values)
    slices = _to_slices(finder, columns)[:k]
    if not slices:
        logger.info(
            "No slice of at least %d users has a positive score with alpha=%g",
            min_support,
            alpha,
        )
    return slices


def _check_arguments(
    k: int, max_level: int, min_support: int, alpha: float, bins: int
) -> None:
    if k < 1:
        msg = f"find_slices: k={k} is invalid; expected at least 1"
        raise ValueError(msg)
    if max_level < 1:
        msg = f"find_slices: max_level={max_level} is invalid; expected at least 1"
        raise ValueError(msg)
    if min_support < 1:
        msg = (
            f"find_slices: min_support={min_support} is invalid; "
            "expected at least 1 user"
        )
        raise ValueError(msg)
    if not 0 < alpha <= 1:
        msg = f"find_slices: alpha={alpha} is invalid; expected 0 < alpha <= 1"
        raise ValueError(msg)
    if bins < 2:
        msg = f"find_slices: bins={bins} is invalid; expected at least 2"
        raise ValueError(msg)


def _error_values(errors: pl.Series | npt.ArrayLike, users: int) -> np.ndarray:
    """Convert the errors to float64, checking their length and range."""
    if isinstance(errors, pl.Series):
        values = errors.cast(pl.Float64).to_numpy()
    else:
        values = np.asarray(errors, dtype=np.float64).reshape(-1)
    if len(values) != users:
        msg = (
            f"find_slices: errors has {len(values)} values but attributes has "
            f"{users} rows; expected one error per row of attributes"
        )
        raise ValueError(msg)

    missing = int(np.isnan(values).sum())
    if missing:
        msg = (
            f"find_slices: errors has {missing} null or NaN values; "
            "expected an error in [0, 1] for every user"
        )
        raise ValueError(msg)
    outside = (values < 0) | (values > 1)
    if outside.any():
        msg = (
            f"find_slices: errors has {int(outside.sum())} values outside [0, 1], "
            f"the first is {values[outside][0]}; expected errors in [0, 1]"
        )
        raise ValueError(msg)
    return values


def _check_key(attributes: pl.DataFrame, key: str) -> None:
    if key not in attributes.columns:
        msg = (
            f"find_slices: key column {key!r} is missing from attributes, "
            f"which has {attributes.columns}; pass key= the user id column"
        )
        raise ValueError(msg)
    repeated = attributes.height - attributes[key].n_unique()
    if repeated:
        msg = (
            f"find_slices: key column {key!r} has {repeated} repeated values; "
            "expected one row per user"
        )
        raise ValueError(msg)


def _encode_attributes(
    attributes: pl.DataFrame, bins: int
) -> tuple[list[_EncodedColumn], np.ndarray]:
    """Give each value of each column an integer code, dropping constant columns.

    Code 0 is ``missing`` in every column, so the code matrix has no nulls.
    """
    columns = []
    codes = []
    for series in attributes.iter_columns():
        if series.dtype.is_numeric():
            column, code = _bin_numbers(series, bins)
        elif series.dtype in (pl.String, pl.Boolean, pl.Categorical) or isinstance(
            series.dtype, pl.Enum
        ):
            column, code = _encode_categories(series)
        else:
            msg = (
                f"find_slices: attribute column {series.name!r} has type "
                f"{series.dtype}; expected a string, boolean, categorical or "
                "numeric column, so cast it to one of these"
            )
            raise ValueError(msg)
        if code.n_unique() > 1:
            columns.append(column)
            codes.append(code.alias(series.name))

    if not codes:
        return [], np.empty((attributes.height, 0), dtype=np.int32)
    return columns, pl.DataFrame(codes).to_numpy()


def _encode_categories(series: pl.Series) -> tuple[_EncodedColumn, pl.Series]:
    # Booleans become "true" and "false".
    values = series.cast(pl.String)
    # Dense ranks number the distinct values 1, 2, ... in sorted order.
    code = values.rank("dense").cast(pl.Int32).fill_null(0)
    categories = values.drop_nulls().unique().sort().to_list()

    # NOTE: a string equal to "missing" gets its own code, but its label reads
    # the same as the label of the nulls.
    labels = (MISSING, *categories)
    predicates = (f"is {MISSING}", *(f"= {value}" for value in categories))
    return _EncodedColumn(series.name, predicates, labels), code


def _bin_numbers(series: pl.Series, bins: int) -> tuple[_EncodedColumn, pl.Series]:
    """Cut a numeric column into at most ``bins`` quantile bins."""
    integer = series.dtype.is_integer()
    values = series.cast(pl.Float64).fill_nan(None)
    present = values.drop_nulls()
    if present.n_unique() < 2:
        # One value, or none: the column is the value or missing.
        texts = [_format_number(value) for value in present.unique()]
        code = values.is_not_null().cast(pl.Int32)
        column = _EncodedColumn(
            series.name,
            (f"is {MISSING}", *(f"= {text}" for text in texts)),
            (MISSING, *texts),
        )
        return column, code

    edges = _bin_edges(present, bins, integer)
    texts = [_format_number(edge) for edge in edges]
    labels = [f"< {texts[0]}"]
    predicates = [f"< {texts[0]}"]
    for low, high in itertools.pairwise(texts):
        labels.append(f"[{low}, {high})")
        predicates.append(f"in [{low}, {high})")
    labels.append(f">= {texts[-1]}")
    predicates.append(f">= {texts[-1]}")

    # A value's bin index is the number of edges at or below it. search_sorted
    # gives a null index 0, so the mask sets missing values to code 0 and the
    # bins start at 1. Series.cut is deprecated in polars 2, and its successor
    # bin_intervals does not exist in polars 1.
    bin_index = pl.Series(edges, dtype=pl.Float64).search_sorted(values, side="right")
    code = (bin_index.cast(pl.Int32) + 1) * values.is_not_null().cast(pl.Int32)
    column = _EncodedColumn(
        series.name, (f"is {MISSING}", *predicates), (MISSING, *labels)
    )
    return column, code


def _bin_edges(present: pl.Series, bins: int, integer: bool) -> list[float]:
    """Return the inner edges of the quantile bins of non-null values, ascending.

    Quantiles take the data value below them ("lower" interpolation), so the
    edges of an integer column are integers. An edge at or below the minimum
    would make an empty first bin, and a rounded edge above the maximum an
    empty last bin, so both are dropped. Values that tie across several
    quantiles therefore give fewer than ``bins`` bins.
    """
    ordered = present.sort()
    low = ordered[0]
    high = ordered[-1]
    quantiles = [
        ordered.quantile(i / bins, interpolation="lower") for i in range(1, bins)
    ]
    edges = {_round_edge(q, integer) for q in quantiles if q is not None}
    edges = {edge for edge in edges if low < edge <= high}
    if not edges:
        # No quantile is above the minimum, or rounding moved every edge out
        # of range. An edge at the next value, not rounded so that it stays in
        # range, separates the minimum from the rest.
        edges = {ordered.filter(ordered > low)[0]}
    return sorted(edges)


def _round_edge(edge: float, integer: bool) -> float:
    if integer:
        return edge
    return float(f"{edge:.{EDGE_DIGITS}g}")


def _format_number(value: float) -> str:
    # repr gives the shortest text that reads back as the same float.
    if math.isfinite(value) and value.is_integer():
        return str(int(value))
    return repr(value)


def _to_slices(finder: Slicefinder, columns: Sequence[_EncodedColumn]) -> list[Slice]:
    """Decode SliceLine's top slices into attribute names and value labels."""
    overall = float(finder.average_error_)
    slices = []
    for row, stats in zip(
        finder.top_slices_, finder.top_slices_statistics_, strict=True
    ):
        conditions = {}
        predicates = []
        # An unused column of a slice is None in SliceLine's top_slices_.
        for column, code in zip(columns, row, strict=True):
            if code is None:
                continue
            conditions[column.name] = column.labels[int(code)]
            predicates.append(f"{column.name} {column.predicates[int(code)]}")
        slices.append(
            Slice(
                description=" and ".join(predicates),
                conditions=conditions,
                size=int(stats["slice_size"]),
                error=float(stats["slice_average_error"]),
                overall_error=overall,
                score=float(stats["slice_score"]),
            )
        )
    return slices
