"""City names: one spelling per city, and a city for rows that have only coordinates.

The UCI files spell one city several ways (``San Luis Potosi``, ``s.l.p.``,
``slp``), leave some cities as ``?`` and give users coordinates but no city.
A city here is the metropolitan area a restaurant serves, so suburbs that
are municipalities of their own (Soledad de Graciano Sanchez next to San Luis
Potosi, Jiutepec next to Cuernavaca) map to the central city.
"""

from __future__ import annotations

import math

import polars as pl

# Keys are lower-cased, stripped of dots and surrounding spaces.
_ALIASES = {
    "san luis potosi": "San Luis Potosi",
    "san luis potos": "San Luis Potosi",
    "slp": "San Luis Potosi",
    "cuernavaca": "Cuernavaca",
    "jiutepec": "Cuernavaca",
    "soledad": "San Luis Potosi",
    "soledad de graciano sanchez": "San Luis Potosi",
    "victoria": "Ciudad Victoria",
    "cd victoria": "Ciudad Victoria",
    "ciudad victoria": "Ciudad Victoria",
}

# A point further than this from every known city centre gets no city. The
# three UCI metropolitan areas are hundreds of kilometres apart, and each
# spans less than 20 km.
MAX_CITY_DISTANCE_KM = 30.0

EARTH_RADIUS_KM = 6371.0


def normalize_city(raw: str | None) -> str | None:
    """Return the canonical spelling of a city, or None for a missing one.

    A spelling with no known alias comes back stripped and title-cased, so
    that a new city in a later data set is kept rather than dropped.
    """
    if raw is None:
        return None
    key = raw.replace(".", "").strip().lower()
    if key in ("", "?"):
        return None
    return _ALIASES.get(key, raw.strip().title())


def haversine_km(
    latitude_a: float, longitude_a: float, latitude_b: float, longitude_b: float
) -> float:
    """Great-circle distance in kilometres between two points in degrees."""
    phi_a, phi_b = math.radians(latitude_a), math.radians(latitude_b)
    d_phi = phi_b - phi_a
    d_lambda = math.radians(longitude_b - longitude_a)
    a = (
        math.sin(d_phi / 2) ** 2
        + math.cos(phi_a) * math.cos(phi_b) * math.sin(d_lambda / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def city_centres(places: pl.DataFrame) -> dict[str, tuple[float, float]]:
    """Mean latitude and longitude of the places of each named city.

    ``places`` needs the columns ``city``, ``latitude`` and ``longitude``.
    The longitudes of a city that spans more than 180 degrees of them, as one
    across the antimeridian does (179.9 and -179.9), are averaged with the
    negative ones shifted by 360 degrees. Their plain mean would be near 0, on
    the other side of the globe.
    """
    longitude = pl.col("longitude")
    across = (longitude.max() - longitude.min()).over("city") > 180
    centres = (
        places.drop_nulls(["city", "latitude", "longitude"])
        .with_columns(
            pl.when(across & (longitude < 0))
            .then(longitude + 360)
            .otherwise(longitude)
            .alias("longitude")
        )
        .group_by("city")
        .agg(pl.col("latitude").mean(), longitude.mean())
        .with_columns(
            pl.when(longitude > 180)
            .then(longitude - 360)
            .otherwise(longitude)
            .alias("longitude")
        )
    )
    return {
        row["city"]: (row["latitude"], row["longitude"])
        for row in centres.iter_rows(named=True)
    }


def nearest_city(
    latitude: float | None,
    longitude: float | None,
    centres: dict[str, tuple[float, float]],
) -> str | None:
    """Return the city whose centre is nearest, if within MAX_CITY_DISTANCE_KM."""
    if latitude is None or longitude is None or not centres:
        return None

    distances = {
        city: haversine_km(latitude, longitude, centre[0], centre[1])
        for city, centre in centres.items()
    }
    city = min(distances, key=distances.__getitem__)
    return city if distances[city] <= MAX_CITY_DISTANCE_KM else None
