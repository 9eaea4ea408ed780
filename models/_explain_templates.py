"""The reason templates: one sentence per feature family from a row's values."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

# A distance above this is not offered as a reason: a restaurant that far is
# pushed up only for being less far than the other candidates.
MAX_REASON_KM = 20.0
# A restaurant with at least this many orders in the window is called popular.
POPULAR_MIN_ORDERS = 10
# A restaurant that opened at most this many days ago is called new.
NEW_RESTAURANT_DAYS = 30
# A user with at least this share of vegetarian orders counts as vegetarian.
VEGETARIAN_ORDER_RATIO = 0.5

Row = Mapping[str, Any]

# Templates. Each reads the row's values and returns None when they do not
# make the sentence true.


def _vegetarian(row: Row) -> str | None:
    ratio = _value(row, "user_vegetarian_order_ratio")
    share = _value(row, "restaurant_vegetarian_item_share")
    declared = _value(row, "user_declared_vegetarian") == 1
    orders_vegetarian = ratio is not None and ratio >= VEGETARIAN_ORDER_RATIO
    if not (orders_vegetarian or declared):
        return None

    if ratio is not None and orders_vegetarian:
        you = f"{_percent(ratio)} of your orders were vegetarian"
    else:
        you = "you eat vegetarian"
    if share is not None and share > 0:
        return f"{you} and {_percent(share)} of this menu is"
    if _value(row, "restaurant_has_vegetarian_options") == 1:
        return f"{you} and this restaurant has vegetarian options"
    return None


def _distance(row: Row) -> str | None:
    declared = _value(row, "distance_km")
    if declared is not None and declared <= MAX_REASON_KM:
        return f"{_kilometres(declared)} from you"
    usual = _value(row, "history_distance_km")
    if declared is None and usual is not None and usual <= MAX_REASON_KM:
        return f"{_kilometres(usual)} from the centre of your past orders"
    return None


def _same_city(row: Row) -> str | None:
    return "in your city" if _value(row, "same_city") == 1 else None


def _cuisine(row: Row) -> str | None:
    offered = row.get("restaurant_cuisines") or []
    affinity = _value(row, "cuisine_affinity")
    if affinity is not None and affinity > 0:
        shares = dict(
            zip(
                row.get("user_cuisine_names") or [],
                row.get("user_cuisine_shares") or [],
                strict=False,
            )
        )
        matches = [name for name in offered if name in shares]
        if not matches:
            return f"serves a cuisine of {_percent(affinity)} of your orders"
        best = max(matches, key=lambda name: shares[name])
        return f"{cuisine_name(best)}, like {_percent(shares[best])} of your orders"

    declared = _value(row, "declared_cuisine_match")
    if declared is not None and declared >= 1:
        liked = set(row.get("user_liked_cuisines") or [])
        matches = [name for name in offered if name in liked]
        if not matches:
            return "serves a cuisine you said you like"
        return f"{cuisine_name(matches[0])}, a cuisine you said you like"
    return None


def _price(row: Row) -> str | None:
    gap = _value(row, "price_budget_gap")
    price = _value(row, "restaurant_price_level")
    budget = _value(row, "user_budget_level")
    if gap is None or gap > 0:
        return None
    if price is None or budget is None:
        return "within your budget"
    if gap == 0:
        return f"price level {price:.0f} of 3, your budget"
    return f"price level {price:.0f} of 3, below your budget of {budget:.0f}"


def _past_orders(row: Row) -> str | None:
    count = _value(row, "past_orders_here")
    if count is None or count < 1:
        return None
    if count == 1:
        return "you ordered here once"
    return f"you ordered here {count:.0f} times"


def _popularity(row: Row) -> str | None:
    recent = _value(row, "restaurant_orders_30d")
    total = _value(row, "restaurant_order_count")
    if recent is not None and recent >= 1:
        count, window = recent, " in the last 30 days"
    elif total is not None and total >= 1:
        count, window = total, " in total"
    else:
        return None
    orders = "1 order" if count == 1 else f"{count:.0f} orders"
    prefix = "popular: " if count >= POPULAR_MIN_ORDERS else ""
    return f"{prefix}{orders}{window}"


def _taste(row: Row) -> str | None:
    affinity = _value(row, "taste_affinity")
    if affinity is None or affinity <= 0:
        return None
    return "popular with people who order like you"


def _neighbours(row: Row) -> str | None:
    affinity = _value(row, "neighbour_affinity")
    if affinity is None or affinity <= 0:
        return None
    return "often ordered by people who order where you do"


def _rating(row: Row) -> str | None:
    rating = _value(row, "restaurant_mean_rating")
    # Rating scales differ between data sets (0 to 2 in the UCI files), so a
    # rating is a reason only when it is not below the user's own mean rating.
    usual = _value(row, "user_mean_rating")
    if rating is None or (usual is not None and rating < usual):
        return None
    return f"rated {rating:.1f} on average"


def _opening(row: Row) -> str | None:
    days = _value(row, "restaurant_days_since_opening")
    if days is None or days < 0 or days > NEW_RESTAURANT_DAYS:
        return None
    if days < 1:
        return "new: opened today"
    whole = math.floor(days)
    return f"new: opened {whole} day{'' if whole == 1 else 's'} ago"


def _chain(row: Row) -> str | None:
    is_chain = _value(row, "restaurant_is_chain")
    if is_chain is None:
        return None
    return "a chain restaurant" if is_chain == 1 else "an independent restaurant"


def _generic(feature: str) -> Callable[[Row], str | None]:
    def render(row: Row) -> str:
        value = _value(row, feature)
        shown = "unknown" if value is None else f"{value:.4g}"
        return f"its {feature} ({shown}) raised the score"

    return render


def _value(row: Row, column: str) -> float | None:
    """Read the number in ``column``; None when it is missing, null or NaN."""
    value = row.get(column)
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _percent(share: float) -> str:
    if 0 < share < 0.005:
        return "under 1%"
    return f"{share:.0%}"


def _kilometres(distance: float) -> str:
    if distance < 0.05:
        return "under 0.1 km"
    return f"{distance:.1f} km" if distance < 10 else f"{distance:.0f} km"


# Stored cuisine words that reasons write as acronyms, in capitals.
CUISINE_ACRONYMS: dict[str, str] = {"bbq": "BBQ"}


def cuisine_name(name: str) -> str:
    """Turn a stored cuisine name, lower case with underscores (``fast_food``),
    into text (``Fast food``), with acronyms in capitals (``BBQ``)."""
    words = [CUISINE_ACRONYMS.get(word, word) for word in name.split("_")]
    text = " ".join(words)
    return text[:1].upper() + text[1:]
