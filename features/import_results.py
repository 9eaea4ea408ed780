"""Parsed table files, and the per-table counts and rejects of an import."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import polars as pl

from features.validation import REJECT_COLUMNS


@dataclass
class TableSummary:
    """Row counts of one table file: read, inserted, unchanged, rejected."""

    source_file: str
    read: int = 0
    inserted: int = 0
    unchanged: int = 0
    rejected: int = 0


@dataclass
class ImportResult:
    """Per-table counts and every reject of one import."""

    tables: dict[str, TableSummary] = field(default_factory=dict)
    rejects: pl.DataFrame = field(default_factory=lambda: _empty_rejects())

    def counts_by_reason(self) -> Counter[tuple[str, str]]:
        """Rejected rows per (table file, reason); a row with two fields
        failing for one reason counts once."""
        rows = self.rejects.select("source_file", "line", "reason").unique().rows()
        return Counter((source, reason) for source, _, reason in rows)


@dataclass(frozen=True)
class ParsedFile:
    """One table file after reading and field checks, before any store lookup."""

    # The absolute path, so that one file imported by two paths is one source.
    source: str
    rows: pl.DataFrame
    rejects: pl.DataFrame
    # The ``_line`` and key columns of records rejected while reading.
    unusable_keys: pl.DataFrame
    # ``_line`` and the text of every ``ordered_at`` that parsed as a time,
    # for the rejects of orders with a time in an untimed data set. Empty for
    # the other tables.
    time_texts: pl.DataFrame


def _empty_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema={"source_file": pl.String(), **REJECT_COLUMNS}).select(
        "line", "column_name", "value", "reason", "source_file"
    )
