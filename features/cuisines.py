"""Cuisine names: the one spelling the store keeps for each cuisine.

A cuisine is stored lower-cased, with each run of spaces, hyphens and
underscores between its words replaced by one underscore, and none at
either end. So ``Fast Food``, ``fast-food``, ``Fast _ Food`` and ``Fast_Food``
are the one cuisine ``fast_food``, and a value of only such characters is
empty. The UCI loader, the import and the service's filters all spell
cuisines this way.
"""

from __future__ import annotations

import re

import polars as pl

_SEPARATORS = r"[\s_-]+"
_SEPARATORS_RE = re.compile(_SEPARATORS)


def normalize_cuisine(names: pl.Expr) -> pl.Expr:
    """Spell each cuisine name of ``names`` as the store keeps it.

    ``Cafe-Coffee_Shop`` becomes ``cafe_coffee_shop``.
    """
    joined = names.str.to_lowercase().str.replace_all(_SEPARATORS, "_")
    return joined.str.strip_chars("_")


def cuisine_key(name: str) -> str:
    """Spell one cuisine name as the store keeps it, as ``normalize_cuisine``."""
    return _SEPARATORS_RE.sub("_", name.lower()).strip("_")
