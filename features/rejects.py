"""Rows an importer could not load, each with the place and the reason."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl

from features.schema import IMPORT_REJECTS


@dataclass(frozen=True)
class Reject:
    """One input value that was not loaded, and why."""

    source_file: str
    line: int | None
    column_name: str | None
    value: str | None
    reason: str


@dataclass
class RejectLog:
    """Collects rejects during one import; written to the store with the data."""

    rejects: list[Reject] = field(default_factory=list)

    def add(
        self,
        source_file: str,
        line: int | None,
        column_name: str | None,
        value: object,
        reason: str,
    ) -> None:
        text = None if value is None else str(value)
        self.rejects.append(Reject(source_file, line, column_name, text, reason))

    def counts_by_reason(self) -> Counter[tuple[str, str]]:
        """Count rejects per (source file, reason)."""
        return Counter((r.source_file, r.reason) for r in self.rejects)

    def to_frame(self, imported_at: datetime | None = None) -> pl.DataFrame:
        """Return the rejects as rows of the ``import_rejects`` table."""
        stamp = imported_at or datetime.now(UTC).replace(tzinfo=None)
        rows = [
            {
                "source_file": r.source_file,
                "line": r.line,
                "column_name": r.column_name,
                "value": r.value,
                "reason": r.reason,
                "imported_at": stamp,
            }
            for r in self.rejects
        ]
        schema: dict[str, pl.DataType] = {
            "source_file": pl.String(),
            "line": pl.Int32(),
            "column_name": pl.String(),
            "value": pl.String(),
            "reason": pl.String(),
            "imported_at": pl.Datetime("us"),
        }
        return pl.DataFrame(rows, schema=schema).select(IMPORT_REJECTS.column_names)
