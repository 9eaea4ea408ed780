"""Restaurant choices per user segment: the eligible restaurants and their
weights."""

from __future__ import annotations

import numpy as np

from features.synthetic.config import (
    CITIES,
    COFFEE_TEA_ONLY,
    NEW_USER,
    ORDERING_SEGMENTS,
    SEGMENTS,
    VEGETARIAN_SEGMENT,
)
from features.synthetic.dishes import CUISINES
from features.synthetic.menus import Menus
from features.synthetic.restaurants import Restaurants
from features.synthetic.sampling import WeightedChoice

ANY_CUISINE = len(CUISINES)
ANY_CITY = len(CITIES)

# Vegetarians prefer places whose whole menu is vegetarian.
VEGETARIAN_PLACE_BOOST = 3.0
COFFEE_TEA_CUISINES = ("cafe", "tea")


class RestaurantChooser:
    """Weighted choices of restaurants per (segment, city, cuisine) group.

    A user of a segment only ever orders from restaurants eligible for it:
    open (not new), and serving what the segment orders. Vegetarians need a
    vegetarian dish, coffee-and-tea users a cafe or tea place with coffee or
    tea, pizza-only users a pizza. Weights are the restaurants' popularity.
    """

    def __init__(self, restaurants: Restaurants, menus: Menus) -> None:
        self.restaurants = restaurants
        count = restaurants.count
        cafe_or_tea = np.isin(
            restaurants.cuisine,
            [CUISINES.index(name) for name in COFFEE_TEA_CUISINES],
        )
        self.serves = {
            segment: _per_restaurant(menus, menus.orderable_by(segment), count)
            for segment in ORDERING_SEGMENTS
        }
        self.serves[COFFEE_TEA_ONLY] &= cafe_or_tea
        self._cache: dict[int, WeightedChoice] = {}

    @staticmethod
    def group_numbers(
        segment: np.ndarray, city: np.ndarray, cuisine: np.ndarray
    ) -> np.ndarray:
        """Encode each row of (segment index, city index or ANY_CITY, cuisine
        index or ANY_CUISINE) as one group number."""
        cities = ANY_CITY + 1
        cuisines = ANY_CUISINE + 1
        return (
            segment.astype(np.int64) * cities + city.astype(np.int64)
        ) * cuisines + cuisine.astype(np.int64)

    def choice_for(self, group: int) -> WeightedChoice:
        """Return the weighted choice of a group, widened when it is empty.

        An empty cuisine group falls back to any cuisine of the city, and an
        empty city to every city. A draw fails only when no open restaurant
        anywhere serves the segment, which raises ValueError.
        """
        if group not in self._cache:
            self._cache[group] = self._build(group)
        return self._cache[group]

    def _build(self, group: int) -> WeightedChoice:
        rest, cuisine = divmod(group, ANY_CUISINE + 1)
        segment, city = divmod(rest, ANY_CITY + 1)
        name = SEGMENTS[segment]
        if name == NEW_USER:
            msg = "new users have no orders, so they have no restaurant choice"
            raise ValueError(msg)

        restaurants = self.restaurants
        eligible = self.serves[name] & ~restaurants.is_new
        if city != ANY_CITY:
            eligible &= restaurants.city == city
        if cuisine != ANY_CUISINE:
            eligible &= restaurants.cuisine == cuisine
        candidates = np.flatnonzero(eligible)

        if candidates.size == 0:
            if cuisine != ANY_CUISINE:
                return self.choice_for(group - cuisine + ANY_CUISINE)
            if city != ANY_CITY:
                wider = self.group_numbers(
                    np.array([segment]), np.array([ANY_CITY]), np.array([ANY_CUISINE])
                )
                return self.choice_for(int(wider[0]))
            msg = f"no open restaurant serves segment {name!r}"
            raise ValueError(msg)

        weights = restaurants.popularity[candidates].copy()
        if name == VEGETARIAN_SEGMENT:
            all_vegetarian = np.isin(
                restaurants.cuisine[candidates],
                [CUISINES.index("vegetarian"), CUISINES.index("vegan")],
            )
            weights[all_vegetarian] *= VEGETARIAN_PLACE_BOOST
        return WeightedChoice(candidates.astype(np.int32), weights)


def _per_restaurant(menus: Menus, item_flags: np.ndarray, count: int) -> np.ndarray:
    """Per restaurant: whether any of its menu items has the flag."""
    counts = np.bincount(menus.restaurant[item_flags], minlength=count)
    result: np.ndarray = counts > 0
    return result
