"""Cuisine names: the one spelling the store keeps for each cuisine.

A cuisine is stored lower-cased, with each run of spaces or hyphens between
its words replaced by one underscore, so ``Fast Food``, ``fast-food`` and
``Fast_Food`` are the one cuisine ``fast_food``. The UCI loader, the import
and the service's filters all spell cuisines this way.
"""

from __future__ import annotations

import re

import polars as pl

_SEPARATORS = r"[\s-]+"
_SEPARATORS_RE = re.compile(_SEPARATORS)


def normalize_cuisine(names: pl.Expr) -> pl.Expr:
    """Spell each cuisine name of ``names`` as the store keeps it.

    ``Cafe-Coffee_Shop`` becomes ``cafe_coffee_shop``.
    """
    return names.str.strip_chars().str.to_lowercase().str.replace_all(_SEPARATORS, "_")


def cuisine_key(name: str) -> str:
    """Spell one cuisine name as the store keeps it, as ``normalize_cuisine``."""
    return _SEPARATORS_RE.sub("_", name.strip().lower())
