"""Argparse types shared by the benchmark scripts.

Each type raises ``argparse.ArgumentTypeError``, so a bad value ends the
script before any work with one line such as ``argument --users: expected an
integer of at least 100, got 0`` and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from features.synthetic.config import MIN_DAYS, MIN_RESTAURANTS, MIN_USERS
from service.cli_arguments import int_in_range

__all__ = [
    "MIN_DAYS",
    "MIN_RESTAURANTS",
    "MIN_USERS",
    "add_world_options",
    "check_reused_world",
    "float_above",
    "float_at_least",
    "int_at_least",
    "int_in_range",
    "memory_limit",
    "nonempty_file",
    "output_folder",
]

# DuckDB's memory_limit syntax: a number and a unit, such as 5GB or 512MiB.
MEMORY_LIMIT = re.compile(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.I)


def int_at_least(minimum: int) -> Callable[[str], int]:
    """Return a type that accepts integers of at least ``minimum``."""

    def parse(text: str) -> int:
        value = _integer(text)
        if value < minimum:
            msg = f"expected an integer of at least {minimum}, got {value}"
            raise argparse.ArgumentTypeError(msg)
        return value

    return parse


def float_above(minimum: float) -> Callable[[str], float]:
    """Return a type that accepts finite numbers greater than ``minimum``."""

    def parse(text: str) -> float:
        value = _number(text)
        if not value > minimum:
            msg = f"expected a number greater than {minimum:g}, got {text!r}"
            raise argparse.ArgumentTypeError(msg)
        return value

    return parse


def float_at_least(minimum: float) -> Callable[[str], float]:
    """Return a type that accepts finite numbers of at least ``minimum``."""

    def parse(text: str) -> float:
        value = _number(text)
        if not value >= minimum:
            msg = f"expected a number of at least {minimum:g}, got {text!r}"
            raise argparse.ArgumentTypeError(msg)
        return value

    return parse


def memory_limit(text: str) -> str:
    """Accept a DuckDB memory_limit such as ``5GB``, or ``none``."""
    if text.lower() == "none" or MEMORY_LIMIT.fullmatch(text.strip()):
        return text.strip()
    msg = f"expected a size such as 5GB or 512MB, or 'none', got {text!r}"
    raise argparse.ArgumentTypeError(msg)


def nonempty_file(text: str) -> Path:
    """Accept the path of an existing, readable, non-empty file."""
    path = Path(text)
    if not path.is_file():
        msg = f"expected an existing file, got {text!r} (not found or not a file)"
        raise argparse.ArgumentTypeError(msg)
    if not os.access(path, os.R_OK):
        msg = f"expected a readable file, got {text!r} (permission denied)"
        raise argparse.ArgumentTypeError(msg)
    if path.stat().st_size == 0:
        msg = f"expected a non-empty file, got {text!r} (0 bytes)"
        raise argparse.ArgumentTypeError(msg)
    return path


def output_folder(text: str | Path) -> Path:
    """Accept a folder that exists and is writable, or that can be created.

    A path that does not exist yet is checked through its nearest existing
    parent, which must be a writable folder. Nothing is created here.
    """
    path = Path(text)
    if path.exists():
        if not path.is_dir():
            msg = f"expected a folder, got {str(text)!r}, which is a file"
            raise argparse.ArgumentTypeError(msg)
        if not os.access(path, os.W_OK | os.X_OK):
            msg = f"expected a writable folder, got {str(text)!r} (permission denied)"
            raise argparse.ArgumentTypeError(msg)
        return path
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        msg = f"cannot create folder {str(text)!r}: {str(parent)!r} is a file"
        raise argparse.ArgumentTypeError(msg)
    if not os.access(parent, os.W_OK | os.X_OK):
        msg = f"cannot create folder {str(text)!r}: {str(parent)!r} is not writable"
        raise argparse.ArgumentTypeError(msg)
    return path


def add_world_options(
    parser: argparse.ArgumentParser,
    users: int,
    restaurants: int,
    days: int,
    min_days: int = MIN_DAYS,
    reusable: bool = False,
) -> None:
    """Add ``--users``, ``--restaurants`` and ``--days`` of a synthetic world,
    with the minimums of ``WorldConfig.validate`` (``min_days`` may be higher).

    With ``reusable``, each option is None unless given, so that a script
    can compare it with a store it reuses, and the script fills in the
    default shown in the help.
    """
    defaults_shown = {"users": users, "restaurants": restaurants, "days": days}
    if reusable:
        users_default: int | None = None
        restaurants_default: int | None = None
        days_default: int | None = None
    else:
        users_default, restaurants_default, days_default = users, restaurants, days
    parser.add_argument(
        "--users",
        type=int_at_least(MIN_USERS),
        default=users_default,
        help=f"users of the synthetic world, at least {MIN_USERS} "
        f"(default: {defaults_shown['users']})",
    )
    parser.add_argument(
        "--restaurants",
        type=int_at_least(MIN_RESTAURANTS),
        default=restaurants_default,
        help=f"restaurants of the synthetic world, at least {MIN_RESTAURANTS} "
        f"(default: {defaults_shown['restaurants']})",
    )
    parser.add_argument(
        "--days",
        type=int_at_least(min_days),
        default=days_default,
        help=f"days of orders in the synthetic world, at least {min_days} "
        f"(default: {defaults_shown['days']})",
    )


def check_reused_world(store: Path, users: int | None, restaurants: int | None) -> None:
    """Print the size of the world in an existing ``store``, which a benchmark
    reuses, and stop when ``users`` or ``restaurants`` (None when the option
    was not given) differ from it.

    Raises:
        SystemExit: a given size differs from the stored world's.
    """
    import duckdb

    connection = duckdb.connect(str(store), read_only=True)
    try:
        counts = {
            table: _count(connection, table)
            for table in ("users", "restaurants", "orders")
        }
        span = connection.execute(
            "SELECT min(ordered_at)::DATE, max(ordered_at)::DATE FROM orders"
        ).fetchone()
    finally:
        connection.close()
    for option, requested, table in (
        ("--users", users, "users"),
        ("--restaurants", restaurants, "restaurants"),
    ):
        if requested is not None and requested != counts[table]:
            msg = (
                f"{option} {requested} differs from the world in {store}, which has "
                f"{counts[table]:,} {table} and is reused; remove that store or "
                "pass another --var-dir to generate a new world"
            )
            raise SystemExit(msg)
    first, last = span if span is not None else (None, None)
    print(
        f"reusing the world in {store}: {counts['users']:,} users, "
        f"{counts['restaurants']:,} restaurants, {counts['orders']:,} orders "
        f"from {first} to {last}; --users, --restaurants and --days apply only "
        "to a new store",
        flush=True,
    )


def _count(connection: Any, table: str) -> int:
    row = connection.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row is not None else 0


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        msg = f"expected an integer, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if value != value or value in (float("inf"), float("-inf")):
        msg = f"expected a finite number, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value
