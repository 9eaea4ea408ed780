"""YAML reading that refuses a key repeated in one mapping.

PyYAML keeps the last value of a repeated key without a word, so a settings
file with two ``audits:`` lists, or an audit with two ``owner:`` fields,
would lose one of them.

PyYAML follows YAML 1.1, where a float needs a dot and a signed exponent,
so it reads ``1e-3`` and ``1.0e300`` as text. The loader here reads them as
floats, as YAML 1.2 does.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

# Exponent notation that YAML 1.1 leaves as text: no dot, or an unsigned
# exponent. Underscores between digits are allowed, as in YAML 1.1 numbers.
_EXPONENT_FLOAT = re.compile(
    r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$"
)


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, with an error for a repeated mapping key and
    exponent notation read as YAML 1.2 reads it."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, yaml.Mark] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping",
                        node.start_mark,
                        f"found the key {key!r} twice (first at line "
                        f"{seen[key].line + 1})",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)  # type: ignore[arg-type]


_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+.0123456789")
)


def load_unique(text: str) -> Any:
    """Parse YAML ``text`` as ``yaml.safe_load`` does, but with exponent floats
    such as ``1e-3`` read as floats.

    Raises:
        yaml.YAMLError: the text is not valid YAML, or a mapping repeats a
            key; the message gives the line.
    """
    # _UniqueKeyLoader is a SafeLoader: it builds plain Python values only.
    return yaml.load(text, Loader=_UniqueKeyLoader)


def describe_yaml_error(error: yaml.YAMLError) -> str:
    """Return ``error`` on one line: where the problem is, what it is and, when
    PyYAML gives it, what it was reading."""
    if not isinstance(error, yaml.MarkedYAMLError) or error.problem is None:
        return " ".join(str(error).split())
    where = ""
    if error.problem_mark is not None:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: "
    reading = f", {error.context}" if error.context else ""
    return f"{where}{error.problem}{reading}"


def read_yaml_file(path: Path, contents: str) -> Any:
    """Read and parse the YAML file at ``path``, as :func:`load_unique` does.

    ``contents`` completes "expected a YAML file ..." in the messages, such as
    "of ranker settings".

    Raises:
        ValueError: the file is missing, a folder, not UTF-8 or not valid
            YAML, or repeats a key; the message names the file.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        msg = f"{path}: file not found; expected a YAML file {contents}"
        raise ValueError(msg) from error
    except IsADirectoryError as error:
        msg = f"{path}: is a folder; expected a YAML file {contents}"
        raise ValueError(msg) from error
    except UnicodeDecodeError as error:
        msg = f"{path}: not UTF-8 text ({error.reason} at byte offset {error.start})"
        raise ValueError(msg) from error
    try:
        return load_unique(text)
    except yaml.YAMLError as error:
        msg = f"{path}: invalid YAML: {describe_yaml_error(error)}"
        raise ValueError(msg) from error
