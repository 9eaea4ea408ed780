"""Progress bars for the long steps of training and evaluation.

Bars go to standard error through tqdm and only when it is a terminal, so
logs of scripts and CI stay clean.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(items: Iterable[T], description: str) -> Iterator[T]:
    """Yield ``items`` while a bar named ``description`` counts them."""
    yield from tqdm(items, desc=description, disable=None, leave=False)
