"""Orders and order items of the synthetic world, drawn for all users at once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.synthetic.choice import ANY_CUISINE, RestaurantChooser
from features.synthetic.config import (
    CITIES,
    COFFEE_TEA_ONLY,
    ORDERING_SEGMENTS,
    PIZZA_ONLY,
    REGULAR,
    SECOND_US,
    SEGMENTS,
    VEGETARIAN_SEGMENT,
    WorldConfig,
    epoch_us,
)
from features.synthetic.menus import Menus
from features.synthetic.sampling import OwnedItems, draw_by_group, sorted_by_key
from features.synthetic.users import SHORTLIST_SLOTS, Users

DAY_SECONDS = 86_400

# Relative orders per weekday, Monday first: most on Friday and Saturday.
WEEKDAY_WEIGHTS = (0.85, 0.85, 0.9, 1.0, 1.35, 1.45, 1.15)
# Daily orders grow by this share from the first day to the last.
GROWTH = 0.2

# Chance that an order goes to one of the user's favourite places, and how
# those orders spread over the favourites; the rest explore the city.
REPEAT_SHARE = 0.7
SLOT_SHARES = (0.36, 0.25, 0.18, 0.12, 0.09)
# Chance that a regular user's exploring order is placed in another city.
TRAVEL_SHARE = 0.03

# Meal times in local hours: (share, mean, standard deviation) per mode.
MEALS = ((0.42, 12.9, 0.9), (0.5, 20.3, 1.3), (0.08, 16.0, 3.0))
COFFEE_BREAKS = ((0.55, 9.3, 1.2), (0.45, 16.3, 1.5))
FIRST_HOUR, LAST_HOUR = 7.0, 23.98

# Chances of drawing 1, 2, 3 and 4 items per order, by segment. A dish drawn
# twice for one order is kept once, so some orders end up with fewer.
ITEM_COUNT_SHARES = {
    REGULAR: (0.45, 0.33, 0.14, 0.08),
    VEGETARIAN_SEGMENT: (0.45, 0.33, 0.14, 0.08),
    COFFEE_TEA_ONLY: (0.6, 0.3, 0.08, 0.02),
    PIZZA_ONLY: (0.5, 0.3, 0.15, 0.05),
}
MAX_ITEMS_PER_ORDER = 4
# Chances of a quantity of 1, 2, 3 and 4.
QUANTITY_SHARES = (0.82, 0.13, 0.04, 0.01)

RATED_SHARE = 0.35
MEAN_RATING = 3.9
RATING_NOISE = 0.9


@dataclass
class Orders:
    """Orders sorted by time; ``user`` indexes Users, ``restaurant`` Restaurants."""

    user: np.ndarray
    restaurant: np.ndarray
    ordered_at_us: np.ndarray
    total: np.ndarray
    # NaN where the order was not rated.
    rating: np.ndarray


@dataclass
class OrderItems:
    """Order items grouped by order; ``order`` indexes Orders, ``item`` Menus."""

    order: np.ndarray
    item: np.ndarray
    quantity: np.ndarray


def generate_orders(
    config: WorldConfig,
    rng: np.random.Generator,
    users: Users,
    chooser: RestaurantChooser,
    menus: Menus,
) -> tuple[Orders, OrderItems, np.ndarray]:
    """Draw every order and its items.

    Returns the orders, their items, and each user's first order time in
    microseconds (-1 for users without orders), so that signup can precede it.
    """
    user = np.repeat(np.arange(users.count, dtype=np.int32), users.order_count)
    segment = users.segment[user]
    day = _days(config, rng, users.arrival_day[user])
    restaurant = _restaurants(rng, users, chooser, user, segment)
    local_seconds = _local_seconds(rng, segment)

    offsets = np.array([city.utc_offset_hours * 3600 for city in CITIES])
    utc_offset = offsets[chooser.restaurants.city[restaurant]]
    # Seconds since one day before the window start, so that keys are >= 0.
    seconds = (day.astype(np.int64) + 1) * DAY_SECONDS + local_seconds - utc_offset
    rows, seconds = sorted_by_key(seconds)
    user, restaurant, segment = user[rows], restaurant[rows], segment[rows]
    del rows, day, local_seconds, utc_offset
    ordered_at = epoch_us(config.start) + (seconds - DAY_SECONDS) * SECOND_US

    first_order = np.full(users.count, np.iinfo(np.int64).max)
    np.minimum.at(first_order, user, ordered_at)
    first_order[users.order_count == 0] = -1

    items = _order_items(rng, menus, restaurant, segment, chooser.restaurants.count)
    line_totals = menus.price[items.item] * items.quantity
    total = np.bincount(items.order, weights=line_totals, minlength=user.size)
    orders = Orders(
        user=user,
        restaurant=restaurant,
        ordered_at_us=ordered_at,
        total=np.round(total, 2),
        rating=_ratings(rng, chooser.restaurants.quality[restaurant]),
    )
    return orders, items, first_order


def _days(
    config: WorldConfig, rng: np.random.Generator, arrival_day: np.ndarray
) -> np.ndarray:
    """Day of each order, from the user's arrival to the window's end, weighted
    by weekday and a slow growth."""
    first_weekday = config.start.weekday()
    day_numbers = np.arange(config.days)
    weights = np.array(WEEKDAY_WEIGHTS)[(first_weekday + day_numbers) % 7]
    weights *= 1.0 + GROWTH * day_numbers / config.days
    cumulative = np.concatenate(([0.0], np.cumsum(weights)))
    lower = cumulative[arrival_day]
    targets = lower + rng.random(arrival_day.size) * (cumulative[-1] - lower)
    day = np.searchsorted(cumulative, targets, side="right") - 1
    return np.clip(day, arrival_day, config.days - 1).astype(np.int32)


def _restaurants(
    rng: np.random.Generator,
    users: Users,
    chooser: RestaurantChooser,
    user: np.ndarray,
    segment: np.ndarray,
) -> np.ndarray:
    """Pick each order's restaurant: a favourite place for most orders, and a
    popularity draw in the city for the rest. Regular users sometimes draw in
    another city."""
    slot = np.searchsorted(np.cumsum(SLOT_SHARES), rng.random(user.size))
    np.minimum(slot, SHORTLIST_SLOTS - 1, out=slot)
    restaurant = users.shortlist[user, slot]

    explore = np.flatnonzero(rng.random(user.size) >= REPEAT_SHARE)
    city = users.city[user[explore]].astype(np.int64)
    travels = (segment[explore] == SEGMENTS.index(REGULAR)) & (
        rng.random(explore.size) < TRAVEL_SHARE
    )
    other_city = (city + rng.integers(1, len(CITIES), explore.size)) % len(CITIES)
    city = np.where(travels, other_city, city)
    groups = chooser.group_numbers(
        segment[explore], city, np.full(explore.size, ANY_CUISINE, dtype=np.int64)
    )
    uniforms = rng.random(explore.size)
    restaurant[explore] = draw_by_group(groups, uniforms, chooser.choice_for)
    return restaurant


def _local_seconds(rng: np.random.Generator, segment: np.ndarray) -> np.ndarray:
    """Local second of the day: lunch and dinner, or coffee breaks."""
    hours = np.empty(segment.size)
    is_coffee = segment == SEGMENTS.index(COFFEE_TEA_ONLY)
    for modes, rows in (
        (MEALS, np.flatnonzero(~is_coffee)),
        (COFFEE_BREAKS, np.flatnonzero(is_coffee)),
    ):
        shares = np.cumsum([share for share, _, _ in modes])
        mode = np.searchsorted(shares, rng.random(rows.size) * shares[-1])
        np.minimum(mode, len(modes) - 1, out=mode)
        means = np.array([mean for _, mean, _ in modes])[mode]
        spreads = np.array([spread for _, _, spread in modes])[mode]
        hours[rows] = means + spreads * rng.standard_normal(rows.size)
    np.clip(hours, FIRST_HOUR, LAST_HOUR, out=hours)
    return (hours * 3600.0).astype(np.int64)


def _order_items(
    rng: np.random.Generator,
    menus: Menus,
    restaurant: np.ndarray,
    segment: np.ndarray,
    restaurant_count: int,
) -> OrderItems:
    """Distinct menu items of each order, from what the user's segment orders."""
    order_count = restaurant.size
    item_count = np.ones(order_count, dtype=np.int64)
    uniforms = rng.random(order_count)
    for name, shares in ITEM_COUNT_SHARES.items():
        rows = np.flatnonzero(segment == SEGMENTS.index(name))
        cumulative = np.cumsum(shares)
        extra = np.searchsorted(cumulative, uniforms[rows] * cumulative[-1])
        item_count[rows] += np.minimum(extra, MAX_ITEMS_PER_ORDER - 1)
    del uniforms

    order = np.repeat(np.arange(order_count, dtype=np.int32), item_count)
    del item_count
    item_restaurant = restaurant[order]
    item_segment = segment[order]
    item = np.empty(order.size, dtype=np.int32)
    uniforms = rng.random(order.size)
    for name, pool in _item_pools(menus, restaurant_count).items():
        rows = np.flatnonzero(item_segment == SEGMENTS.index(name))
        item[rows] = pool.draw(item_restaurant[rows], uniforms[rows])
    del item_restaurant, item_segment, uniforms

    # Items of one order are adjacent, so a repeat is within three places.
    duplicate = np.zeros(order.size, dtype=bool)
    for distance in range(1, MAX_ITEMS_PER_ORDER):
        duplicate[distance:] |= (order[distance:] == order[:-distance]) & (
            item[distance:] == item[:-distance]
        )
    order, item = order[~duplicate], item[~duplicate]

    cumulative = np.cumsum(QUANTITY_SHARES)
    quantity = np.searchsorted(cumulative, rng.random(order.size) * cumulative[-1])
    quantity = (np.minimum(quantity, len(QUANTITY_SHARES) - 1) + 1).astype(np.int32)
    return OrderItems(order=order, item=item, quantity=quantity)


def _item_pools(menus: Menus, restaurant_count: int) -> dict[str, OwnedItems]:
    """Build, per segment, the items its users order at each restaurant,
    weighted by popularity."""
    pools = {}
    for name in ORDERING_SEGMENTS:
        rows = np.flatnonzero(menus.orderable_by(name))
        pools[name] = OwnedItems(
            menus.restaurant[rows],
            rows,
            menus.copies[rows],
            restaurant_count,
        )
    return pools


def _ratings(rng: np.random.Generator, quality: np.ndarray) -> np.ndarray:
    """Stars 1 to 5 for some orders, higher at better restaurants; NaN otherwise."""
    stars = np.rint(
        MEAN_RATING + quality + RATING_NOISE * rng.standard_normal(quality.size)
    )
    stars = np.clip(stars, 1.0, 5.0)
    rated = rng.random(quality.size) < RATED_SHARE
    return np.where(rated, stars, np.nan)
