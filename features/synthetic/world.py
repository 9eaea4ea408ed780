"""Assemble a synthetic world into store-table frames with string ids."""

from __future__ import annotations

import logging
import time

import numpy as np
import polars as pl

from features.schema import (
    MENU_ITEM_ID,
    MENU_ITEMS,
    ORDER_ID,
    ORDER_ITEMS,
    ORDERS,
    RESTAURANT_ID,
    RESTAURANTS,
    USER_ID,
    USER_SEGMENTS,
    USERS,
)
from features.synthetic.choice import RestaurantChooser
from features.synthetic.config import (
    CITIES,
    DAY_US,
    SECOND_US,
    SEGMENTS,
    WorldConfig,
    epoch_us,
)
from features.synthetic.dishes import CUISINES
from features.synthetic.menus import Menus, generate_menus
from features.synthetic.orders import OrderItems, Orders, generate_orders
from features.synthetic.restaurants import Restaurants, generate_restaurants
from features.synthetic.users import AGE_BANDS, BUDGETS, Users, generate_users

logger = logging.getLogger(__name__)

# Minimum digits of each id after its letter; more are used when needed.
ID_DIGITS = {"u": 7, "r": 5, "m": 7, "o": 9}
# Users who signed up before the window did so up to this many days earlier.
MAX_SIGNUP_AGE_DAYS = 1095.0
# Gap between signup and first order, in seconds.
SIGNUP_GAP_SECONDS = (120.0, 3 * 3600.0)

DATETIME = pl.Datetime("us")


def generate_world(config: WorldConfig | None = None) -> dict[str, pl.DataFrame]:
    """Generate a synthetic world as frames of the store tables.

    Returns frames for ``users``, ``restaurants``, ``menu_items``, ``orders``,
    ``order_items`` and ``user_segments``, with exactly the columns of
    ``features.schema``. The same config always gives identical frames.

    Raises:
        ValueError: a config setting is out of range; names the setting.
    """
    config = config or WorldConfig()
    config.validate()
    streams = np.random.SeedSequence(config.seed).spawn(5)
    rngs = [np.random.default_rng(stream) for stream in streams]

    started = time.perf_counter()
    restaurants = generate_restaurants(config, rngs[0])
    menus = generate_menus(restaurants, rngs[1])
    chooser = RestaurantChooser(restaurants, menus)
    users = generate_users(config, rngs[2], chooser)
    orders, items, first_order = generate_orders(config, rngs[3], users, chooser, menus)
    signup = signup_times(config, rngs[4], users, first_order)
    logger.debug("drew the world in %.1f s", time.perf_counter() - started)

    restaurant_ids = _ids("r", restaurants.count)
    user_order = np.argsort(signup, kind="stable")
    user_ids = _ids("u", users.count)
    # The id of each user in generation order: ids follow signup time.
    position = np.empty(users.count, dtype=np.int64)
    position[user_order] = np.arange(users.count)
    user_ids_by_index = user_ids.gather(position)
    menu_item_ids = _ids("m", menus.count)
    order_ids = _ids("o", orders.user.size)

    frames = {
        USERS.name: _users_frame(users, signup, user_order, user_ids),
        RESTAURANTS.name: _restaurants_frame(restaurants, restaurant_ids),
        MENU_ITEMS.name: _menu_items_frame(menus, menu_item_ids, restaurant_ids),
        ORDERS.name: _orders_frame(
            orders, order_ids, user_ids_by_index, restaurant_ids
        ),
        ORDER_ITEMS.name: _order_items_frame(items, order_ids, menu_item_ids),
        USER_SEGMENTS.name: pl.DataFrame(
            {
                USER_ID: user_ids,
                "segment": _labels(SEGMENTS, users.segment[user_order]),
            }
        ),
    }
    logger.info(
        "generated %s in %.1f s",
        ", ".join(f"{name}: {frame.height}" for name, frame in frames.items()),
        time.perf_counter() - started,
    )
    return frames


def signup_times(
    config: WorldConfig,
    rng: np.random.Generator,
    users: Users,
    first_order: np.ndarray,
) -> np.ndarray:
    """Signup times in microseconds, each before the user's first order."""
    start = epoch_us(config.start)
    end = start + config.days * DAY_US - SECOND_US
    days_before = rng.uniform(1.0, MAX_SIGNUP_AGE_DAYS, users.count)
    early = start - (days_before * DAY_US).astype(np.int64)
    within_day = (rng.random(users.count) * DAY_US).astype(np.int64)
    late = start + users.arrival_day.astype(np.int64) * DAY_US + within_day
    signup = np.where(users.arrival_day == 0, early, np.minimum(late, end))

    has_orders = first_order >= 0
    gap = (rng.uniform(*SIGNUP_GAP_SECONDS, users.count) * SECOND_US).astype(np.int64)
    before_first = first_order - gap
    return np.where(has_orders, np.minimum(signup, before_first), signup)


def _ids(prefix: str, count: int) -> pl.Series:
    """``count`` ids such as u0000001: a letter and zero-padded numbers from 1."""
    digits = max(ID_DIGITS[prefix], len(str(count)))
    numbers = pl.int_range(1, count + 1, dtype=pl.Int64, eager=True)
    return (prefix + numbers.cast(pl.String).str.zfill(digits)).alias(prefix)


def _labels(names: tuple[str, ...] | list[str], codes: np.ndarray) -> pl.Series:
    """Names of integer codes; a negative code gives null."""
    series = pl.Series(names, dtype=pl.String).gather(np.maximum(codes, 0))
    return pl.select(
        pl.when(pl.Series(codes < 0)).then(None).otherwise(series)
    ).to_series()


def _datetimes(microseconds: np.ndarray) -> pl.Series:
    return pl.Series(microseconds, dtype=pl.Int64).cast(DATETIME)


def _users_frame(
    users: Users, signup: np.ndarray, order: np.ndarray, user_ids: pl.Series
) -> pl.DataFrame:
    liked = users.liked_cuisines[order]
    liked_columns = [
        _labels(CUISINES, liked[:, slot]) for slot in range(liked.shape[1])
    ]
    diet = np.where(users.declares_diet[order], 0, -1)
    frame = pl.DataFrame(
        {
            USER_ID: user_ids,
            "signup_time": _datetimes(signup[order]),
            "city": _labels([city.name for city in CITIES], users.city[order]),
            "latitude": users.latitude[order],
            "longitude": users.longitude[order],
            "diet": _labels(["vegetarian"], diet),
            "liked_cuisines": pl.select(
                pl.concat_list(liked_columns).list.drop_nulls()
            ).to_series(),
            "budget": _labels(BUDGETS, users.budget[order]),
            "age_band": _labels(AGE_BANDS, users.age_band[order]),
        }
    )
    return frame.select(USERS.column_names)


def _restaurants_frame(
    restaurants: Restaurants, restaurant_ids: pl.Series
) -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            RESTAURANT_ID: restaurant_ids,
            "name": pl.Series(restaurants.names, dtype=pl.String),
            "city": _labels([city.name for city in CITIES], restaurants.city),
            "latitude": restaurants.latitude,
            "longitude": restaurants.longitude,
            "cuisines": pl.Series(restaurants.cuisine_lists, dtype=pl.List(pl.String)),
            "price_level": pl.Series(restaurants.price_level, dtype=pl.Int8),
            "is_chain": restaurants.brand >= 0,
            "opened_at": _datetimes(restaurants.opened_at_us),
        }
    )
    return frame.select(RESTAURANTS.column_names)


def _menu_items_frame(
    menus: Menus, menu_item_ids: pl.Series, restaurant_ids: pl.Series
) -> pl.DataFrame:
    names = [dish.name for dish in menus.dishes]
    descriptions = pl.Series(
        [dish.description for dish in menus.dishes], dtype=pl.String
    )
    is_vegetarian = pl.Series(menus.label, dtype=pl.Int8)
    frame = pl.DataFrame(
        {
            MENU_ITEM_ID: menu_item_ids,
            RESTAURANT_ID: restaurant_ids.gather(menus.restaurant),
            "name": _labels(names, menus.dish),
            "description": descriptions.gather(menus.dish),
            "price": menus.price,
            "is_vegetarian": is_vegetarian,
            "_shows_description": menus.shows_description,
        }
    ).with_columns(
        pl.when(pl.col("_shows_description")).then(pl.col("description")),
        pl.when(pl.col("is_vegetarian") >= 0)
        .then(pl.col("is_vegetarian") == 1)
        .alias("is_vegetarian"),
    )
    return frame.select(MENU_ITEMS.column_names)


def _orders_frame(
    orders: Orders,
    order_ids: pl.Series,
    user_ids_by_index: pl.Series,
    restaurant_ids: pl.Series,
) -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            ORDER_ID: order_ids,
            USER_ID: user_ids_by_index.gather(orders.user),
            RESTAURANT_ID: restaurant_ids.gather(orders.restaurant),
            "ordered_at": _datetimes(orders.ordered_at_us),
            "total": orders.total,
            "rating": pl.Series(orders.rating).fill_nan(None),
        }
    )
    return frame.select(ORDERS.column_names)


def _order_items_frame(
    items: OrderItems, order_ids: pl.Series, menu_item_ids: pl.Series
) -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            ORDER_ID: order_ids.gather(items.order),
            MENU_ITEM_ID: menu_item_ids.gather(items.item),
            "quantity": pl.Series(items.quantity, dtype=pl.Int32),
        }
    )
    return frame.select(ORDER_ITEMS.column_names)
