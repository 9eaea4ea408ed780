"""Argument types of the ``recommender`` command, and the options of its data
sources, which a command parser checks against the source chosen."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

from features.paths import UCI_DATA_DIR
from features.synthetic.config import MIN_DAYS, MIN_RESTAURANTS, MIN_USERS

# Largest synthetic world the command accepts. Generating and loading 1 million
# users with 20 orders each peaks at 5.9 GB (docs/benchmarks.md), so 3 million
# is an estimated 18 GB, within a 24 GB machine.
MAX_WORLD_USERS = 3_000_000
MAX_WORLD_RESTAURANTS = 100_000

# The options of each data source, by argparse dest, with their defaults. They
# parse as None and get these defaults after the check, so that an option
# given for the other source is rejected rather than silently ignored.
SOURCE_OPTIONS: dict[str, dict[str, object]] = {
    "uci": {"data_dir": UCI_DATA_DIR},
    "synthetic": {"users": 5000, "restaurants": 300, "days": 120, "world_seed": 0},
}


class CommandParser(argparse.ArgumentParser):
    """Parser of one command, which rejects a data option of the source not
    chosen with --source."""

    def parse_known_args(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        namespace: argparse.Namespace | None = None,
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if getattr(parsed, "source", None) in SOURCE_OPTIONS:
            self._apply_source_options(parsed)
        return parsed, extras

    def _apply_source_options(self, parsed: argparse.Namespace) -> None:
        for source, defaults in SOURCE_OPTIONS.items():
            for name, default in defaults.items():
                if source == parsed.source:
                    if getattr(parsed, name) is None:
                        setattr(parsed, name, default)
                elif getattr(parsed, name) is not None:
                    option = "--" + name.replace("_", "-")
                    self.error(
                        f"argument {option}: applies only to --source {source}; "
                        f"add --source {source}, or leave out {option}"
                    )


def add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source",
        choices=["uci", "synthetic"],
        default="uci",
        help=(
            "uci: the bundled UCI files; synthetic: a generated food-delivery "
            "world (default: uci)"
        ),
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help=f"folder of the UCI CSV files (default: {UCI_DATA_DIR})",
    )
    world = parser.add_argument_group("synthetic world (with --source synthetic)")
    world.add_argument(
        "--users",
        type=int_in_range(MIN_USERS, MAX_WORLD_USERS),
        help="default: 5000",
    )
    world.add_argument(
        "--restaurants",
        type=int_in_range(MIN_RESTAURANTS, MAX_WORLD_RESTAURANTS),
        help="default: 300",
    )
    world.add_argument(
        "--days",
        type=int_in_range(MIN_DAYS, 3650),
        help=(
            "days of orders (default: 120); `features` with the shipped ranker "
            "config needs at least 28, for its four weekly training cutoffs"
        ),
    )
    world.add_argument(
        "--world-seed",
        type=int_in_range(0, 2**32 - 1),
        help="seed of the generator (default: 0)",
    )


def int_in_range(low: int, high: int) -> Callable[[str], int]:
    """Return an argparse type that accepts integers from ``low`` to ``high``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            msg = f"expected an integer, got {text!r}"
            raise argparse.ArgumentTypeError(msg) from None
        if not low <= value <= high:
            msg = f"expected an integer from {low} to {high}, got {value}"
            raise argparse.ArgumentTypeError(msg)
        return value

    return parse


def folder_argument(text: str) -> Path:
    """Return ``text`` as a path; argparse reports the error of a blank one."""
    if not text.strip():
        msg = "expected a folder, got an empty value"
        raise argparse.ArgumentTypeError(msg)
    return Path(text)


def host_argument(text: str) -> str:
    """Return the address ``text`` names, without the brackets of an IPv6
    address written as in a URL (``[::1]``); argparse reports a blank one.

    asyncio listens on every address, IPv4 and IPv6, for an empty host, so a
    blank --host would expose the service where 127.0.0.1 was meant.
    """
    if not text.strip():
        msg = (
            "expected a host name or IP address, got an empty value; use "
            "0.0.0.0 to listen on every IPv4 address"
        )
        raise argparse.ArgumentTypeError(msg)
    if text.startswith("[") and text.endswith("]"):
        return text[1:-1]
    return text
