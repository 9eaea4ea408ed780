"""Damaged UCI files fail with the file named and leave the store as it was."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from features import store
from features.paths import UCI_DATA_DIR, VarPaths
from features.uci import load_uci
from service.pipeline import import_data


def damaged_copy(tmp_path: Path, name: str, content: bytes, append: bool) -> Path:
    folder = tmp_path / "uci"
    shutil.copytree(UCI_DATA_DIR, folder)
    path = folder / name
    if append:
        path.write_bytes(path.read_bytes() + content)
    else:
        path.write_bytes(content)
    return folder


DAMAGES = {
    "empty file": ("userprofile.csv", b"", False, "unreadable UCI file"),
    "invalid utf-8": ("geoplaces2.csv", b"x\xff,1\n", True, "unreadable UCI file"),
    "renamed column": (
        "rating_final.csv",
        b"uid,placeID,rating\nU1077,135085,2\n",
        False,
        "missing columns ['userID']",
    ),
    "extra field": (
        "rating_final.csv",
        b"U1077,135085,2,2,2,9\n",
        True,
        "unreadable UCI file",
    ),
    "header only": (
        "geoplaces2.csv",
        b"placeID,latitude,longitude,name,city,price,franchise\n",
        False,
        "no usable rows",
    ),
}


@pytest.mark.parametrize(
    ("name", "content", "append", "message"), list(DAMAGES.values()), ids=list(DAMAGES)
)
def test_damaged_file_named(
    tmp_path: Path, name: str, content: bytes, append: bool, message: str
) -> None:
    folder = damaged_copy(tmp_path, name, content, append)

    with pytest.raises(ValueError, match=re.escape(message)) as raised:
        load_uci(folder)

    assert str(folder / name) in str(raised.value)


def test_failed_import_keeps_store(tmp_path: Path) -> None:
    paths = VarPaths(tmp_path / "var")
    import_data(paths, UCI_DATA_DIR)
    folder = damaged_copy(tmp_path, "geoplaces2.csv", b"placeID,name\n", False)

    with pytest.raises(ValueError, match="missing columns"):
        import_data(paths, folder)

    connection = store.connect(paths.store, read_only=True)
    try:
        counts = store.table_counts(connection)
    finally:
        connection.close()
    assert counts["orders"] == 1161
    assert counts["restaurants"] == 130
