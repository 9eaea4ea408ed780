"""Diet guardrail: restaurants without a vegetarian dish go last for vegetarians.

LambdaRank learns to put the restaurants a user orders from above the others,
but not how to order the others among themselves. For a vegetarian with two
favourite places, the rest of the top 10 is filled with popular places, and
nothing in the loss keeps a steakhouse out of them. With the diet features
(``ranker_v2``) the user's diet and the menu are known, so the ranker applies
this rule after scoring: for a user recognised as vegetarian, every candidate
whose menu has no vegetarian dish is scored below every other candidate. The
rule is the one of the ``vegetarians`` segment in ``configs/segments.yaml``,
so the audit measures what the guardrail protects.

A restaurant whose menu is unknown is not demoted, and a model without the
diet features (``ranker_v1``) has no guardrail: it cannot tell.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

DECLARED = "user_declared_vegetarian"
ORDER_RATIO = "user_vegetarian_order_ratio"
DIET_ORDERS = "user_diet_order_count"
COFFEE_TEA_SHARE = "user_coffee_tea_share"
HAS_OPTIONS = "restaurant_has_vegetarian_options"
# Columns a model must read for the guardrail to apply.
REQUIRED_FEATURES = (DECLARED, ORDER_RATIO, DIET_ORDERS, HAS_OPTIONS)


@dataclass(frozen=True)
class DietGuardrail:
    """Thresholds that recognise a vegetarian user from the diet features.

    A user is vegetarian when they declared it, or when at least
    ``min_order_ratio`` of at least ``min_diet_orders`` orders with known items
    were fully vegetarian and under ``max_coffee_tea_share`` of their orders
    went to coffee or tea places (drinks and pastries are vegetarian for every
    customer).
    """

    min_order_ratio: float = 0.9
    min_diet_orders: int = 3
    max_coffee_tea_share: float = 0.5

    def validate(self) -> None:
        """Raise ValueError naming a threshold of the wrong type or outside its
        range."""
        # The values come from YAML unchecked. A string such as 90% would fail
        # the comparisons below with a TypeError, and a bool passes them as 0 or 1.
        for name in ("min_order_ratio", "max_coffee_tea_share"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                msg = f"{name} must be a number in (0, 1], got {value!r}"
                raise ValueError(msg)
        orders = self.min_diet_orders
        if isinstance(orders, bool) or not isinstance(orders, int):
            msg = (
                f"min_diet_orders must be a whole number of at least 1, got {orders!r}"
            )
            raise ValueError(msg)
        if not 0.0 < self.min_order_ratio <= 1.0:
            msg = f"min_order_ratio must be in (0, 1], got {self.min_order_ratio}"
            raise ValueError(msg)
        if self.min_diet_orders < 1:
            msg = f"min_diet_orders must be at least 1, got {self.min_diet_orders}"
            raise ValueError(msg)
        if not 0.0 < self.max_coffee_tea_share <= 1.0:
            msg = (
                "max_coffee_tea_share must be in (0, 1], got "
                f"{self.max_coffee_tea_share}"
            )
            raise ValueError(msg)

    @staticmethod
    def applies_to(features: tuple[str, ...] | list[str]) -> bool:
        """Return whether a model reading ``features`` can apply the rule."""
        return all(column in features for column in REQUIRED_FEATURES)

    def vegetarian_users(self, rows: pl.DataFrame) -> np.ndarray:
        """Return, per row, whether its user is recognised as vegetarian."""
        coffee = (
            pl.col(COFFEE_TEA_SHARE).fill_null(0.0)
            if COFFEE_TEA_SHARE in rows.columns
            else pl.lit(0.0)
        )
        recognised = (pl.col(DECLARED).fill_null(0) == 1) | (
            (pl.col(ORDER_RATIO).fill_null(0.0) >= self.min_order_ratio)
            & (pl.col(DIET_ORDERS).fill_null(0) >= self.min_diet_orders)
            & (coffee < self.max_coffee_tea_share)
        )
        return rows.select(recognised.alias("vegetarian"))["vegetarian"].to_numpy()

    def demote(self, rows: pl.DataFrame, scores: np.ndarray) -> np.ndarray:
        """Return ``scores`` with the rows of meat-only restaurants for
        vegetarian users moved below every other row."""
        if scores.size == 0:
            return scores
        meat_only = (
            rows.select(pl.col(HAS_OPTIONS) == 0)[HAS_OPTIONS]
            .fill_null(False)
            .to_numpy()
        )
        return move_below(scores, meat_only & self.vegetarian_users(rows))

    def to_dict(self) -> dict[str, Any]:
        """Return the thresholds, for the model metadata."""
        return {
            "min_order_ratio": self.min_order_ratio,
            "min_diet_orders": self.min_diet_orders,
            "max_coffee_tea_share": self.max_coffee_tea_share,
        }


def read_guardrail(raw: object, source: str) -> DietGuardrail | None:
    """Read a ``diet_guardrail`` mapping of a config file or model metadata;
    absent or null turns the guardrail off.

    Raises:
        ValueError: the value is not a mapping of known thresholds, or one is
            out of range; names ``source``.
    """
    if raw is None:
        return None
    known = {"min_order_ratio", "min_diet_orders", "max_coffee_tea_share"}
    if not isinstance(raw, dict) or set(raw) - known:
        msg = (
            f"{source}: 'diet_guardrail' must be null or a mapping with keys among "
            f"{sorted(known)}, got {raw!r}"
        )
        raise ValueError(msg)
    guardrail = DietGuardrail(**raw)
    try:
        guardrail.validate()
    except ValueError as error:
        msg = f"{source}: diet_guardrail: {error}"
        raise ValueError(msg) from error
    return guardrail


def move_below(scores: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Return a copy of ``scores`` in which the ``rows`` (a boolean mask)
    score below every other row, in the same order among themselves."""
    if scores.size == 0 or not rows.any():
        return scores
    moved = scores.astype(np.float64, copy=True)
    moved[rows] -= float(scores.max() - scores.min()) + 1.0
    return moved
