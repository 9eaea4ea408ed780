"""Tests of city spellings, great-circle distances and the nearest-city rule."""

from __future__ import annotations

import math

import polars as pl
import pytest

from features.cities import (
    EARTH_RADIUS_KM,
    MAX_CITY_DISTANCE_KM,
    city_centres,
    haversine_km,
    nearest_city,
    normalize_city,
)

# One degree of arc on a sphere of radius 6371 km: 6371 * pi / 180 = 111.19493 km.
ONE_DEGREE_KM = EARTH_RADIUS_KM * math.pi / 180


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("San Luis Potosi", "San Luis Potosi", id="canonical"),
        pytest.param("san luis potosi", "San Luis Potosi", id="lower-case"),
        pytest.param("san luis potosi ", "San Luis Potosi", id="trailing-space"),
        pytest.param("san luis potos", "San Luis Potosi", id="truncated-accent"),
        pytest.param("s.l.p.", "San Luis Potosi", id="slp-dotted"),
        pytest.param("s.l.p", "San Luis Potosi", id="slp-no-final-dot"),
        pytest.param("slp", "San Luis Potosi", id="slp-bare"),
        pytest.param("SLP", "San Luis Potosi", id="slp-upper-case"),
        pytest.param("Soledad", "San Luis Potosi", id="suburb-soledad"),
        pytest.param(
            "Soledad de Graciano Sanchez", "San Luis Potosi", id="suburb-soledad-full"
        ),
        pytest.param("cuernavaca", "Cuernavaca", id="cuernavaca-lower"),
        pytest.param("Jiutepec", "Cuernavaca", id="suburb-jiutepec"),
        pytest.param("victoria", "Ciudad Victoria", id="victoria-short"),
        pytest.param("victoria ", "Ciudad Victoria", id="victoria-space"),
        pytest.param("Cd Victoria", "Ciudad Victoria", id="cd-victoria"),
        pytest.param("Cd. Victoria", "Ciudad Victoria", id="cd-dot-victoria"),
        pytest.param("Ciudad Victoria", "Ciudad Victoria", id="ciudad-victoria"),
        pytest.param("  monterrey ", "Monterrey", id="unknown-title-cased"),
        pytest.param("?", None, id="question-mark"),
        pytest.param(" ? ", None, id="question-mark-spaces"),
        pytest.param("", None, id="empty"),
        pytest.param("   ", None, id="blank"),
        pytest.param(".", None, id="only-dot"),
        pytest.param(None, None, id="none"),
    ],
)
def test_normalize_city(raw: str | None, expected: str | None) -> None:
    assert normalize_city(raw) == expected


def test_haversine_same_point_zero() -> None:
    assert haversine_km(22.15, -100.98, 22.15, -100.98) == 0.0


def test_haversine_one_degree_latitude() -> None:
    distance = haversine_km(22.0, -101.0, 23.0, -101.0)

    assert distance == pytest.approx(111.19, abs=0.01)
    assert distance == pytest.approx(ONE_DEGREE_KM, rel=1e-12)


def test_haversine_one_degree_equator() -> None:
    # Along the equator one degree of longitude is also one degree of arc.
    assert haversine_km(0.0, 0.0, 0.0, 1.0) == pytest.approx(ONE_DEGREE_KM, rel=1e-12)


def test_haversine_symmetric() -> None:
    forward = haversine_km(18.91, -99.21, 23.75, -99.16)
    backward = haversine_km(23.75, -99.16, 18.91, -99.21)

    assert forward == pytest.approx(backward, rel=1e-12)


def test_haversine_antipodes_half_circumference() -> None:
    # Half of the circumference: pi * 6371 = 20015.09 km.
    assert haversine_km(0.0, 0.0, 0.0, 180.0) == pytest.approx(math.pi * 6371.0)


def test_nearest_city_within_limit() -> None:
    centres = {"Alpha": (0.0, 0.0)}

    # 0.2 degrees of latitude: 0.2 * 111.19 = 22.2 km, under the 30 km limit.
    assert nearest_city(0.2, 0.0, centres) == "Alpha"


def test_nearest_city_beyond_limit() -> None:
    centres = {"Alpha": (0.0, 0.0)}

    # 0.3 degrees of latitude: 0.3 * 111.19 = 33.4 km, over the 30 km limit.
    assert nearest_city(0.3, 0.0, centres) is None


def test_nearest_city_limit_brackets() -> None:
    centres = {"Alpha": (0.0, 0.0)}
    limit_degrees = MAX_CITY_DISTANCE_KM / ONE_DEGREE_KM

    assert nearest_city(limit_degrees * 0.999, 0.0, centres) == "Alpha"
    assert nearest_city(limit_degrees * 1.001, 0.0, centres) is None


def test_nearest_city_picks_closest() -> None:
    centres = {"Alpha": (0.0, 0.0), "Beta": (0.0, 0.2)}

    # 0.15 degrees from Alpha and 0.05 degrees from Beta, both within the limit.
    assert nearest_city(0.0, 0.15, centres) == "Beta"
    assert nearest_city(0.0, 0.05, centres) == "Alpha"


@pytest.mark.parametrize(
    ("latitude", "longitude"),
    [
        pytest.param(None, 0.0, id="no-latitude"),
        pytest.param(0.0, None, id="no-longitude"),
        pytest.param(None, None, id="no-coordinates"),
    ],
)
def test_nearest_city_missing_coordinates(
    latitude: float | None, longitude: float | None
) -> None:
    assert nearest_city(latitude, longitude, {"Alpha": (0.0, 0.0)}) is None


def test_nearest_city_no_centres() -> None:
    assert nearest_city(0.0, 0.0, {}) is None


def test_city_centres_mean_skips_nulls() -> None:
    places = pl.DataFrame(
        {
            "city": ["Alpha", "Alpha", "Beta", None, "Beta"],
            "latitude": [10.0, 12.0, 20.0, 50.0, None],
            "longitude": [-100.0, -102.0, -90.0, 50.0, 0.0],
        }
    )

    centres = city_centres(places)

    assert set(centres) == {"Alpha", "Beta"}
    assert centres["Alpha"] == pytest.approx((11.0, -101.0))
    # The Beta row without a latitude is left out of the mean.
    assert centres["Beta"] == pytest.approx((20.0, -90.0))


def test_city_centres_across_antimeridian() -> None:
    # Three places of one city on either side of 180, centred at 180.0167,
    # which is -179.9833.
    places = pl.DataFrame(
        {
            "city": ["Taveuni", "Taveuni", "Taveuni"],
            "latitude": [-16.8, -16.8, -16.8],
            "longitude": [179.9, -179.9, -179.95],
        }
    )

    centres = city_centres(places)

    assert centres["Taveuni"] == pytest.approx((-16.8, -179.9833333))
    assert nearest_city(-16.8, 180.0, centres) == "Taveuni"
    assert nearest_city(-16.8, -179.9, centres) == "Taveuni"
