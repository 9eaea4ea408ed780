"""Users of the synthetic world: segments, homes, activity and favourite places."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.synthetic.choice import ANY_CUISINE, RestaurantChooser
from features.synthetic.config import (
    CITIES,
    COFFEE_TEA_ONLY,
    NEW_USER,
    PIZZA_ONLY,
    REGULAR,
    SEGMENT_SHARES,
    SEGMENTS,
    VEGETARIAN_SEGMENT,
    WorldConfig,
    new_window_days,
)
from features.synthetic.dishes import CUISINES
from features.synthetic.restaurants import CUISINE_WEIGHTS
from features.synthetic.sampling import draw_by_group

BUDGETS = ("low", "medium", "high")
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55+")
AGE_BAND_SHARES = (0.25, 0.35, 0.2, 0.12, 0.08)

# Standard deviation of a home around its city centre, in degrees of latitude.
HOME_SPREAD_DEGREES = 0.05
# Share of users with orders who signed up before the window.
EARLY_SIGNUP_SHARE = 0.8
# Share of vegetarians with only one to three orders, whatever their window.
FEW_ORDER_VEGETARIAN_SHARE = 0.6
# Cap on a user's expected orders per day.
MAX_ORDERS_PER_DAY = 1.5
# Sigma of the log-normal activity: larger gives more users with few orders
# and a longer tail of heavy users.
ACTIVITY_SIGMA = 1.4
CALIBRATION_ROUNDS = 4

# Favourite places: slots per user, and candidates per slot, of which the
# one nearest to home is kept.
SHORTLIST_SLOTS = 5
CANDIDATES_PER_SLOT = 2
# Chance that a regular user's slot is filled with a favourite cuisine.
FAVOURITE_CUISINE_SHARE = 0.6
MAX_FAVOURITE_CUISINES = 3
# Never favourites of regular users, because coffee and tea define a segment.
NON_FAVOURITE_CUISINES = ("cafe", "tea")

# Shares of users who fill each optional profile field.
LIKED_CUISINES_SHARE = 0.5
VEGETARIAN_DIET_SHARE = 0.4
BUDGET_SHARE = 0.6
AGE_BAND_SHARE = 0.55


@dataclass
class Users:
    """User attributes as arrays, index = user number before sorting by signup."""

    segment: np.ndarray
    city: np.ndarray
    latitude: np.ndarray
    longitude: np.ndarray
    # Day of the window from which the user orders; 0 for earlier signups.
    arrival_day: np.ndarray
    order_count: np.ndarray
    # Up to MAX_FAVOURITE_CUISINES cuisine indices per user, -1 padded.
    favourite_cuisines: np.ndarray
    # Declared liked cuisines, same layout.
    liked_cuisines: np.ndarray
    declares_diet: np.ndarray
    # Index into BUDGETS, -1 when not declared.
    budget: np.ndarray
    # Index into AGE_BANDS, -1 when not declared.
    age_band: np.ndarray
    # SHORTLIST_SLOTS restaurant indices per user, -1 for new users.
    shortlist: np.ndarray

    @property
    def count(self) -> int:
        return int(self.segment.size)


def generate_users(
    config: WorldConfig,
    rng: np.random.Generator,
    chooser: RestaurantChooser,
) -> Users:
    """Draw users, their segments, activity and favourite restaurants."""
    count = config.users
    shares = [SEGMENT_SHARES.get(name, 0.0) for name in SEGMENTS]
    shares[SEGMENTS.index(REGULAR)] = 1.0 - sum(shares)
    segment = rng.choice(len(SEGMENTS), size=count, p=shares).astype(np.int8)

    city_sizes = np.array([city.size for city in CITIES])
    city = rng.choice(len(CITIES), size=count, p=city_sizes / city_sizes.sum())
    centre_lat = np.array([c.latitude for c in CITIES])[city]
    centre_lon = np.array([c.longitude for c in CITIES])[city]
    lon_scale = 1.0 / np.cos(np.radians(centre_lat))
    latitude = centre_lat + rng.normal(0.0, HOME_SPREAD_DEGREES, count)
    longitude = centre_lon + rng.normal(0.0, HOME_SPREAD_DEGREES, count) * lon_scale

    arrival_day = _arrival_days(config, rng, segment)
    order_count = _order_counts(config, rng, segment, arrival_day)
    favourites = _favourite_cuisines(rng, count)
    users = Users(
        segment=segment,
        city=city.astype(np.int8),
        latitude=latitude,
        longitude=longitude,
        arrival_day=arrival_day,
        order_count=order_count,
        favourite_cuisines=favourites,
        liked_cuisines=_liked_cuisines(rng, segment, favourites),
        declares_diet=(segment == SEGMENTS.index(VEGETARIAN_SEGMENT))
        & (rng.random(count) < VEGETARIAN_DIET_SHARE),
        budget=np.full(count, -1, dtype=np.int8),
        age_band=np.where(
            rng.random(count) < AGE_BAND_SHARE,
            rng.choice(len(AGE_BANDS), size=count, p=AGE_BAND_SHARES),
            -1,
        ).astype(np.int8),
        shortlist=np.full((count, SHORTLIST_SLOTS), -1, dtype=np.int32),
    )
    users.shortlist = _shortlists(rng, users, chooser)
    users.budget = _budgets(rng, users, chooser)
    return users


def _arrival_days(
    config: WorldConfig, rng: np.random.Generator, segment: np.ndarray
) -> np.ndarray:
    """First day of ordering; new users arrive in the window's final stretch."""
    window = new_window_days(config)
    late = rng.integers(1, config.days - window, segment.size)
    arrival = np.where(rng.random(segment.size) < EARLY_SIGNUP_SHARE, 0, late)
    is_new = segment == SEGMENTS.index(NEW_USER)
    new_arrival = rng.integers(config.days - window, config.days, segment.size)
    return np.where(is_new, new_arrival, arrival).astype(np.int32)


def _order_counts(
    config: WorldConfig,
    rng: np.random.Generator,
    segment: np.ndarray,
    arrival_day: np.ndarray,
) -> np.ndarray:
    """Heavy-tailed order counts whose expected total is users * orders_per_user.

    Most users get 1 + Poisson(rate), with a log-normal activity scaled by the
    share of the window they are signed up for. Many vegetarians get 1 to 3.
    """
    count = segment.size
    is_new = segment == SEGMENTS.index(NEW_USER)
    few = (segment == SEGMENTS.index(VEGETARIAN_SEGMENT)) & (
        rng.random(count) < FEW_ORDER_VEGETARIAN_SHARE
    )
    few_counts = rng.integers(1, 4, count)
    varied = ~is_new & ~few

    activity = rng.lognormal(0.0, ACTIVITY_SIGMA, count)
    activity *= (config.days - arrival_day) / config.days
    activity[~varied] = 0.0
    remaining = (
        config.users * config.orders_per_user
        - few_counts[few].sum()
        - np.count_nonzero(varied)
    )
    # The cap on rates lowers the total, so the scale is raised a few times
    # to meet the target; users at the cap stay there.
    cap = config.days * MAX_ORDERS_PER_DAY
    rates = activity
    scale = 0.0
    for _ in range(CALIBRATION_ROUNDS):
        scale += max(remaining - rates.sum(), 0.0) / max(activity.sum(), 1e-9)
        rates = np.minimum(activity * scale, cap)
    counts = 1 + rng.poisson(rates)
    counts = np.where(few, few_counts, counts)
    return np.where(is_new, 0, counts).astype(np.int32)


def _favourite_cuisines(rng: np.random.Generator, count: int) -> np.ndarray:
    """Draw one to three distinct cuisines per user by cuisine weight."""
    weights = np.array(
        [
            0.0 if name in NON_FAVOURITE_CUISINES else CUISINE_WEIGHTS[name]
            for name in CUISINES
        ]
    )
    eligible = np.flatnonzero(weights > 0)
    times = rng.exponential(size=(count, eligible.size)) / weights[eligible]
    picks = eligible[np.argsort(times, axis=1)[:, :MAX_FAVOURITE_CUISINES]]
    how_many = rng.integers(1, MAX_FAVOURITE_CUISINES + 1, count)
    slots = np.arange(MAX_FAVOURITE_CUISINES)[None, :]
    return np.where(slots < how_many[:, None], picks, -1).astype(np.int8)


def _liked_cuisines(
    rng: np.random.Generator, segment: np.ndarray, favourites: np.ndarray
) -> np.ndarray:
    """Cuisines users declare: their favourites, or what their segment orders."""
    liked = favourites.copy()
    by_segment = {
        VEGETARIAN_SEGMENT: (("vegetarian",), ("vegetarian", "vegan")),
        COFFEE_TEA_ONLY: (("cafe",), ("tea",), ("cafe", "tea")),
        PIZZA_ONLY: (("pizza",), ("pizza", "italian")),
    }
    picks = rng.random(segment.size)
    for name, options in by_segment.items():
        rows = np.flatnonzero(segment == SEGMENTS.index(name))
        chosen = (picks[rows] * len(options)).astype(np.int64)
        for option_index, option in enumerate(options):
            option_rows = rows[chosen == option_index]
            liked[option_rows] = -1
            for slot, cuisine in enumerate(option):
                liked[option_rows, slot] = CUISINES.index(cuisine)
    declares = rng.random(segment.size) < LIKED_CUISINES_SHARE
    liked[~declares] = -1
    return liked


def _shortlists(
    rng: np.random.Generator, users: Users, chooser: RestaurantChooser
) -> np.ndarray:
    """Favourite restaurants of every user with orders, drawn within their
    segment's choices; of two candidates per slot the nearer one is kept."""
    rows = np.flatnonzero(users.segment != SEGMENTS.index(NEW_USER))
    slots = rows.size * SHORTLIST_SLOTS
    slot_user = np.repeat(rows, SHORTLIST_SLOTS)

    # Regular users fill some slots from one of their favourite cuisines.
    cuisine = np.full(slots, ANY_CUISINE, dtype=np.int64)
    is_regular = users.segment[slot_user] == SEGMENTS.index(REGULAR)
    by_cuisine = is_regular & (rng.random(slots) < FAVOURITE_CUISINE_SHARE)
    favourites = users.favourite_cuisines[slot_user]
    known = (favourites >= 0).sum(axis=1)
    pick = (rng.random(slots) * np.maximum(known, 1)).astype(np.int64)
    favourite = favourites[np.arange(slots), pick]
    cuisine = np.where(by_cuisine & (favourite >= 0), favourite, cuisine)

    groups = chooser.group_numbers(
        users.segment[slot_user], users.city[slot_user], cuisine
    )
    candidate_groups = np.repeat(groups, CANDIDATES_PER_SLOT)
    uniforms = rng.random(candidate_groups.size)
    candidates = draw_by_group(candidate_groups, uniforms, chooser.choice_for)
    candidates = candidates.reshape(slots, CANDIDATES_PER_SLOT)

    restaurants = chooser.restaurants
    user_lat = users.latitude[slot_user][:, None]
    user_lon = users.longitude[slot_user][:, None]
    d_lat = restaurants.latitude[candidates] - user_lat
    d_lon = (restaurants.longitude[candidates] - user_lon) * np.cos(
        np.radians(user_lat)
    )
    nearest = np.argmin(d_lat**2 + d_lon**2, axis=1)
    chosen = candidates[np.arange(slots), nearest]

    shortlist = np.full((users.count, SHORTLIST_SLOTS), -1, dtype=np.int32)
    shortlist[rows] = chosen.reshape(rows.size, SHORTLIST_SLOTS)
    return shortlist


def _budgets(
    rng: np.random.Generator, users: Users, chooser: RestaurantChooser
) -> np.ndarray:
    """Declared budget: the mean price level of the user's favourite places,
    or a random level for new users; not declared by some users."""
    levels = chooser.restaurants.price_level[np.maximum(users.shortlist, 0)]
    mean_level = levels.mean(axis=1)
    budget = np.digitize(mean_level, [1.6, 2.3])
    is_new = users.segment == SEGMENTS.index(NEW_USER)
    budget = np.where(is_new, rng.integers(0, len(BUDGETS), users.count), budget)
    declares = rng.random(users.count) < BUDGET_SHARE
    return np.where(declares, budget, -1).astype(np.int8)
