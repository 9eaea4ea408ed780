"""The confusion matrix of scores as a classifier at a decision threshold."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Confusion:
    """Confusion matrix of a binary classification at one decision threshold.

    Each rate is nan, not an error, when its denominator is 0, for example the
    recall of a slice without a positive label.
    """

    tp: int
    fp: int
    fn: int
    tn: int

    def __post_init__(self) -> None:
        for name in ("tp", "fp", "fn", "tn"):
            value = getattr(self, name)
            if value < 0:
                msg = f"{name} must be a non-negative count, got {value}"
                raise ValueError(msg)

    @property
    def precision(self) -> float:
        """Share of the predicted positives that are positive: tp / (tp + fp)."""
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        """Share of the positives predicted positive: tp / (tp + fn)."""
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        """F1 score: 2 tp / (2 tp + fp + fn).

        It equals the harmonic mean of precision and recall when both are
        defined. It is 0.0, not nan, when nothing is predicted positive but some
        label is positive, and nan only when tp + fp + fn = 0.
        """
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    @property
    def false_positive_rate(self) -> float:
        """Share of the negatives predicted positive: fp / (fp + tn)."""
        return _ratio(self.fp, self.fp + self.tn)

    @property
    def false_negative_rate(self) -> float:
        """Share of the positives predicted negative: fn / (fn + tp)."""
        return _ratio(self.fn, self.fn + self.tp)

    @property
    def accuracy(self) -> float:
        """Share of correct predictions: (tp + tn) / (tp + fp + fn + tn)."""
        return _ratio(self.tp + self.tn, self.tp + self.fp + self.fn + self.tn)


def confusion_at(
    scores: Sequence[float] | npt.NDArray[np.floating[Any]],
    labels: Sequence[int] | npt.NDArray[np.integer[Any] | np.bool_],
    threshold: float,
) -> Confusion:
    """Count the confusion matrix of predicting positive when score >= threshold.

    A label is 1 or True for a relevant item and 0 or False otherwise.

    Raises:
        ValueError: scores and labels differ in length or are not
            one-dimensional, a score or the threshold is nan, or a label is
            neither 0 nor 1.
    """
    score_array = np.asarray(scores, dtype=float)
    label_array = np.asarray(labels)
    _check_classification_input(score_array, label_array, threshold)

    predicted = score_array >= threshold
    actual = label_array == 1
    tp = int(np.count_nonzero(predicted & actual))
    fp = int(np.count_nonzero(predicted & ~actual))
    fn = int(np.count_nonzero(~predicted & actual))
    return Confusion(tp=tp, fp=fp, fn=fn, tn=predicted.size - tp - fp - fn)


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else math.nan


def _check_classification_input(
    scores: npt.NDArray[np.float64], labels: npt.NDArray[Any], threshold: float
) -> None:
    if scores.ndim != 1 or labels.ndim != 1:
        msg = (
            "scores and labels must be one-dimensional, got shapes "
            f"{scores.shape} and {labels.shape}"
        )
        raise ValueError(msg)
    if scores.size != labels.size:
        msg = (
            f"scores has {scores.size} values but labels has {labels.size}; "
            "pass one label per score"
        )
        raise ValueError(msg)
    if math.isnan(threshold):
        msg = "threshold must be a number, got nan"
        raise ValueError(msg)

    nan_positions = np.flatnonzero(np.isnan(scores))
    if nan_positions.size:
        msg = f"scores[{nan_positions[0]}] is nan; every score must be a number"
        raise ValueError(msg)
    invalid_positions = np.flatnonzero(~np.isin(labels, (0, 1)))
    if invalid_positions.size:
        position = invalid_positions[0]
        msg = f"labels[{position}] must be 0 or 1, got {labels[position].item()!r}"
        raise ValueError(msg)
