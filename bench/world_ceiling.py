"""Benchmark: the best NDCG@10 a model can reach on the synthetic world.

The generator knows what no model can see: each user's five favourite places
and the chance of each restaurant for each order (70% to a favourite, by
slot share; 30% drawn by popularity in the user's city among the places their
segment orders from). Ranking every restaurant by that chance is the best
ranking in expectation, so its NDCG@10 on the same weekly test windows as
``recommender evaluate`` bounds what any model can reach from the data.

A tighter bound keeps the generator's rules and every hidden attribute of a
user (segment, home, favourite cuisines) but not the favourite places: it
ranks by the chance of each restaurant given the user's orders before the
window, averaged over favourite places drawn from their posterior by Gibbs
sampling. No model that reads the store can beat that ranking in
expectation, because it knows less.

The script draws the world again from its config (the same seed gives the
same world as ``recommender data --source synthetic``), and reports both
bounds per window and per number of orders a user had before the window.
A window without orders gets no value and is left out of the mean.
Results go to ``world_ceiling.json`` and ``world_ceiling.md`` in
``--out-dir``.

    .venv/bin/python bench/world_ceiling.py
"""

from __future__ import annotations

import argparse
import json
import resource
import shlex
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from bench_arguments import add_world_options, int_at_least, output_folder
from machine_info import describe_machine, format_machine
from world_posterior import PosteriorSampler, nearer_of_two

from features.paths import default_var_dir
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
from features.synthetic.users import (
    FAVOURITE_CUISINE_SHARE,
    Users,
    generate_users,
)
from features.synthetic.world import ID_DIGITS, generate_world, signup_times
from models.metrics import ndcg_at_k

K = 10
WINDOWS = 5
HORIZON_DAYS = 7
# Buckets of orders before the window, as upper bounds.
HISTORY_BUCKETS = (0, 2, 5, 10, 20, 50)
# Gibbs sweeps over a user's favourite places: discarded, then averaged.
BURN_IN = 40
SAMPLES = 200
PACKAGES = ("numpy", "polars")


@dataclass
class Chances:
    """Chances per user (rows in generation order) and restaurant.

    ``known`` is the chance of one order when the favourite places are known.
    ``slot`` is the chance that a favourite slot contains the restaurant
    before any order is seen. ``explore`` is the chance of an exploring
    order, scaled by the share of such orders.
    """

    known: np.ndarray
    slot: np.ndarray
    explore: np.ndarray
    user_ids: list[str]
    restaurant_ids: list[str]


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.perf_counter()
    config = WorldConfig(
        users=args.users, restaurants=args.restaurants, days=args.days, seed=args.seed
    )
    frames = generate_world(config)
    chances = order_chances(config)
    sampler = PosteriorSampler(args.burn_in, args.samples, args.seed)
    rows = window_ceilings(frames["orders"], chances, sampler)
    result = {
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "started_at": started_at,
        "world": {
            "users": args.users,
            "restaurants": args.restaurants,
            "days": args.days,
            "seed": args.seed,
        },
        "gibbs": {"burn_in": args.burn_in, "samples": args.samples},
        "windows": rows["windows"],
        "by_history": rows["by_history"],
        "mean_ndcg": _mean(_measured(rows["windows"], "ndcg")),
        "mean_ndcg_from_orders": _mean(_measured(rows["windows"], "ndcg_from_orders")),
        "elapsed_s": round(time.perf_counter() - started, 1),
        "peak_rss_gb": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2
        ),
        "machine": describe_machine(PACKAGES),
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "world_ceiling.json").write_text(json.dumps(result, indent=2))
    (args.out_dir / "world_ceiling.md").write_text(_markdown(result))
    print(_markdown(result))
    return 0


def order_chances(config: WorldConfig) -> Chances:
    """Return the chances of every user and restaurant of the world.

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
    known, slot, explore = _chances(users, chooser)
    return Chances(known, slot, explore, user_ids, restaurant_ids)


def _chances(
    users: Users, chooser: RestaurantChooser
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    restaurants = chooser.restaurants
    count = restaurants.count
    groups: dict[tuple[int, int, int], np.ndarray] = {}

    def group_draw(segment: int, city: int, cuisine: int) -> np.ndarray:
        key = (segment, city, cuisine)
        if key not in groups:
            group = chooser.group_numbers(
                np.array([segment]), np.array([city]), np.array([cuisine])
            )
            choice = chooser.choice_for(int(group[0]))
            weights = np.diff(np.concatenate(([0.0], choice.cumulative)))
            chance = np.zeros(count)
            chance[choice.candidates] = weights / weights.sum()
            groups[key] = chance
        return groups[key]

    shares = np.array(SLOT_SHARES) / np.sum(SLOT_SHARES)
    known = np.zeros((users.count, count))
    slot = np.zeros((users.count, count))
    explore = np.zeros((users.count, count))
    for user in range(users.count):
        segment = int(users.segment[user])
        if SEGMENTS[segment] == NEW_USER:
            continue
        city = int(users.city[user])
        draw = group_draw(segment, city, ANY_CUISINE)
        # Squared distances in the units the generator compares them in.
        latitude = users.latitude[user]
        distance = (restaurants.latitude - latitude) ** 2 + (
            (restaurants.longitude - users.longitude[user])
            * np.cos(np.radians(latitude))
        ) ** 2
        slot[user] = nearer_of_two(draw, distance)
        if SEGMENTS[segment] == REGULAR:
            elsewhere = [
                group_draw(segment, c, ANY_CUISINE)
                for c in range(len(CITIES))
                if c != city
            ]
            draw = (1 - TRAVEL_SHARE) * draw + TRAVEL_SHARE * np.mean(elsewhere, axis=0)
            cuisines = [int(c) for c in users.favourite_cuisines[user] if c >= 0]
            by_cuisine = np.mean(
                [
                    nearer_of_two(group_draw(segment, city, c), distance)
                    for c in cuisines
                ],
                axis=0,
            )
            slot[user] = (
                FAVOURITE_CUISINE_SHARE * by_cuisine
                + (1 - FAVOURITE_CUISINE_SHARE) * slot[user]
            )
        explore[user] = (1 - REPEAT_SHARE) * draw
        known[user] = explore[user]
        for position, restaurant in enumerate(users.shortlist[user]):
            known[user, restaurant] += REPEAT_SHARE * shares[position]
    return known, slot, explore


def window_ceilings(
    orders: pl.DataFrame, chances: Chances, sampler: PosteriorSampler
) -> dict[str, list[dict[str, Any]]]:
    """NDCG@10 of both rankings, per weekly window (latest first) and per
    bucket of orders before the window."""
    row_of = {user: row for row, user in enumerate(chances.user_ids)}
    column_of = {name: column for column, name in enumerate(chances.restaurant_ids)}
    names = np.array(chances.restaurant_ids)
    last = orders["ordered_at"].max()
    assert isinstance(last, datetime)
    end = last.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    windows = []
    per_user = []
    for index in range(WINDOWS):
        stop = end - timedelta(days=HORIZON_DAYS * index)
        start = stop - timedelta(days=HORIZON_DAYS)
        test = orders.filter(pl.col("ordered_at").is_between(start, stop, "left"))
        history: dict[str, dict[int, int]] = {}
        for user, restaurant, times in (
            orders.filter(pl.col("ordered_at") < start)
            .group_by(USER_ID, RESTAURANT_ID)
            .len()
            .iter_rows()
        ):
            history.setdefault(user, {})[column_of[restaurant]] = times
        known_values = []
        posterior_values = []
        for (user,), group in test.sort(USER_ID).group_by(USER_ID, maintain_order=True):
            row = row_of[user]
            relevant = set(group[RESTAURANT_ID])
            counts = history.get(user, {})
            posterior = sampler.chances(chances.explore[row], chances.slot[row], counts)
            known = _ndcg(names, chances.known[row], relevant)
            from_orders = _ndcg(names, posterior, relevant)
            known_values.append(known)
            posterior_values.append(from_orders)
            per_user.append((sum(counts.values()), known, from_orders))
        windows.append(
            {
                "test_from": start.date().isoformat(),
                "users": len(known_values),
                "ndcg": _mean(known_values),
                "ndcg_from_orders": _mean(posterior_values),
            }
        )
    by_history = []
    lower = -1
    for upper in (*HISTORY_BUCKETS, None):
        rows = [
            (known, from_orders)
            for count, known, from_orders in per_user
            if count > lower and (upper is None or count <= upper)
        ]
        if upper is None:
            label = f"more than {lower}"
        elif upper == lower + 1:
            label = str(upper)
        else:
            label = f"{lower + 1} to {upper}"
        by_history.append(
            {
                "orders_before": label,
                "users": len(rows),
                "ndcg": _mean([known for known, _ in rows]),
                "ndcg_from_orders": _mean([from_orders for _, from_orders in rows]),
            }
        )
        lower = upper if upper is not None else lower
    return {"windows": windows, "by_history": by_history}


def _ndcg(names: np.ndarray, chance: np.ndarray, relevant: set[str]) -> float:
    ranked = names[np.argsort(-chance, kind="stable")[:K]]
    return ndcg_at_k(list(ranked), relevant, K)


def _measured(rows: list[dict[str, Any]], key: str) -> list[float]:
    return [row[key] for row in rows if row[key] is not None]


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _markdown(result: dict[str, Any]) -> str:
    world = result["world"]
    gibbs = result["gibbs"]
    lines = [
        "# NDCG@10 bounds of the synthetic world",
        "",
        f"Command: `{result['command']}`. World: {world['users']:,} users, "
        f"{world['restaurants']:,} restaurants, {world['days']} days, seed "
        f"{world['seed']}. Favourite places known: the generator's chance. "
        "From the orders: the chance given the orders before the window, "
        f"{gibbs['samples']} Gibbs samples after {gibbs['burn_in']} discarded.",
        "",
        "| test window from | users | favourite places known | from the orders |",
        "| --- | ---: | ---: | ---: |",
        *(
            f"| {w['test_from']} | {w['users']:,} | {_cell(w['ndcg'])} | "
            f"{_cell(w['ndcg_from_orders'])} |"
            for w in result["windows"]
        ),
        f"| mean | | {_cell(result['mean_ndcg'])} | "
        f"{_cell(result['mean_ndcg_from_orders'])} |",
        "",
        "| orders before the window | user windows | favourite places known "
        "| from the orders |",
        "| --- | ---: | ---: | ---: |",
        *(
            f"| {b['orders_before']} | {b['users']:,} | {_cell(b['ndcg'])} | "
            f"{_cell(b['ndcg_from_orders'])} |"
            for b in result["by_history"]
        ),
        "",
        f"Started {result['started_at']}, {result['elapsed_s']} s, peak RSS "
        f"{result['peak_rss_gb']} GB. Machine: "
        f"{format_machine(result['machine'])}.",
        "",
    ]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_world_options(parser, 5_000, 300, 120, min_days=WINDOWS * HORIZON_DAYS)
    parser.add_argument(
        "--seed",
        type=int_at_least(0),
        default=0,
        help="seed of the world and of the Gibbs sampler (default: %(default)s)",
    )
    parser.add_argument(
        "--burn-in",
        type=int_at_least(0),
        default=BURN_IN,
        help="Gibbs sweeps per user discarded before averaging (default: %(default)s)",
    )
    parser.add_argument(
        "--samples",
        type=int_at_least(1),
        default=SAMPLES,
        help="Gibbs sweeps per user averaged (default: %(default)s)",
    )
    parser.add_argument(
        "--out-dir",
        type=output_folder,
        default=str(default_var_dir() / "bench"),
        help="folder for world_ceiling.json and world_ceiling.md "
        "(default: bench/ in the var folder)",
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
