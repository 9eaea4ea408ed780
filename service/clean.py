"""Delete a var folder, but only one that contains nothing but generated files.

``make clean`` and ``recommender clean`` run ``rm -rf`` in effect, so a
mistyped ``VAR_DIR`` such as ``$HOME`` must fail here instead of deleting it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from features.paths import VarPaths
from features.rejects import REJECTS_CSV
from models.tracking import MLRUNS_DIR
from service.feedback import FEEDBACK_DIR_NAME

_NAMES = VarPaths(Path())
_STORE = _NAMES.store.name
# The entries that the recommender commands and the bench scripts write at
# the top of a var folder. `serve` writes feedback/, `serve --workers N`
# writes prometheus/, and bench/quality_bench.py writes bench/, as `make
# bench` does in the default var folder. DuckDB (2.0.1 checked) writes its
# write-ahead log to <database>.wal and spills to the folder <database>.tmp,
# its default temp_directory.
VAR_FILES = frozenset({_STORE, f"{_STORE}.wal", REJECTS_CSV})
VAR_FOLDERS = frozenset(
    {
        _NAMES.features.name,
        _NAMES.models.name,
        _NAMES.reports.name,
        "feast",
        MLRUNS_DIR,
        FEEDBACK_DIR_NAME,
        "prometheus",
        "bench",
        f"{_STORE}.tmp",
    }
)
# The number of unexpected entries an error message lists by name.
LISTED_ENTRIES = 5


def find_unexpected_entries(folder: Path) -> list[str]:
    """Return the sorted names of the entries of ``folder`` that no command
    writes. A known name of the wrong kind, such as a folder named
    ``store.duckdb`` or a symbolic link, counts as unexpected."""
    unexpected = []
    for entry in folder.iterdir():
        if entry.is_symlink():
            unexpected.append(entry.name)
        elif entry.is_dir():
            if entry.name not in VAR_FOLDERS:
                unexpected.append(entry.name + "/")
        elif entry.name not in VAR_FILES:
            unexpected.append(entry.name)
    return sorted(unexpected)


def check_var_folder(folder: Path) -> None:
    """Raise ValueError naming the unexpected entries unless ``folder`` is
    empty or contains only entries that the commands write."""
    unexpected = find_unexpected_entries(folder)
    if not unexpected:
        return
    listed = ", ".join(unexpected[:LISTED_ENTRIES])
    if len(unexpected) > LISTED_ENTRIES:
        listed += f" and {len(unexpected) - LISTED_ENTRIES} more"
    msg = (
        f"{folder} is not a var folder, so nothing was deleted: it contains "
        f"{listed}, which no recommender command writes. Set VAR_DIR or "
        "--var-dir to the folder of generated files, or move those entries "
        "out first"
    )
    raise ValueError(msg)


def delete_var_folder(path: Path) -> str:
    """Delete the var folder ``path`` after :func:`check_var_folder`, and
    return a message naming what was deleted.

    A symbolic link is deleted without its target, as ``rm -rf`` does. A
    missing ``path`` is not an error. Raises ValueError when ``path`` is not a
    folder, contains unexpected entries, or cannot be deleted."""
    path = path.absolute()
    if path.is_symlink():
        target = path.resolve()
        path.unlink()
        return f"deleted the symbolic link {path}; its target {target} is kept"
    if not path.exists():
        return f"{path} does not exist; nothing to delete"
    folder = path.resolve()
    if not folder.is_dir():
        msg = f"{path} is not a folder; nothing was deleted"
        raise ValueError(msg)
    check_var_folder(folder)
    try:
        shutil.rmtree(folder)
    except OSError as error:
        msg = (
            f"cannot delete {folder}: {error}; some of its files may already be deleted"
        )
        raise ValueError(msg) from error
    return f"deleted {folder}"
