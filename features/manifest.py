"""The manifest written next to the feature tables: which store rows and
which feature code they were computed from.

`recommender features` writes it last, so a run stopped part way leaves
none. `train` requires it to match the store and the code, `evaluate` the
code, and `serve` warns when it does not.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from pathlib import Path
from typing import Any

from features.schema import MENU_ITEMS, ORDER_ITEMS, ORDERS, RESTAURANTS, USERS
from features.transforms import FEATURE_TABLES

# Written next to the feature tables once they are written and materialized.
FEATURE_MANIFEST = "manifest.json"
# The store tables the feature tables are computed from.
FEATURE_INPUTS = (USERS, RESTAURANTS, MENU_ITEMS, ORDERS, ORDER_ITEMS)


def _feature_inputs(store_path: Path) -> dict[str, dict[str, int | str]]:
    """Per store table the feature tables read: its row count, and a digest
    of its rows. The digest combines DuckDB's hash of each row written as
    text with XOR, so the order of rows does not matter. The XOR of plain
    row hashes would not do: with DuckDB 2.0 it stayed the same when
    ratings moved between rows. An import adds rows and
    ``recommender data`` replaces them, so new data changes one or the
    other.

    The digest reads every row: 10 s for the 1-million-user world of
    ``bench/train_bench.py`` (20 million orders, 2 cores).
    """
    from features import store

    connection = store.connect(store_path, read_only=True)
    try:
        inputs: dict[str, dict[str, int | str]] = {}
        for table in FEATURE_INPUTS:
            rows, digest = connection.execute(
                f"SELECT count(*), bit_xor(hash(t::VARCHAR)) FROM {table.name} t"
            ).fetchall()[0]
            inputs[table.name] = {"rows": int(rows), "digest": str(digest)}
    finally:
        connection.close()
    return inputs


def feature_code_files(repo_path: Path) -> dict[str, Path]:
    """Return the source files that define the features, keyed by a name
    that does not depend on where the project is.

    The files are the Feast repository's Python files (``repo/...``), those
    of the ``features`` package (``features/...``), which contain the
    transforms and every module they use, and the module of every other
    registered transform (``transform/<file name>``).
    """
    package = Path(__file__).resolve().parent
    files = {
        f"repo/{path.relative_to(repo_path).as_posix()}": path.resolve()
        for path in repo_path.rglob("*.py")
    }
    files.update(
        (f"features/{path.relative_to(package).as_posix()}", path.resolve())
        for path in package.rglob("*.py")
    )
    known = set(files.values())
    for spec in FEATURE_TABLES.values():
        source = inspect.getsourcefile(spec.compute)
        if source is not None and Path(source).resolve() not in known:
            files[f"transform/{Path(source).name}"] = Path(source).resolve()
    return files


def _feature_code_digest(repo_path: Path) -> str:
    """SHA-256 of the names and contents of :func:`feature_code_files`, in
    the order of the names, so that a copy of the project elsewhere has the
    same digest."""
    digest = hashlib.sha256()
    for name, path in sorted(feature_code_files(repo_path).items()):
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def write_manifest(features_dir: Path, store_path: Path, repo_path: Path) -> None:
    """Record, next to the feature tables, the store rows and the feature
    code they come from."""
    manifest = features_dir / FEATURE_MANIFEST
    partial = manifest.with_suffix(f".json.{os.getpid()}.partial")
    content = {
        "tables": _feature_inputs(store_path),
        "code": _feature_code_digest(repo_path),
    }
    partial.write_text(json.dumps(content, indent=2) + "\n")
    partial.replace(manifest)


def _read_manifest(features_dir: Path) -> dict[str, Any]:
    manifest = features_dir / FEATURE_MANIFEST
    try:
        content = json.loads(manifest.read_text())
        if not isinstance(content["tables"], dict):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError):
        msg = (
            f"no complete feature tables in {features_dir} ({manifest.name} "
            "is missing or unreadable); run `recommender features` first"
        )
        raise ValueError(msg) from None
    return dict(content)


def check_feature_code(
    features_dir: Path, repo_path: Path, required: bool = True
) -> None:
    """Check that the feature tables and the Feast registry come from the
    feature code as it is now.

    ``required=False`` accepts a folder without a manifest, for callers that
    fail later with their own message when ``recommender features`` never ran.

    Raises:
        ValueError: the manifest is missing and ``required``, or the code
            changed since ``recommender features`` last ran.
    """
    if not required and not (features_dir / FEATURE_MANIFEST).exists():
        return
    built = _read_manifest(features_dir)
    if built.get("code") != _feature_code_digest(repo_path):
        msg = (
            f"the feature tables in {features_dir} and the Feast registry were "
            f"built from other feature code ({repo_path} or the features "
            "package changed since); run `recommender features` again"
        )
        raise ValueError(msg)


def check_features_current(
    features_dir: Path, store_path: Path, repo_path: Path
) -> None:
    """Check that the feature tables were computed from the store and the
    feature code as they are.

    Raises:
        ValueError: the tables' manifest is missing or unreadable, or names
            other rows or other code; the message names what changed.
    """
    built = _read_manifest(features_dir)["tables"]
    check_feature_code(features_dir, repo_path)
    changes = []
    for name, now in _feature_inputs(store_path).items():
        then = built.get(name, {})
        if then.get("rows") != now["rows"]:
            changes.append(f"{name} {then.get('rows')} rows then, {now['rows']} now")
        elif then.get("digest") != now["digest"]:
            changes.append(f"{name} rows changed, {now['rows']} as then")
    if changes:
        msg = (
            f"the feature tables in {features_dir} were computed from other "
            "data (" + "; ".join(changes) + "); run `recommender features` again"
        )
        raise ValueError(msg)
