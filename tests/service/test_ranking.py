"""The service's array paths against the polars definitions they replace.

The module builds one synthetic world (400 users, 60 restaurants, 40 days,
seed 2) with its features and a quickly trained model, and loads it into a
:class:`Recommender`. Every check compares, for every user of the world, what
a request computes from the catalogue's arrays with what the polars frames
give: ``with_pair_features`` on the user's row joined to the candidates,
``content_scores``, ``Filters.apply``, LightGBM's ``pred_contrib`` and the
frame path of the ranker, :func:`service.ranking.rank_by_model_frames`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import yaml

from features import store
from features.paths import RANKER_CONFIG
from features.schema import RESTAURANT_ID
from models.dataset import with_pair_features
from models.explain import cuisine_name, explain
from service.cli import main
from service.ranking import (
    NEW_RESTAURANT_REASON,
    content_reasons,
    is_vegetarian,
    rank_by_content,
    rank_by_model,
    rank_by_model_frames,
    rank_by_popularity,
)
from service.recommender import Recommender
from service.settings import Settings
from service.strategies import (
    Filters,
    Preferences,
    content_score_arrays,
    content_scores,
    content_user_frame,
)

pytestmark = pytest.mark.slow

FILTERS = [
    Filters(),
    Filters(city="london"),
    Filters(diet="vegetarian"),
    Filters(exclude_cuisines=("Pizza", "burgers")),
    Filters(city="Madrid", diet="vegetarian", exclude_cuisines=("spanish",)),
]


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a var folder with the world, its features and one model."""
    root = tmp_path_factory.mktemp("ranking")
    var = root / "var"
    config: dict[str, Any] = yaml.safe_load(RANKER_CONFIG.read_text())
    config["num_boost_round"] = 40
    config["early_stopping_rounds"] = None
    config["cutoffs"]["count"] = 2
    config_path = root / "ranker.yaml"
    config_path.write_text(yaml.safe_dump(config))
    world = ["data", "--source", "synthetic", "--users", "400"]
    world += ["--restaurants", "60", "--days", "40", "--world-seed", "2"]
    for command in (world, ["features"], ["train", "--config", str(config_path)]):
        assert main(["--var-dir", str(var), *command]) == 0, command
    return var


@pytest.fixture(scope="module")
def recommender(var_dir: Path) -> Iterator[Recommender]:
    yield Recommender(Settings(var_dir=var_dir))


@pytest.fixture(scope="module")
def user_rows(var_dir: Path, recommender: Recommender) -> list[dict[str, Any]]:
    """Every user's row from the online store, users with orders first."""
    with store.connect(var_dir / "store.duckdb", read_only=True) as connection:
        ids = [
            row[0]
            for row in connection.execute(
                "SELECT u.user_id FROM users u LEFT JOIN orders o USING (user_id) "
                "GROUP BY u.user_id ORDER BY count(o.order_id) = 0, u.user_id"
            ).fetchall()
        ]
    return [recommender.user_reader.read_row(user_id) for user_id in ids]


def _with_orders(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [row for row in rows if (row["user_order_count"] or 0) > 0]


def _joined(recommender: Recommender, user: dict[str, Any], rows: np.ndarray):
    frame = pl.DataFrame([user], schema=recommender.user_reader.schema)
    candidates = recommender._state.restaurants[rows.tolist()]
    return with_pair_features(frame.join(candidates, how="cross"))


def _best_first(ids: list[str], scores: np.ndarray) -> list[str]:
    """Sort ids by score, highest first, ties by id, as the service did with
    Python's sorted."""
    order = sorted(range(len(ids)), key=lambda i: (-scores[i], ids[i]))
    return [ids[i] for i in order]


def test_model_matrix_matches_joined_frame(
    recommender: Recommender, user_rows: list[dict[str, Any]]
) -> None:
    state = recommender._state
    assert state.ranker is not None and state.inputs is not None
    rows = state.catalogue.all_rows
    compared = 0
    for user in _with_orders(user_rows):
        pairs = _pairs(recommender, user, rows)
        matrix = state.inputs.build(user, rows, pairs)
        expected = (
            _joined(recommender, user, rows)
            .select(state.ranker.features)
            .cast(pl.Float64)
            .to_numpy()
        )
        np.testing.assert_array_equal(matrix, expected, err_msg=user["user_id"])
        compared += 1
    assert compared > 100


def _pairs(
    recommender: Recommender, user: dict[str, Any], rows: np.ndarray
) -> dict[str, np.ndarray]:
    from features.pair_arrays import pair_feature_arrays

    pairs = pair_feature_arrays(user, recommender._state.catalogue.pair_inputs, rows)
    assert pairs is not None, user["user_id"]
    return pairs


@pytest.mark.parametrize("filters", FILTERS, ids=repr)
def test_ranker_arrays_match_frames(
    recommender: Recommender, user_rows: list[dict[str, Any]], filters: Filters
) -> None:
    state = recommender._state
    assert state.ranker is not None and state.inputs is not None
    assert state.shap is not None
    rows = state.catalogue.candidates(filters)
    assert len(rows) > 0
    users = _with_orders(user_rows)
    if filters != Filters():
        users = users[:40]
    for user in users:
        frame = pl.DataFrame([user], schema=recommender.user_reader.schema)
        expected = rank_by_model_frames(
            state.catalogue, state.ranker, frame, rows, len(rows), True
        )
        ranked = rank_by_model(
            state.catalogue,
            state.inputs,
            state.ranker,
            state.shap,
            user,
            rows,
            len(rows),
            True,
        )

        assert ranked is not None
        assert ranked.restaurant_ids == expected.restaurant_ids, user["user_id"]
        np.testing.assert_allclose(ranked.scores, expected.scores, rtol=0, atol=1e-9)
        assert ranked.reasons == expected.reasons, user["user_id"]
        assert ranked.features == expected.features, user["user_id"]


def test_ranker_reasons_match_lightgbm_explain(
    recommender: Recommender, user_rows: list[dict[str, Any]]
) -> None:
    state = recommender._state
    assert state.ranker is not None and state.inputs is not None
    rows = state.catalogue.all_rows
    new_reasons = 0
    for user in _with_orders(user_rows)[:100]:
        ranked = rank_by_model(
            state.catalogue,
            state.inputs,
            state.ranker,
            state.shap,
            user,
            rows,
            10,
            False,
        )
        assert ranked is not None
        joined = _joined(recommender, user, rows)
        by_id = {rid: i for i, rid in enumerate(joined[RESTAURANT_ID].to_list())}
        top = joined[[by_id[rid] for rid in ranked.restaurant_ids]]
        expected = [[r.text for r in row] for row in explain(state.ranker, top)]
        for position, restaurant_id in enumerate(ranked.restaurant_ids):
            row = state.catalogue.row_of[restaurant_id]
            if state.catalogue.is_new[row]:
                first, *more = ranked.reasons[position]
                cuisines = state.catalogue.columns["restaurant_cuisines"][row] or []
                liked = {c.lower() for c in user["user_liked_cuisines"] or []}
                matches = [
                    f"{cuisine_name(c)}, a cuisine you like"
                    for c in cuisines
                    if c.lower() in liked
                ]
                assert first == NEW_RESTAURANT_REASON
                assert more in ([], matches[:1], ["Has vegetarian dishes"])
                new_reasons += 1
            else:
                assert ranked.reasons[position] == expected[position], restaurant_id
    assert any(state.catalogue.is_new), "the world should have new restaurants"


def test_guardrail_demotes_new_meat_only_restaurants(
    recommender: Recommender, user_rows: list[dict[str, Any]]
) -> None:
    """New restaurants take the scores of established ones; the guardrail
    must still put the meat-only ones last for a vegetarian."""
    state = recommender._state
    assert state.ranker is not None and state.inputs is not None
    catalogue = state.catalogue
    rows = catalogue.all_rows
    options = catalogue.columns["restaurant_has_vegetarian_options"]
    meat_only = np.array([value == 0 for value in options])
    assert (catalogue.is_new & meat_only).any(), "no new meat-only restaurant"
    assert (meat_only & ~catalogue.is_new).any(), "no established meat-only one"
    for user in _with_orders(user_rows)[:30]:
        vegetarian = {**user, "user_declared_vegetarian": 1}
        frame = pl.DataFrame([vegetarian], schema=recommender.user_reader.schema)
        by_arrays = rank_by_model(
            catalogue,
            state.inputs,
            state.ranker,
            state.shap,
            vegetarian,
            rows,
            len(rows),
            False,
        )
        by_frames = rank_by_model_frames(
            catalogue, state.ranker, frame, rows, len(rows), False
        )
        assert by_arrays is not None
        for ranked in (by_arrays, by_frames):
            flags = [meat_only[catalogue.row_of[rid]] for rid in ranked.restaurant_ids]
            first = flags.index(True)
            assert all(flags[first:]), (user["user_id"], ranked.restaurant_ids)


def test_declared_vegetarian_gets_vegetarian_reason(recommender: Recommender) -> None:
    catalogue = recommender._state.catalogue
    options = catalogue.columns["restaurant_has_vegetarian_options"]
    with_options = [row for row, value in enumerate(options) if value == 1][:3]
    declared = {"user_declared_vegetarian": 1, "user_liked_cuisines": []}
    undeclared = {"user_declared_vegetarian": 0, "user_liked_cuisines": []}

    assert len(with_options) == 3
    for reasons in content_reasons(declared, catalogue, with_options):
        assert reasons == ["Has vegetarian dishes"]
    for reasons in content_reasons(undeclared, catalogue, with_options):
        assert "Has vegetarian dishes" not in reasons
    # All-vegetarian orders make a vegetarian, unless most went to coffee or
    # tea places, whose drinks and pastries are vegetarian for everyone.
    by_orders = {**undeclared, "user_vegetarian_order_ratio": 1.0}
    for coffee_tea, expected in ((0.1, True), (0.9, False)):
        user = {**by_orders, "user_coffee_tea_share": coffee_tea}
        for reasons in content_reasons(user, catalogue, with_options):
            assert ("Has vegetarian dishes" in reasons) is expected, coffee_tea


def test_shap_tables_match_pred_contrib_on_served_rows(
    recommender: Recommender, user_rows: list[dict[str, Any]]
) -> None:
    state = recommender._state
    assert state.ranker is not None and state.inputs is not None
    assert state.shap is not None
    rows = state.catalogue.all_rows
    for user in _with_orders(user_rows)[:50]:
        matrix = state.inputs.build(user, rows, _pairs(recommender, user, rows))
        expected = state.ranker.booster.predict(matrix, pred_contrib=True)[:, :-1]

        np.testing.assert_allclose(
            state.shap.contributions(matrix), expected, rtol=0, atol=1e-9
        )


@pytest.mark.parametrize("filters", FILTERS, ids=repr)
def test_content_arrays_match_content_scores(
    recommender: Recommender, user_rows: list[dict[str, Any]], filters: Filters
) -> None:
    catalogue = recommender._state.catalogue
    rows = catalogue.candidates(filters)
    assert len(rows) > 0
    candidates = catalogue.restaurants[rows.tolist()]
    ids = candidates[RESTAURANT_ID].to_list()
    preferences = [
        Preferences(),
        Preferences(latitude=51.5, longitude=-0.12, diet="vegetarian"),
        Preferences(city="Madrid", liked_cuisines=("pizza", "Spanish"), budget="low"),
    ]
    users = user_rows[:: max(1, len(user_rows) // 60)]
    users += [p.user_row().row(0, named=True) for p in preferences]
    # The world spells every cuisine in lower case, so a liked cuisine in
    # lower case is the spelling rank_by_content matches it to.
    cuisines = candidates["restaurant_cuisines"].explode().drop_nulls()
    assert (cuisines == cuisines.str.to_lowercase()).all()
    for user in users:
        expected = content_scores(content_user_frame(user), candidates)
        pairs = _pairs(recommender, user, rows)
        scores = content_score_arrays(pairs, catalogue.popularity_prior(rows))
        ranked = rank_by_content(catalogue, user, rows, len(rows))
        liked = [c.lower() for c in user.get("user_liked_cuisines") or []] or None
        matched = {**user, "user_liked_cuisines": liked}
        matched_scores = content_scores(content_user_frame(matched), candidates)
        if is_vegetarian(user):
            # Meat-only restaurants go below the others for a vegetarian.
            meat_only = (
                candidates["restaurant_has_vegetarian_options"] == 0
            ).to_numpy()
            spread = float(matched_scores.max() - matched_scores.min()) + 1.0
            matched_scores = np.where(
                meat_only, matched_scores - spread, matched_scores
            )

        np.testing.assert_array_equal(scores, expected)
        assert ranked.restaurant_ids == _best_first(ids, matched_scores)


@pytest.mark.parametrize("filters", FILTERS, ids=repr)
def test_candidates_match_filters_apply(
    recommender: Recommender, filters: Filters
) -> None:
    catalogue = recommender._state.catalogue
    expected = filters.apply(catalogue.restaurants)[RESTAURANT_ID].to_list()

    rows = catalogue.candidates(filters)

    assert [catalogue.restaurant_ids[row] for row in rows] == expected
    assert catalogue.candidates(filters) is rows


@pytest.mark.parametrize("city", [None, "London", "madrid", "Nowhere"])
def test_popularity_matches_sorted_shares(
    recommender: Recommender, city: str | None
) -> None:
    catalogue = recommender._state.catalogue
    restaurants = catalogue.restaurants
    local = restaurants
    if city is not None:
        in_city = restaurants.filter(
            pl.col("restaurant_city").str.to_lowercase() == city.lower()
        )
        local = in_city if in_city.height else restaurants
    shares = local["restaurant_order_share"].fill_null(0.0).to_numpy()
    expected = _best_first(local[RESTAURANT_ID].to_list(), shares)

    ranked = rank_by_popularity(catalogue, catalogue.all_rows, len(catalogue), city)

    assert ranked.restaurant_ids == expected
    assert ranked.scores == sorted(ranked.scores, reverse=True)


def test_no_candidate_gives_empty_lists(
    recommender: Recommender, user_rows: list[dict[str, Any]]
) -> None:
    nowhere = Filters(city="Nowhere")
    users = {
        "ranker": _with_orders(user_rows)[0]["user_id"],
        "content": user_rows[-1]["user_id"],
        "popularity": "unknown-user",
    }

    for strategy, user_id in users.items():
        response = recommender.recommend(user_id, 10, nowhere)

        assert response.strategy.value == strategy
        assert response.recommendations == []


def test_content_and_popularity_put_meat_only_last(
    recommender: Recommender, user_rows: list[dict[str, Any]]
) -> None:
    """Lists without the model, for a new user or when the model is missing,
    keep meat-only restaurants below the others for a vegetarian too."""
    catalogue = recommender._state.catalogue
    rows = catalogue.all_rows
    options = catalogue.columns["restaurant_has_vegetarian_options"]
    meat_only = {catalogue.restaurant_ids[row] for row in rows if options[row] == 0}
    assert meat_only
    for user in user_rows[:20]:
        vegetarian = {**user, "user_declared_vegetarian": 1}
        for ranked in (
            rank_by_content(catalogue, vegetarian, rows, len(rows)),
            rank_by_popularity(catalogue, rows, len(rows), None, vegetarian=True),
        ):
            flags = [rid in meat_only for rid in ranked.restaurant_ids]
            assert len(flags) == len(rows)
            first = flags.index(True)
            assert all(flags[first:]), (user["user_id"], ranked.restaurant_ids)
    unchanged = rank_by_popularity(catalogue, rows, len(rows), None)
    assert unchanged.restaurant_ids == [
        catalogue.restaurant_ids[row] for row in catalogue.popular(rows)
    ]
