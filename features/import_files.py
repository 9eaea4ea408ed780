"""Reading import files into frames of raw text, with their line numbers.

A file that cannot be read at all (missing, empty, wrong header, broken CSV
quoting) raises :class:`ImportFileError`, which fails the whole import. A
record that can be read but not used (wrong number of fields, invalid
UTF-8) becomes a reject and the rest of the file is kept. Its key is kept
too, so that the rows that reference it can be rejected with it.
"""

from __future__ import annotations

import csv
import stat
from pathlib import Path

import polars as pl

from features.import_format import TableFormat
from features.import_header import ImportFileError, _check_header
from features.import_parquet import _read_parquet
from features.validation import LINE, REJECT_COLUMNS

# Fields may be long descriptions, but not unbounded.
MAX_FIELD_BYTES = 1_000_000


def find_table_file(directory: Path, table_format: TableFormat) -> Path | None:
    """Find the table's file in ``directory``: ``<table>.csv`` or ``.parquet``.

    Raises:
        ImportFileError: both forms are present, so which one to load is unclear,
            or a path of either name exists but is not a readable file.
    """
    name = table_format.table.name
    found = [
        directory / f"{name}.{suffix}"
        for suffix in ("csv", "parquet")
        if _is_table_file(directory / f"{name}.{suffix}")
    ]
    if len(found) > 1:
        msg = f"{directory}: both {name}.csv and {name}.parquet exist; keep one"
        raise ImportFileError(msg)
    return found[0] if found else None


def _is_table_file(path: Path) -> bool:
    """Return whether ``path`` is a regular file, and False when nothing is there.

    Raises:
        ImportFileError: something is at ``path`` but cannot be read as a file:
            a folder, a symbolic link that is broken or loops, a path without
            permission to look it up, a FIFO or a device.
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if not path.is_symlink():
            return False
        problem = "it is a symbolic link to a missing file"
    except OSError as error:
        problem = error.strerror or str(error)
    else:
        if stat.S_ISREG(mode):
            return True
        problem = "it is a folder" if stat.S_ISDIR(mode) else "it is not a regular file"
    msg = f"{path}: cannot read the table file: {problem}"
    raise ImportFileError(msg)


def read_table_file(
    path: Path, table_format: TableFormat
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Read a CSV or Parquet file as text columns plus ``_line``.

    Returns:
        Three frames: the usable records, the rejects (line, column_name,
        value, reason) of records that could not be used, and the ``_line``
        and key columns of those records. A key is read from its column's
        place in the record, even when the record has the wrong number of
        fields, and is null when the record is too short to have it. For
        Parquet, the line is the 1-based row number, and a row whose list
        has a null element or an element with ``|`` is kept among the usable
        records with a reject, so that its key is parsed like the others.
    """
    if path.suffix == ".parquet":
        frame, rejects = _read_parquet(path, table_format)
        return frame, rejects, _key_frame([], table_format)
    try:
        return _read_csv(path, table_format)
    except OSError as error:
        # No read permission, or an I/O error part way through the file.
        msg = f"{path}: cannot read the file: {error.strerror or error}"
        raise ImportFileError(msg) from error


# Byte order marks of the encodings that are not UTF-8, the longer UTF-32 marks
# first, since UTF-32LE's starts with UTF-16LE's.
UNICODE_BYTE_ORDER_MARKS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def _read_csv(
    path: Path, table_format: TableFormat
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    csv.field_size_limit(MAX_FIELD_BYTES)
    with path.open("rb") as raw:
        start = raw.read(4)
    for mark, encoding in UNICODE_BYTE_ORDER_MARKS:
        if start.startswith(mark):
            msg = (
                f"{path}: the file is {encoding} text (it starts with its byte "
                "order mark); save it as UTF-8"
            )
            raise ImportFileError(msg)
    rejects: list[dict[str, object]] = []
    unusable_keys: list[dict[str, object]] = []
    # surrogateescape keeps undecodable bytes as lone surrogates, so a record
    # with invalid UTF-8 is found and rejected instead of failing the file.
    with path.open(
        newline="", encoding="utf-8-sig", errors="surrogateescape"
    ) as handle:
        reader = csv.reader(handle, strict=True)
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            msg = f"{path}: file is empty; expected a header line of column names"
            raise ImportFileError(msg) from None
        except csv.Error as error:
            msg = f"{path}: unreadable header line: {error}"
            raise ImportFileError(msg) from error
        if _has_invalid_utf8(header):
            msg = f"{path}: header line is not valid UTF-8; save the file as UTF-8"
            raise ImportFileError(msg)
        if any("\x00" in name for name in header):
            # UTF-16 without a byte-order mark reads as ASCII with NUL bytes.
            msg = (
                f"{path}: header line contains NUL bytes, as UTF-16 text does; "
                "save the file as UTF-8"
            )
            raise ImportFileError(msg)
        _check_header(path, header, table_format)

        columns: list[list[str]] = [[] for _ in header]
        lines: list[int] = []
        next_line = reader.line_num + 1
        while True:
            line = next_line
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as error:
                raise _csv_error(path, error, line, reader.line_num) from error
            next_line = reader.line_num + 1
            if not record:
                continue
            problem = _record_problem(record, header, line)
            if problem:
                rejects.extend(problem)
                unusable_keys.append(_record_key(record, header, line, table_format))
                continue
            for values, value in zip(columns, record, strict=True):
                values.append(value)
            lines.append(line)

    frame = pl.DataFrame(
        {LINE: lines, **dict(zip(header, columns, strict=True))},
        schema={LINE: pl.Int64, **{name: pl.String for name in header}},
    )
    return (
        frame,
        pl.DataFrame(rejects, schema=REJECT_COLUMNS),
        _key_frame(unusable_keys, table_format),
    )


def _csv_error(
    path: Path, error: csv.Error, record_line: int, error_line: int
) -> ImportFileError:
    """Describe a CSV syntax error at the line where a reader can fix it."""
    # Python's csv module (3.11) raises this message, in strict mode, when the
    # file ends inside a quoted field. By then its line number is the end of the
    # file, so the message names the line of the quote that was left open.
    if str(error) == "unexpected end of data":
        quote_line = _open_quote_line(path, record_line)
        return ImportFileError(
            f"{path}: unreadable CSV: the quote opened at line {quote_line} is "
            f"never closed, so the file ends (line {error_line}) inside a "
            "quoted field"
        )
    return ImportFileError(f"{path}: unreadable CSV at line {error_line}: {error}")


def _open_quote_line(path: Path, record_line: int) -> int:
    """Find the line of the quote that the last record, which starts at
    ``record_line`` and never ends, leaves open.

    A record only spans lines inside quoted fields, so the open quote is the
    last quote that starts a field. The states follow Python's csv module with
    the default dialect: a quote is special only at the start of a field, and
    ``""`` inside quotes is a literal quote.
    """
    quote_line = record_line
    state = "field start"
    with path.open(
        newline="", encoding="utf-8-sig", errors="surrogateescape"
    ) as handle:
        for number, text in enumerate(handle, start=1):
            if number < record_line:
                continue
            for char in text:
                if state == "quoted":
                    if char == '"':
                        state = "quote in quoted"
                elif state == "quote in quoted" and char == '"':
                    state = "quoted"
                elif char in ",\r\n":
                    state = "field start"
                elif state == "field start" and char == '"':
                    state = "quoted"
                    quote_line = number
                else:
                    state = "unquoted"
    return quote_line


def _record_key(
    record: list[str], header: list[str], line: int, table_format: TableFormat
) -> dict[str, object]:
    key: dict[str, object] = {LINE: line}
    for name in table_format.key:
        index = header.index(name)
        value = record[index] if index < len(record) else ""
        text = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        key[name] = text.strip() or None
    return key


def _key_frame(
    keys: list[dict[str, object]], table_format: TableFormat
) -> pl.DataFrame:
    schema = {LINE: pl.Int64, **{name: pl.String for name in table_format.key}}
    return pl.DataFrame(keys, schema=schema)


def _record_problem(
    record: list[str], header: list[str], line: int
) -> list[dict[str, object]]:
    if len(record) != len(header):
        value = ",".join(record).encode("utf-8", "surrogateescape")
        return [
            {
                "line": line,
                "column_name": None,
                "value": value.decode("utf-8", "replace"),
                "reason": f"expected {len(header)} fields, found {len(record)}",
            }
        ]
    if not _has_invalid_utf8(record):
        return []
    return [
        {
            "line": line,
            "column_name": name,
            "value": value.encode("utf-8", "surrogateescape").decode(
                "utf-8", "replace"
            ),
            "reason": "text is not valid UTF-8; save the file as UTF-8",
        }
        for name, value in zip(header, record, strict=True)
        if _has_invalid_utf8([value])
    ]


def _has_invalid_utf8(values: list[str]) -> bool:
    try:
        "".join(values).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
