"""Restaurants of the synthetic world: chains, independents, places and sizes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.synthetic.config import (
    CITIES,
    DAY_US,
    NEW_RESTAURANT_SHARE,
    WorldConfig,
    epoch_us,
    new_window_days,
)
from features.synthetic.dishes import CUISINES


@dataclass(frozen=True)
class Brand:
    """A chain: every location shares the name, cuisine, price level and menu."""

    name: str
    cuisine: str
    price_level: int
    # Serves meat dishes only: no vegetarian item at all, not even a drink.
    meat_only: bool
    # Relative number of locations.
    size: float


BRANDS: tuple[Brand, ...] = (
    Brand("Burger Planet", "burgers", 1, False, 3.0),
    Brand("Smokehouse Grill", "bbq", 2, True, 2.0),
    Brand("El Gaucho Asador", "steakhouse", 3, True, 1.0),
    Brand("Pizza Napoli Express", "pizza", 1, False, 2.5),
    Brand("Slice Society", "pizza", 2, False, 1.2),
    Brand("Taco Loco", "mexican", 1, False, 2.0),
    Brand("Wok & Roll", "chinese", 1, False, 1.5),
    Brand("Sakura Sushi Bar", "sushi", 2, False, 1.2),
    Brand("Curry House", "indian", 2, False, 1.0),
    Brand("Green Bowl", "vegetarian", 2, False, 0.8),
    Brand("Bean & Leaf Coffee", "cafe", 1, False, 2.0),
    Brand("Tea Garden", "tea", 1, False, 0.8),
    Brand("Olivo Mediterranean Kitchen", "mediterranean", 2, False, 0.8),
    Brand("Thai Orchid", "thai", 2, False, 0.8),
    Brand("La Tapería", "spanish", 2, False, 0.8),
)

# The meat-only chain planted as the most popular restaurant of every city.
FLAGSHIP_BRAND = 1

CHAIN_SHARE = 0.35
# Share of independents placed a few hundred metres from a chain location.
NEIGHBOUR_SHARE = 0.3
# Factors on the log-normal popularity of a restaurant.
CHAIN_POPULARITY = 2.5
MEAT_ONLY_POPULARITY = 1.5
NEIGHBOUR_POPULARITY = 0.35

# Relative number of independent restaurants per primary cuisine.
CUISINE_WEIGHTS: dict[str, float] = {
    "pizza": 10,
    "italian": 7,
    "burgers": 9,
    "steakhouse": 4,
    "bbq": 4,
    "mexican": 8,
    "sushi": 6,
    "indian": 6,
    "chinese": 7,
    "thai": 5,
    "mediterranean": 5,
    "spanish": 5,
    "seafood": 3,
    "cafe": 7,
    "tea": 3,
    "vegetarian": 3,
    "vegan": 2,
}

# Tags added to the primary cuisine in the ``cuisines`` column.
EXTRA_TAGS: dict[str, tuple[str, ...]] = {
    "pizza": ("italian",),
    "sushi": ("japanese",),
    "burgers": ("american",),
    "bbq": ("american",),
    "steakhouse": ("grill",),
    "cafe": ("bakery",),
    "vegan": ("vegetarian",),
}

# Probabilities of price levels 1, 2 and 3 for independents.
PRICE_LEVEL_MIX: dict[str, tuple[float, float, float]] = {
    "steakhouse": (0.1, 0.45, 0.45),
    "sushi": (0.15, 0.5, 0.35),
    "seafood": (0.1, 0.5, 0.4),
    "cafe": (0.6, 0.35, 0.05),
    "tea": (0.6, 0.35, 0.05),
    "burgers": (0.55, 0.4, 0.05),
    "pizza": (0.5, 0.42, 0.08),
}
DEFAULT_PRICE_LEVEL_MIX = (0.35, 0.45, 0.2)

# Name templates and the words that fill them, per primary cuisine.
NAME_PARTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "pizza": (
        ("Pizzeria {}", "{}'s Pizza", "Forno {}"),
        ("Luigi", "Marco", "Rossi", "Gino", "Bella", "Vesuvio", "Toni"),
    ),
    "italian": (
        ("Trattoria {}", "Osteria {}", "Da {}"),
        ("Giulia", "Bianchi", "Mario", "Nonna Rosa", "Romano", "Sofia"),
    ),
    "burgers": (
        ("{} Burger Bar", "{}'s Burgers", "Burger Joint {}"),
        ("Sam", "Big Mike", "Route 66", "Brooklyn", "Mama Jo", "Rocket"),
    ),
    "steakhouse": (
        ("{} Steakhouse", "Asador {}", "Parrilla {}"),
        ("Walker", "El Toro", "Don Julio", "Pampa", "Hereford", "Castilla"),
    ),
    "bbq": (
        ("{} BBQ", "{}'s Smokehouse", "Pit {}"),
        ("Lone Star", "Hickory", "Big Earl", "Red Oak", "Memphis", "Dixie"),
    ),
    "mexican": (
        ("Taquería {}", "La Casa de {}", "Cantina {}", "El Rincón de {}"),
        ("Don Pepe", "Lupita", "Jalisco", "Frida", "Oaxaca", "Chava", "Tía Rosa"),
    ),
    "sushi": (
        ("Sushi {}", "{} Sushi Bar", "Izakaya {}"),
        ("Tanaka", "Hikari", "Umi", "Kaiten", "Nami", "Koi", "Sakana"),
    ),
    "indian": (
        ("{} Tandoori", "{} Curry Kitchen", "Taste of {}"),
        ("Delhi", "Punjab", "Bombay", "Kerala", "Jaipur", "Goa", "Madras"),
    ),
    "chinese": (
        ("{} Garden", "Restaurante {}", "{} Noodle House"),
        ("Golden Dragon", "Jade", "Shanghai", "Lotus", "Canton", "Panda"),
    ),
    "thai": (
        ("{} Thai", "Baan {}", "{} Thai Kitchen"),
        ("Siam", "Bangkok", "Chiang Mai", "Lemongrass", "Phuket", "Tuk Tuk"),
    ),
    "mediterranean": (
        ("{} Mezze", "Taverna {}", "{} Grill"),
        ("Aegean", "Athena", "Byblos", "Cyprus", "Santorini", "Olive Tree"),
    ),
    "spanish": (
        ("Bar {}", "Casa {}", "Taberna {}"),
        ("Manolo", "Paco", "La Abuela", "El Puerto", "Montaña", "Lola"),
    ),
    "seafood": (
        ("{} Fish House", "Marisquería {}", "The {} Oyster Bar"),
        ("Harbour", "El Faro", "Anchor", "Bahía", "Neptune", "Coral"),
    ),
    "cafe": (
        ("Café {}", "{} Coffee", "{} Espresso Bar"),
        ("Central", "Aroma", "Morning", "La Esquina", "Bluebird", "Molino"),
    ),
    "tea": (
        ("{} Tea House", "Tetería {}", "{} Tea Room"),
        ("Jade Leaf", "Camelia", "Matcha", "Darjeeling", "Sencha", "Al-Andalus"),
    ),
    "vegetarian": (
        ("{} Kitchen", "La Huerta de {}", "{} Veggie"),
        ("Green Leaf", "Marta", "Sprout", "Root", "Garden", "Harvest"),
    ),
    "vegan": (
        ("{} Vegan", "Vegan {}", "{} Plant Kitchen"),
        ("Pure", "Wild", "Verde", "Loving Hut", "Seed", "Bloom"),
    ),
}

# Standard deviation of a restaurant around its city centre, and of an
# independent around the chain location it neighbours, in degrees of latitude.
CITY_SPREAD_DEGREES = 0.03
NEIGHBOUR_SPREAD_DEGREES = 0.0015


@dataclass
class Restaurants:
    """Restaurant attributes as arrays, index = position in id order."""

    city: np.ndarray
    latitude: np.ndarray
    longitude: np.ndarray
    cuisine: np.ndarray
    price_level: np.ndarray
    # Index into BRANDS, -1 for an independent.
    brand: np.ndarray
    opened_at_us: np.ndarray
    is_new: np.ndarray
    # Relative share of orders before segment rules, 0 for new restaurants.
    popularity: np.ndarray
    # Added to every rating the restaurant receives, in stars.
    quality: np.ndarray
    names: list[str]
    cuisine_lists: list[list[str]]

    @property
    def count(self) -> int:
        return int(self.city.size)


def generate_restaurants(config: WorldConfig, rng: np.random.Generator) -> Restaurants:
    """Draw restaurants, sorted by opening time so that ids follow it."""
    count = config.restaurants
    city_sizes = np.array([city.size for city in CITIES])
    city = rng.choice(len(CITIES), size=count, p=city_sizes / city_sizes.sum())

    brand_sizes = np.array([brand.size for brand in BRANDS])
    is_chain = rng.random(count) < CHAIN_SHARE
    brand = np.where(
        is_chain,
        rng.choice(len(BRANDS), size=count, p=brand_sizes / brand_sizes.sum()),
        -1,
    )
    cuisine_weights = np.array([CUISINE_WEIGHTS[name] for name in CUISINES])
    cuisine = rng.choice(
        len(CUISINES), size=count, p=cuisine_weights / cuisine_weights.sum()
    )

    # The first restaurants of every city are fixed, so that each city has a
    # flagship of the meat-only chain and a place for every planted segment.
    fixed = _fixed_restaurants()
    for city_index in range(len(CITIES)):
        for offset, (fixed_brand, fixed_cuisine) in enumerate(fixed):
            row = city_index * len(fixed) + offset
            city[row] = city_index
            brand[row] = fixed_brand
            cuisine[row] = fixed_cuisine
    fixed_rows = len(CITIES) * len(fixed)

    chain_rows = brand >= 0
    brand_cuisines = np.array([CUISINES.index(b.cuisine) for b in BRANDS])
    cuisine = np.where(chain_rows, brand_cuisines[np.maximum(brand, 0)], cuisine)
    price_level = _price_levels(rng, cuisine, brand)
    latitude, longitude, is_neighbour = _places(rng, city, chain_rows)
    popularity = _popularity(rng, brand, is_neighbour)

    is_new = rng.random(count) < NEW_RESTAURANT_SHARE
    is_new[:fixed_rows] = False
    if not is_new.any():
        is_new[fixed_rows + int(rng.integers(count - fixed_rows))] = True
    popularity[is_new] = 0.0
    # The planted failure: each city's flagship of the meat-only chain gets more
    # orders than any other restaurant of the city.
    for city_index in range(len(CITIES)):
        flagship = city_index * len(fixed)
        popularity[flagship] = 1.5 * popularity[city == city_index].max()

    opened_at = _opening_times(config, rng, is_new)
    order = np.argsort(opened_at, kind="stable")
    restaurants = Restaurants(
        city=city[order].astype(np.int8),
        latitude=latitude[order],
        longitude=longitude[order],
        cuisine=cuisine[order].astype(np.int8),
        price_level=price_level[order].astype(np.int8),
        brand=brand[order].astype(np.int16),
        opened_at_us=opened_at[order],
        is_new=is_new[order],
        popularity=popularity[order],
        quality=rng.normal(0.0, 0.5, size=count)[order],
        names=[],
        cuisine_lists=[],
    )
    restaurants.names = _names(rng, restaurants)
    restaurants.cuisine_lists = [
        [CUISINES[index], *EXTRA_TAGS.get(CUISINES[index], ())]
        for index in restaurants.cuisine.tolist()
    ]
    return restaurants


def _fixed_restaurants() -> list[tuple[int, int]]:
    """(brand, cuisine) of the restaurants every city starts with."""
    return [
        (FLAGSHIP_BRAND, CUISINES.index(BRANDS[FLAGSHIP_BRAND].cuisine)),
        (-1, CUISINES.index("pizza")),
        (-1, CUISINES.index("cafe")),
        (-1, CUISINES.index("vegetarian")),
    ]


def _price_levels(
    rng: np.random.Generator, cuisine: np.ndarray, brand: np.ndarray
) -> np.ndarray:
    levels = np.empty(cuisine.size, dtype=np.int8)
    for index, name in enumerate(CUISINES):
        rows = np.flatnonzero(cuisine == index)
        mix = PRICE_LEVEL_MIX.get(name, DEFAULT_PRICE_LEVEL_MIX)
        levels[rows] = rng.choice([1, 2, 3], size=rows.size, p=mix)
    brand_levels = np.array([b.price_level for b in BRANDS], dtype=np.int8)
    chain_rows = brand >= 0
    levels[chain_rows] = brand_levels[brand[chain_rows]]
    return levels


def _places(
    rng: np.random.Generator, city: np.ndarray, chain_rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coordinates around the city centre; some independents next to a chain."""
    centre_lat = np.array([c.latitude for c in CITIES])[city]
    centre_lon = np.array([c.longitude for c in CITIES])[city]
    lon_scale = 1.0 / np.cos(np.radians(centre_lat))
    latitude = centre_lat + rng.normal(0.0, CITY_SPREAD_DEGREES, city.size)
    longitude = centre_lon + rng.normal(0.0, CITY_SPREAD_DEGREES, city.size) * lon_scale

    is_neighbour = ~chain_rows & (rng.random(city.size) < NEIGHBOUR_SHARE)
    picks = rng.random(city.size)
    jitter_lat = rng.normal(0.0, NEIGHBOUR_SPREAD_DEGREES, city.size)
    jitter_lon = rng.normal(0.0, NEIGHBOUR_SPREAD_DEGREES, city.size) * lon_scale
    for city_index in range(len(CITIES)):
        chains = np.flatnonzero(chain_rows & (city == city_index))
        rows = np.flatnonzero(is_neighbour & (city == city_index))
        if chains.size == 0:
            is_neighbour[rows] = False
            continue
        anchors = chains[(picks[rows] * chains.size).astype(np.int64)]
        latitude[rows] = latitude[anchors] + jitter_lat[rows]
        longitude[rows] = longitude[anchors] + jitter_lon[rows]
    return latitude, longitude, is_neighbour


def _popularity(
    rng: np.random.Generator, brand: np.ndarray, is_neighbour: np.ndarray
) -> np.ndarray:
    """Log-normal weights: chains larger, meat-only chains larger still, and
    independents next to a chain small."""
    popularity = rng.lognormal(0.0, 1.0, size=brand.size)
    chain_rows = brand >= 0
    popularity[chain_rows] *= CHAIN_POPULARITY
    meat_only = np.array([b.meat_only for b in BRANDS])
    popularity[chain_rows & meat_only[np.maximum(brand, 0)]] *= MEAT_ONLY_POPULARITY
    popularity[is_neighbour] *= NEIGHBOUR_POPULARITY
    return popularity


def _opening_times(
    config: WorldConfig, rng: np.random.Generator, is_new: np.ndarray
) -> np.ndarray:
    """Opening times in microseconds since the epoch.

    Restaurants that are not new opened 90 days to 10 years before the
    window, new ones in its last ``new_window_days(config)`` days.
    """
    start_us = epoch_us(config.start)
    before = rng.uniform(90.0, 3650.0, is_new.size) * DAY_US
    window = new_window_days(config)
    late = (config.days - rng.uniform(0.0, window, is_new.size)) * DAY_US
    offsets = np.where(is_new, late, -before)
    return start_us + offsets.astype(np.int64)


def _names(rng: np.random.Generator, restaurants: Restaurants) -> list[str]:
    """Chain locations are "Brand #n", numbered by opening; independents get a
    name from their cuisine's templates."""
    template_picks = rng.random(restaurants.count).tolist()
    word_picks = rng.random(restaurants.count).tolist()
    location_numbers = [0] * len(BRANDS)
    names = []
    for row, (brand, cuisine) in enumerate(
        zip(restaurants.brand.tolist(), restaurants.cuisine.tolist(), strict=True)
    ):
        if brand >= 0:
            location_numbers[brand] += 1
            names.append(f"{BRANDS[brand].name} #{location_numbers[brand]}")
            continue
        templates, words = NAME_PARTS[CUISINES[cuisine]]
        template = templates[int(template_picks[row] * len(templates))]
        names.append(template.format(words[int(word_picks[row] * len(words))]))
    return names
