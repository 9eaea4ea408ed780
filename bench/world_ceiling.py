"""Benchmark: the best NDCG@10 a model can reach on the synthetic world.

The generator knows what no model can see: each user's five favourite places
and the chance of each restaurant for each order (70% to a favourite, by
slot share; 30% drawn by popularity in the user's city among the places their
segment orders from). Ranking every restaurant by that chance is the best
ranking in expectation, so its NDCG@10 on the same weekly test windows as
``recommender evaluate`` bounds what any model can reach from the data.

The script draws the world again from its config (the same seed gives the
same world as ``recommender data --source synthetic``), and reports the
bound per window and per number of orders a user had before the window.
Results go to ``world_ceiling.json`` and ``world_ceiling.md`` in
``--out-dir``.

    .venv/bin/python bench/world_ceiling.py
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from features.schema import RESTAURANT_ID, USER_ID
from features.synthetic.choice import ANY_CUISINE, RestaurantChooser
from features.synthetic.config import CITIES, NEW_USER, REGULAR, SEGMENTS, WorldConfig
from features.synthetic.menus import generate_menus
from features.synthetic.orders import (
    REPEAT_SHARE,
    SLOT_SHARES,
    TRAVEL_SHARE,
    generate_orders,
)
from features.synthetic.restaurants import generate_restaurants
from features.synthetic.users import Users, generate_users
from features.synthetic.world import ID_DIGITS, generate_world, signup_times
from models.metrics import ndcg_at_k

K = 10
WINDOWS = 5
HORIZON_DAYS = 7
# Buckets of orders before the window, as upper bounds.
HISTORY_BUCKETS = (0, 2, 5, 10, 20, 50)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    config = WorldConfig(
        users=args.users, restaurants=args.restaurants, days=args.days, seed=args.seed
    )
    frames = generate_world(config)
    chances, user_ids, restaurant_ids = order_chances(config)
    rows = window_ceilings(frames["orders"], chances, user_ids, restaurant_ids)
    result = {
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "world": {
            "users": args.users,
            "restaurants": args.restaurants,
            "days": args.days,
            "seed": args.seed,
        },
        "windows": rows["windows"],
        "by_history": rows["by_history"],
        "mean_ndcg": statistics.fmean(w["ndcg"] for w in rows["windows"]),
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "world_ceiling.json").write_text(json.dumps(result, indent=2))
    (args.out_dir / "world_ceiling.md").write_text(_markdown(result))
    print(_markdown(result))
    return 0


def order_chances(config: WorldConfig) -> tuple[np.ndarray, list[str], list[str]]:
    """Return each user's chance of each restaurant for one order (users by
    restaurants, rows in generation order), with the user and restaurant ids.

    Draws the world's restaurants, menus, users and orders again with the
    streams ``generate_world`` uses, so the users are the same.
    """
    streams = np.random.SeedSequence(config.seed).spawn(5)
    rngs = [np.random.default_rng(stream) for stream in streams]
    restaurants = generate_restaurants(config, rngs[0])
    menus = generate_menus(restaurants, rngs[1])
    chooser = RestaurantChooser(restaurants, menus)
    users = generate_users(config, rngs[2], chooser)
    _, _, first_order = generate_orders(config, rngs[3], users, chooser, menus)
    signup = signup_times(config, rngs[4], users, first_order)
    # Ids follow signup time, as in generate_world.
    order = np.argsort(signup, kind="stable")
    position = np.empty(users.count, dtype=np.int64)
    position[order] = np.arange(users.count)
    width = max(ID_DIGITS["u"], len(str(users.count)))
    user_ids = [f"u{number + 1:0{width}d}" for number in position]
    width = max(ID_DIGITS["r"], len(str(restaurants.count)))
    restaurant_ids = [f"r{number + 1:0{width}d}" for number in range(restaurants.count)]
    return _chances(users, chooser), user_ids, restaurant_ids


def _chances(users: Users, chooser: RestaurantChooser) -> np.ndarray:
    count = chooser.restaurants.count
    explore: dict[tuple[int, int], np.ndarray] = {}

    def city_draw(segment: int, city: int) -> np.ndarray:
        if (segment, city) not in explore:
            group = chooser.group_numbers(
                np.array([segment]), np.array([city]), np.array([ANY_CUISINE])
            )
            choice = chooser.choice_for(int(group[0]))
            weights = np.diff(np.concatenate(([0.0], choice.cumulative)))
            chance = np.zeros(count)
            chance[choice.candidates] = weights / weights.sum()
            explore[(segment, city)] = chance
        return explore[(segment, city)]

    shares = np.array(SLOT_SHARES) / np.sum(SLOT_SHARES)
    chances = np.zeros((users.count, count))
    for user in range(users.count):
        segment = int(users.segment[user])
        if SEGMENTS[segment] == NEW_USER:
            continue
        city = int(users.city[user])
        draw = city_draw(segment, city)
        if SEGMENTS[segment] == REGULAR:
            elsewhere = [city_draw(segment, c) for c in range(len(CITIES)) if c != city]
            draw = (1 - TRAVEL_SHARE) * draw + TRAVEL_SHARE * np.mean(elsewhere, axis=0)
        chances[user] = (1 - REPEAT_SHARE) * draw
        for slot, restaurant in enumerate(users.shortlist[user]):
            chances[user, restaurant] += REPEAT_SHARE * shares[slot]
    return chances


def window_ceilings(
    orders: pl.DataFrame,
    chances: np.ndarray,
    user_ids: list[str],
    restaurant_ids: list[str],
) -> dict[str, list[dict[str, Any]]]:
    """NDCG@10 of ranking by chance, per weekly window (latest first) and per
    bucket of orders before the window."""
    row_of = {user: row for row, user in enumerate(user_ids)}
    names = np.array(restaurant_ids)
    last = orders["ordered_at"].max()
    assert isinstance(last, datetime)
    end = last.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    windows = []
    per_user = []
    for index in range(WINDOWS):
        stop = end - timedelta(days=HORIZON_DAYS * index)
        start = stop - timedelta(days=HORIZON_DAYS)
        test = orders.filter(pl.col("ordered_at").is_between(start, stop, "left"))
        before = dict(
            orders.filter(pl.col("ordered_at") < start)
            .group_by(USER_ID)
            .len()
            .iter_rows()
        )
        values = []
        for (user,), group in test.group_by(USER_ID):
            ranked = names[np.argsort(-chances[row_of[user]], kind="stable")[:K]]
            value = ndcg_at_k(list(ranked), set(group[RESTAURANT_ID]), K)
            values.append(value)
            per_user.append((before.get(user, 0), value))
        windows.append(
            {
                "test_from": start.date().isoformat(),
                "users": len(values),
                "ndcg": statistics.fmean(values),
            }
        )
    by_history = []
    lower = -1
    for upper in (*HISTORY_BUCKETS, None):
        values = [
            value
            for count, value in per_user
            if count > lower and (upper is None or count <= upper)
        ]
        label = f"more than {lower}" if upper is None else f"{lower + 1} to {upper}"
        by_history.append(
            {"orders_before": label, "users": len(values), "ndcg": _mean(values)}
        )
        lower = upper if upper is not None else lower
    return {"windows": windows, "by_history": by_history}


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _markdown(result: dict[str, Any]) -> str:
    world = result["world"]
    lines = [
        "# NDCG@10 bound of the synthetic world",
        "",
        f"Command: `{result['command']}`. World: {world['users']:,} users, "
        f"{world['restaurants']:,} restaurants, {world['days']} days, seed "
        f"{world['seed']}.",
        "",
        "| test window from | users | NDCG@10 bound |",
        "| --- | ---: | ---: |",
        *(
            f"| {w['test_from']} | {w['users']:,} | {w['ndcg']:.4f} |"
            for w in result["windows"]
        ),
        f"| mean | | {result['mean_ndcg']:.4f} |",
        "",
        "| orders before the window | user windows | NDCG@10 bound |",
        "| --- | ---: | ---: |",
        *(
            f"| {b['orders_before']} | {b['users']:,} | "
            + ("—" if b["ndcg"] is None else f"{b['ndcg']:.4f}")
            + " |"
            for b in result["by_history"]
        ),
        "",
    ]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--restaurants", type=int, default=300)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, default=Path("var/bench"))
    return parser


if __name__ == "__main__":
    sys.exit(main())
