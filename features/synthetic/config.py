"""Size and seed of a synthetic world, its cities and its planted user segments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# One segment per user, stored in ``user_segments``.
REGULAR = "regular"
VEGETARIAN_SEGMENT = "vegetarian"
COFFEE_TEA_ONLY = "coffee_tea_only"
PIZZA_ONLY = "pizza_only"
NEW_USER = "new_user"
SEGMENTS: tuple[str, ...] = (
    REGULAR,
    VEGETARIAN_SEGMENT,
    COFFEE_TEA_ONLY,
    PIZZA_ONLY,
    NEW_USER,
)

# Segments whose users place orders.
ORDERING_SEGMENTS: tuple[str, ...] = (
    REGULAR,
    VEGETARIAN_SEGMENT,
    COFFEE_TEA_ONLY,
    PIZZA_ONLY,
)

# Expected share of users in each segment other than ``regular``.
SEGMENT_SHARES: dict[str, float] = {
    VEGETARIAN_SEGMENT: 0.08,
    COFFEE_TEA_ONLY: 0.04,
    PIZZA_ONLY: 0.05,
    NEW_USER: 0.03,
}

# Expected share of restaurants opened near the end of the window, without orders.
NEW_RESTAURANT_SHARE = 0.03

SECOND_US = 1_000_000
DAY_US = 86_400 * SECOND_US
_EPOCH = datetime(1970, 1, 1)

MIN_USERS = 100
MIN_RESTAURANTS = 60
MIN_DAYS = 14


@dataclass(frozen=True)
class City:
    """A city: centre in degrees, UTC offset in hours, relative size."""

    name: str
    latitude: float
    longitude: float
    # Standard time. NOTE: daylight saving time is ignored, so summer orders in
    # these cities are stamped one hour off in UTC.
    utc_offset_hours: int
    size: float


CITIES: tuple[City, ...] = (
    City("Madrid", 40.4168, -3.7038, 1, 1.0),
    City("Barcelona", 41.3874, 2.1686, 1, 0.8),
    City("Valencia", 39.4699, -0.3763, 1, 0.4),
    City("Mexico City", 19.4326, -99.1332, -6, 1.3),
    City("Guadalajara", 20.6597, -103.3496, -6, 0.6),
    City("London", 51.5072, -0.1276, 0, 1.2),
    City("Manchester", 53.4808, -2.2426, 0, 0.5),
    City("Austin", 30.2672, -97.7431, -6, 0.5),
)


@dataclass(frozen=True)
class WorldConfig:
    """Size, time window and seed of a synthetic world.

    ``orders_per_user`` is the mean number of orders per user, new users
    included. The total of a world is close to ``users * orders_per_user``,
    because the order counts are scaled to that expectation.
    """

    users: int = 5_000
    restaurants: int = 300
    days: int = 120
    seed: int = 0
    start: datetime = datetime(2024, 1, 1)
    orders_per_user: float = 20.0

    def validate(self) -> None:
        """Raise ValueError naming the first setting out of range."""
        if self.users < MIN_USERS:
            msg = f"users must be at least {MIN_USERS}, got {self.users}"
            raise ValueError(msg)
        if self.restaurants < MIN_RESTAURANTS:
            msg = (
                f"restaurants must be at least {MIN_RESTAURANTS}, "
                f"got {self.restaurants}"
            )
            raise ValueError(msg)
        if self.days < MIN_DAYS:
            msg = f"days must be at least {MIN_DAYS}, got {self.days}"
            raise ValueError(msg)
        if not self.orders_per_user >= 1.0:
            msg = f"orders_per_user must be at least 1, got {self.orders_per_user}"
            raise ValueError(msg)
        if self.seed < 0:
            msg = f"seed must be a non-negative integer, got {self.seed}"
            raise ValueError(msg)
        if self.start.tzinfo is not None:
            msg = f"start must be a naive UTC datetime, got {self.start.isoformat()}"
            raise ValueError(msg)


def epoch_us(moment: datetime) -> int:
    """Microseconds from 1970-01-01 to a naive UTC datetime."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def new_window_days(config: WorldConfig) -> int:
    """Length in days of the window's final stretch, in which new users sign
    up and new restaurants open."""
    return max(2, config.days // 12)
