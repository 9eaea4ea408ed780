"""Rows an importer could not load, each with the place and the reason."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

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


# The file, in the var folder, that `recommender import` fills with every
# reject of the last import that loaded, replacing the previous one.
REJECTS_CSV = "import_rejects.csv"
# The number of rejects that `recommender import` prints in full.
PRINTED_REJECTS = 20
# Longer values are cut in the printed rejects, but not in the CSV file.
MAX_PRINTED_VALUE_CHARS = 60


def write_rejects_csv(rejects: pl.DataFrame, path: Path) -> None:
    """Write rejects to ``path`` as CSV, one row each, replacing the file.

    Args:
        rejects: the columns source_file, line, column_name, value and reason,
            as in :attr:`features.importer.ImportResult.rejects`.
        path: the CSV file, which has a header line even when there are no
            rejects.
    """
    columns = ["source_file", "line", "column_name", "value", "reason"]
    rejects.select(columns).write_csv(path)


def describe_rejects(
    rejects: pl.DataFrame, location: Path | str, limit: int = PRINTED_REJECTS
) -> list[str]:
    """Describe the first ``limit`` rejects in full, one line each, and end
    with the number left out and ``location``, which contains them all: the
    CSV file, or the store's table when that file could not be written.

    Returns no lines when there are no rejects.
    """
    if rejects.is_empty():
        return []
    total = rejects.height
    if total > limit:
        heading = f"first {limit} of {total} rejects:"
    else:
        heading = f"{total} reject{'s' if total > 1 else ''}:"
    lines = [heading]
    for reject in rejects.head(limit).iter_rows(named=True):
        lines.append(f"  {describe_reject(reject)}")
    more = f"{total - limit} more not shown. " if total > limit else ""
    lines.append(f"{more}All rejects are in {location}")
    return lines


def describe_reject(reject: dict[str, object]) -> str:
    """Describe a reject as file, line, column, value and reason, such as
    ``users.csv line 5, column latitude, value 'north': expected a number``."""
    source = Path(str(reject["source_file"]))
    parts = [source.name]
    if reject["line"] is not None:
        # The line of a Parquet reject is its 1-based row number.
        place = "row" if source.suffix == ".parquet" else "line"
        parts[0] += f" {place} {reject['line']}"
    column_name = reject["column_name"]
    if column_name is not None:
        label = "columns" if "," in str(column_name) else "column"
        parts.append(f"{label} {column_name}")
    if reject["value"] is not None:
        # A value without a column is the whole record, such as one with the
        # wrong number of fields.
        label = "value" if column_name is not None else "record"
        parts.append(f"{label} {_printed_value(str(reject['value']))}")
    return f"{', '.join(parts)}: {reject['reason']}"


def _printed_value(value: str) -> str:
    """Quote ``value`` with escapes, so that tabs and line breaks show."""
    if len(value) <= MAX_PRINTED_VALUE_CHARS:
        return repr(value)
    cut = value[:MAX_PRINTED_VALUE_CHARS]
    return f"{cut!r} and {len(value) - len(cut)} more characters"
