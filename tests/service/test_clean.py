"""recommender clean: which folders it deletes and which it keeps."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.paths import VarPaths
from service.clean import (
    VAR_FILES,
    VAR_FOLDERS,
    check_var_folder,
    delete_var_folder,
    find_unexpected_entries,
)
from service.cli import main

USERS_CSV = "user_id,city\nu1,Lyon\nu2,Paris\n"


def test_var_paths_names_known() -> None:
    paths = VarPaths(Path())

    assert paths.store.name in VAR_FILES
    assert paths.features.name in VAR_FOLDERS
    assert paths.models.name in VAR_FOLDERS
    assert paths.reports.name in VAR_FOLDERS


def test_unexpected_entries_wrong_kind(tmp_path: Path) -> None:
    (tmp_path / "store.duckdb").mkdir()
    (tmp_path / "models").write_text("")
    (tmp_path / "features").symlink_to(tmp_path / "store.duckdb")
    (tmp_path / "reports").mkdir()

    assert find_unexpected_entries(tmp_path) == ["features", "models", "store.duckdb/"]


def test_check_lists_first_five_entries(tmp_path: Path) -> None:
    for name in ("a", "b", "c", "d", "e", "f", "g"):
        (tmp_path / name).write_text("")
    (tmp_path / "models").mkdir()

    with pytest.raises(ValueError, match="contains a, b, c, d, e and 2 more, which"):
        check_var_folder(tmp_path)


def test_delete_keeps_folder_with_other_files(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "thesis.txt").write_text("keep\n")
    (tmp_path / "store.duckdb").write_text("")

    with pytest.raises(ValueError, match="contains docs/, which no recommender"):
        delete_var_folder(tmp_path)

    assert (tmp_path / "docs" / "thesis.txt").read_text() == "keep\n"
    assert (tmp_path / "store.duckdb").is_file()


def test_delete_empty_folder(tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()

    assert delete_var_folder(folder) == f"deleted {folder}"
    assert not folder.exists()


def test_delete_missing_folder(tmp_path: Path) -> None:
    folder = tmp_path / "missing"

    assert delete_var_folder(folder) == f"{folder} does not exist; nothing to delete"


def test_delete_rejects_file(tmp_path: Path) -> None:
    file = tmp_path / "store.duckdb"
    file.write_text("keep\n")

    with pytest.raises(ValueError, match="is not a folder; nothing was deleted"):
        delete_var_folder(file)

    assert file.read_text() == "keep\n"


def test_delete_link_keeps_target(tmp_path: Path) -> None:
    target = tmp_path / "target"
    (target / "models").mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(target)

    assert delete_var_folder(link) == (
        f"deleted the symbolic link {link}; its target {target} is kept"
    )
    assert not link.is_symlink()
    assert (target / "models").is_dir()


def test_command_deletes_imported_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "users.csv").write_text(USERS_CSV)
    var_dir = tmp_path / "var"
    assert main(["--var-dir", str(var_dir), "import", str(source)]) == 0
    assert (var_dir / "store.duckdb").is_file()
    capsys.readouterr()

    assert main(["--var-dir", str(var_dir), "clean"]) == 0
    assert capsys.readouterr().out == f"deleted {var_dir}\n"
    assert not var_dir.exists()


def test_command_rejects_other_files(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "notes.txt").write_text("keep\n")

    assert main(["--var-dir", str(tmp_path), "clean"]) == 1
    assert f"{tmp_path} is not a var folder, so nothing was deleted" in caplog.text
    assert (tmp_path / "notes.txt").read_text() == "keep\n"
