"""Menus of the synthetic world: dishes per restaurant, prices and diet labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.synthetic.config import (
    COFFEE_TEA_ONLY,
    PIZZA_ONLY,
    REGULAR,
    VEGETARIAN_SEGMENT,
)
from features.synthetic.dishes import (
    COFFEE,
    CUISINE_POOLS,
    CUISINES,
    DESSERT,
    DRINK,
    FISH,
    MAIN,
    MEAT,
    PIZZA,
    SIDE,
    TEA,
    Dish,
    all_dishes,
)
from features.synthetic.restaurants import BRANDS, Restaurants

COFFEE_TEA_KINDS = frozenset({COFFEE, TEA})
COURSE_RANK = {MAIN: 0, SIDE: 1, DRINK: 2, DESSERT: 3}

# Relative chance that a dish is on a menu, by course. Coffee and tea count as
# mains here and in ORDER_COPIES.
INCLUSION_WEIGHT = {MAIN: 3.0, SIDE: 1.5, DRINK: 1.0, DESSERT: 0.8}
# How often an item is ordered relative to the others of its menu, by course:
# its copies in the order-item sampler, before a random factor.
ORDER_COPIES = {MAIN: 3.0, SIDE: 2.0, DRINK: 2.0, DESSERT: 1.0}
MAX_ORDER_COPIES = 12

# Prices: base by course, times factors for diet, cuisine and price level.
BASE_PRICE = {MAIN: 10.5, SIDE: 4.5, DRINK: 2.6, DESSERT: 5.0}
COFFEE_TEA_PRICE = 2.5
DIET_PRICE_FACTOR = {MEAT: 1.1, FISH: 1.15}
CUISINE_PRICE_FACTOR = {"steakhouse": 1.7, "seafood": 1.4, "sushi": 1.25, "bbq": 1.15}
# Indexed by price level 1 to 3.
PRICE_LEVEL_FACTOR = np.array([0.0, 0.8, 1.0, 1.45])
MIN_PRICE = 1.0

MEAN_MENU_SIZE = 20
MIN_MENU_SIZE = 8
# Share of dishes with a description whose menu item shows it.
DESCRIPTION_SHARE = 0.6


@dataclass
class Menus:
    """Menu items as arrays, sorted by restaurant; index = position in id order."""

    restaurant: np.ndarray
    # Index into ``dishes``.
    dish: np.ndarray
    price: np.ndarray
    # 1 labelled vegetarian, 0 labelled not vegetarian, -1 not labelled.
    label: np.ndarray
    shows_description: np.ndarray
    # How often the item is ordered relative to the others of its menu.
    copies: np.ndarray
    dishes: tuple[Dish, ...]

    @property
    def count(self) -> int:
        return int(self.restaurant.size)

    def orderable_by(self, segment: str) -> np.ndarray:
        """Per item: whether users of ``segment`` order it.

        Raises:
            ValueError: the segment places no orders.
        """
        if segment == REGULAR:
            per_dish = [True for _ in self.dishes]
        elif segment == VEGETARIAN_SEGMENT:
            per_dish = [dish.is_vegetarian for dish in self.dishes]
        elif segment == COFFEE_TEA_ONLY:
            per_dish = [dish.kind in COFFEE_TEA_KINDS for dish in self.dishes]
        elif segment == PIZZA_ONLY:
            per_dish = [dish.kind == PIZZA for dish in self.dishes]
        else:
            msg = f"segment {segment!r} places no orders"
            raise ValueError(msg)
        result: np.ndarray = np.array(per_dish, dtype=bool)[self.dish]
        return result


def generate_menus(restaurants: Restaurants, rng: np.random.Generator) -> Menus:
    """Draw a menu for every restaurant; chain locations share their brand's."""
    dishes = all_dishes()
    index_of = {dish.name: index for index, dish in enumerate(dishes)}
    inclusion = np.array([_inclusion_weight(dish) for dish in dishes])
    copies = np.array([_order_copies(dish) for dish in dishes])
    base_price = np.array([_base_price(dish) for dish in dishes])
    base_price *= rng.lognormal(0.0, 0.15, size=len(dishes))

    parts = [
        *_chain_menus(rng, restaurants, index_of, inclusion, copies),
        *_independent_menus(rng, restaurants, index_of, inclusion, copies),
    ]
    owner, dish, factor, labelled, described, weight = (
        np.concatenate(column) for column in zip(*parts, strict=True)
    )
    course_rank = np.array([COURSE_RANK[d.course] for d in dishes])[dish]
    order = np.lexsort((dish, course_rank, owner))
    owner, dish, factor = owner[order], dish[order], factor[order]
    labelled, described, weight = labelled[order], described[order], weight[order]

    cuisine_factor = np.array(
        [CUISINE_PRICE_FACTOR.get(name, 1.0) for name in CUISINES]
    )[restaurants.cuisine[owner]]
    level_factor = PRICE_LEVEL_FACTOR[restaurants.price_level[owner]]
    price = base_price[dish] * factor * cuisine_factor * level_factor
    # Prices end in 0 or 5 cents.
    price = np.maximum(np.rint(price * 20.0) / 20.0, MIN_PRICE)

    is_vegetarian = np.array([d.is_vegetarian for d in dishes])[dish]
    label = np.where(labelled, is_vegetarian.astype(np.int8), np.int8(-1))
    has_description = np.array([d.description is not None for d in dishes])
    return Menus(
        restaurant=owner.astype(np.int32),
        dish=dish.astype(np.int16),
        price=price,
        label=label.astype(np.int8),
        shows_description=described & has_description[dish],
        copies=np.clip(np.rint(weight), 1, MAX_ORDER_COPIES).astype(np.int64),
        dishes=dishes,
    )


# Columns of a batch of menu items before sorting: restaurant, dish, price
# factor, labelled, shows description, order weight.
MenuPart = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _chain_menus(
    rng: np.random.Generator,
    restaurants: Restaurants,
    index_of: dict[str, int],
    inclusion: np.ndarray,
    copies: np.ndarray,
) -> list[MenuPart]:
    """Draw one menu per brand and copy it to every location, with the same
    dishes, prices, labels and descriptions."""
    parts = []
    for brand_index, brand in enumerate(BRANDS):
        locations = np.flatnonzero(restaurants.brand == brand_index)
        pool = list(CUISINE_POOLS[brand.cuisine])
        if brand.meat_only:
            pool = [dish for dish in pool if dish.diet == MEAT]
        pool_index = np.array([index_of[dish.name] for dish in pool])
        size = int(np.clip(rng.normal(22, 4), 12, pool_index.size))
        template = _draw_menus(rng, pool_index, inclusion, np.array([size]))[1]
        price_factor = rng.lognormal(0.0, 0.08)
        label_rate = rng.beta(1.5, 1.5)
        labelled = rng.random(template.size) < label_rate
        described = rng.random(template.size) < DESCRIPTION_SHARE
        item_copies = copies[template] * rng.lognormal(0.0, 0.5, template.size)
        if locations.size == 0:
            continue
        parts.append(
            (
                np.repeat(locations, template.size),
                np.tile(template, locations.size),
                np.repeat(price_factor, locations.size * template.size),
                np.tile(labelled, locations.size),
                np.tile(described, locations.size),
                np.tile(item_copies, locations.size),
            )
        )
    return parts


def _independent_menus(
    rng: np.random.Generator,
    restaurants: Restaurants,
    index_of: dict[str, int],
    inclusion: np.ndarray,
    copies: np.ndarray,
) -> list[MenuPart]:
    """Draw a menu for every independent from its cuisine's pool. Each
    restaurant labels its own random share of the items."""
    parts = []
    independent = restaurants.brand < 0
    for cuisine_index, cuisine in enumerate(CUISINES):
        rows = np.flatnonzero(independent & (restaurants.cuisine == cuisine_index))
        if rows.size == 0:
            continue
        pool_index = np.array([index_of[d.name] for d in CUISINE_POOLS[cuisine]])
        sizes = np.clip(
            np.rint(rng.normal(MEAN_MENU_SIZE, 5, rows.size)),
            MIN_MENU_SIZE,
            pool_index.size,
        ).astype(np.int64)
        owner_positions, menu_dishes = _draw_menus(rng, pool_index, inclusion, sizes)
        owners = rows[owner_positions]
        label_rates = rng.beta(1.2, 1.2, rows.size)[owner_positions]
        parts.append(
            (
                owners,
                menu_dishes,
                rng.lognormal(0.0, 0.08, rows.size)[owner_positions],
                rng.random(owners.size) < label_rates,
                rng.random(owners.size) < DESCRIPTION_SHARE,
                copies[menu_dishes] * rng.lognormal(0.0, 0.5, owners.size),
            )
        )
    return parts


def _draw_menus(
    rng: np.random.Generator,
    pool_index: np.ndarray,
    inclusion: np.ndarray,
    sizes: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``sizes[i]`` distinct dishes of the pool for menu i.

    Weighted sampling without replacement by exponential races: each dish
    gets an exponential time divided by its weight, and the earliest win.
    Returns the menu number and the dish of every drawn item.
    """
    times = rng.exponential(size=(sizes.size, pool_index.size))
    times /= inclusion[pool_index]
    ranks = np.argsort(times, axis=1)
    chosen = np.arange(pool_index.size)[None, :] < sizes[:, None]
    menu_numbers = np.nonzero(chosen)[0]
    return menu_numbers, pool_index[ranks[chosen]]


def _inclusion_weight(dish: Dish) -> float:
    if dish.kind in COFFEE_TEA_KINDS:
        return INCLUSION_WEIGHT[MAIN]
    return INCLUSION_WEIGHT[dish.course]


def _order_copies(dish: Dish) -> float:
    if dish.kind in COFFEE_TEA_KINDS:
        return ORDER_COPIES[MAIN]
    return ORDER_COPIES[dish.course]


def _base_price(dish: Dish) -> float:
    if dish.kind in COFFEE_TEA_KINDS:
        return COFFEE_TEA_PRICE
    return BASE_PRICE[dish.course] * DIET_PRICE_FACTOR.get(dish.diet, 1.0)
