"""The header check of an import file, and the error that fails a whole file."""

from __future__ import annotations

from pathlib import Path

from features.import_format import TableFormat


class ImportFileError(ValueError):
    """An import file cannot be read; nothing of the import is loaded."""


def _check_header(path: Path, header: list[str], table_format: TableFormat) -> None:
    expected = [column.name for column in table_format.columns]
    required = [column.name for column in table_format.columns if column.required]
    missing = [name for name in required if name not in header]
    unknown = [name for name in header if name not in expected]
    duplicated = sorted({name for name in header if header.count(name) > 1})
    problems = []
    if missing:
        problems.append(f"missing required columns {missing}")
    if unknown:
        problems.append(f"unknown columns {unknown}")
    if duplicated:
        problems.append(f"repeated columns {duplicated}")
    if problems:
        msg = (
            f"{path}: invalid header: {'; '.join(problems)}. Expected columns "
            f"{expected}, of which {required} are required"
        )
        separator = _other_separator(header)
        if separator is not None:
            msg += (
                f". The header is one column with {separator!r} in it: the files "
                "are read as comma-separated, so save the file with commas"
            )
        raise ImportFileError(msg)


def _other_separator(header: list[str]) -> str | None:
    """Return the separator, other than a comma, of a header read as one
    column, such as the semicolons of a spreadsheet saved in a European
    locale, or None."""
    if len(header) != 1:
        return None
    return next((mark for mark in (";", "\t", "|") if mark in header[0]), None)
