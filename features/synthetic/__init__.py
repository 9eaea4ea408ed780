"""Synthetic food-delivery world with planted user segments, for the store.

:func:`generate_world` returns frames of every store table for a
:class:`WorldConfig`; :func:`dish_catalog` gives the true diet of every dish
name that menus use.
"""

from features.synthetic.config import SEGMENTS, WorldConfig
from features.synthetic.dishes import dish_catalog
from features.synthetic.world import generate_world

__all__ = ["SEGMENTS", "WorldConfig", "dish_catalog", "generate_world"]
