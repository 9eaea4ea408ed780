"""The Makefile run by the real make: quoted paths, VAR_DIR, clean, SPLITS,
the synthetic world's options and the help text.

The tests that run recipes, rather than print them with ``make -n``, use a
copy of the Makefile in a temporary checkout, so that a broken ``clean``
deletes only temporary folders.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from features.paths import PROJECT_DIR

VENV = PROJECT_DIR / ".venv"
# Variables that would change what make does: the Makefile's own, and those a
# parent make (such as `make test`) passes to the make it starts.
MAKE_ENVIRONMENT = (
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
    "MAKEOVERRIDES",
    "VAR_DIR",
    "RECOMMENDER_VAR_DIR",
    "DIR",
    "SPLITS",
    "SEGMENTS",
    "AUDITS",
    "VENV",
    "SOURCE",
    "HOST",
    "PORT",
)
# A rule that prints the var folder the Makefile exports to its commands.
PRINT_VAR_DIR = "print-var-dir: ; @printf '%s\\n' \"$$RECOMMENDER_VAR_DIR\""
USERS_CSV = "user_id,city\nu1,Lyon\nu2,Paris\n"


def run_make(
    checkout: Path, *arguments: str, environment: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run make in ``checkout`` with ``arguments``. ``-o`` keeps make from
    reinstalling the virtual environment when pyproject.toml is newer."""
    env = {k: v for k, v in os.environ.items() if k not in MAKE_ENVIRONMENT}
    env.update(environment or {})
    return subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-o",
            str(VENV / ".installed"),
            f"VENV={VENV}",
            *arguments,
        ],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A temporary checkout: a copy of the Makefile and a ``data`` folder."""
    root = tmp_path / "checkout"
    (root / "data").mkdir(parents=True)
    (root / "data" / "orders.csv").write_text("order_id\n")
    shutil.copy(PROJECT_DIR / "Makefile", root / "Makefile")
    return root.resolve()


def test_import_command_quotes_paths(tmp_path: Path) -> None:
    folder = tmp_path / "in put's"

    result = run_make(PROJECT_DIR, "-n", "import", f"DIR={folder}")

    assert result.returncode == 0
    quoted = "'" + str(folder).replace("'", "'\\''") + "'"
    assert result.stdout.splitlines() == [
        f'test -n {quoted} || {{ echo "usage: make import DIR=path/to/folder"; '
        "exit 2; }",
        f"'{VENV}/bin/recommender' import {quoted}",
    ]


@pytest.mark.parametrize(
    ("var_dir", "environment", "expected"),
    [
        ("", {}, "{checkout}/var"),
        ("   ", {}, "{checkout}/var"),
        ("", {"RECOMMENDER_VAR_DIR": "/tmp/from env"}, "/tmp/from env"),
        ("x y", {}, "{checkout}/x y"),
        ("/tmp/a  b", {}, "/tmp/a  b"),
    ],
    ids=["empty", "blank", "empty with environment", "relative", "absolute"],
)
def test_var_dir_exported_whole(
    checkout: Path, var_dir: str, environment: dict[str, str], expected: str
) -> None:
    result = run_make(
        checkout,
        "--eval",
        PRINT_VAR_DIR,
        "print-var-dir",
        f"VAR_DIR={var_dir}",
        environment=environment,
    )

    assert result.returncode == 0
    assert result.stdout == expected.format(checkout=checkout) + "\n"


@pytest.mark.parametrize(
    ("var_dir", "store_dir"),
    [("v ar", "v ar"), ("", "var")],
    ids=["space", "empty"],
)
def test_import_writes_store_to_var_dir(
    checkout: Path, tmp_path: Path, var_dir: str, store_dir: str
) -> None:
    folder = tmp_path / "in put"
    folder.mkdir()
    (folder / "users.csv").write_text(USERS_CSV)

    result = run_make(checkout, "import", f"VAR_DIR={var_dir}", f"DIR={folder}")

    assert result.returncode == 0, result.stderr
    assert (checkout / store_dir / "store.duckdb").is_file()
    assert not (checkout / "store.duckdb").exists()
    assert result.stdout.splitlines()[-1] == (
        "users                2         2         0         0"
    )


def test_clean_path_with_space(checkout: Path, tmp_path: Path) -> None:
    var_dir = tmp_path / "x data"
    (var_dir / "features").mkdir(parents=True)
    (var_dir / "store.duckdb").write_text("")
    sibling = tmp_path / "x"
    sibling.mkdir()

    result = run_make(checkout, "clean", f"VAR_DIR={var_dir}")

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"deleted {var_dir.resolve()}\n"
    assert not var_dir.exists()
    assert sibling.is_dir()
    assert (checkout / "data" / "orders.csv").is_file()


def test_clean_empty_var_dir_deletes_var(checkout: Path) -> None:
    (checkout / "var").mkdir()
    (checkout / "var" / "store.duckdb").write_text("")

    result = run_make(checkout, "clean", "VAR_DIR=")

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"deleted {checkout}/var\n"
    assert not (checkout / "var").exists()
    assert (checkout / "data" / "orders.csv").is_file()
    assert (checkout / "Makefile").is_file()


@pytest.mark.parametrize(
    ("var_dir", "shown"),
    [("/", "/"), (".", "{checkout}/."), ("..", "{checkout}/..")],
    ids=["root", "checkout", "parent"],
)
def test_clean_rejects_folder_with_checkout(
    checkout: Path, var_dir: str, shown: str
) -> None:
    result = run_make(checkout, "clean", f"VAR_DIR={var_dir}")

    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        f"make clean: VAR_DIR {shown.format(checkout=checkout)} is the checkout "
        f"{checkout} or contains it; nothing deleted. Set VAR_DIR to the folder "
        "of generated files"
    )
    assert (checkout / "data" / "orders.csv").is_file()
    assert (checkout / "Makefile").is_file()


def test_clean_rejects_tracked_folder(checkout: Path) -> None:
    subprocess.run(["git", "init", "--quiet"], cwd=checkout, check=True)
    subprocess.run(["git", "add", "data/orders.csv"], cwd=checkout, check=True)

    result = run_make(checkout, "clean", "VAR_DIR=data")

    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        f"make clean: VAR_DIR {checkout}/data contains files tracked by git, such "
        "as data/orders.csv; nothing deleted. Set VAR_DIR to the folder of "
        "generated files"
    )
    assert (checkout / "data" / "orders.csv").is_file()


def test_clean_rejects_git_folder(checkout: Path) -> None:
    subprocess.run(["git", "init", "--quiet"], cwd=checkout, check=True)

    result = run_make(checkout, "clean", "VAR_DIR=.git")

    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        f"make clean: VAR_DIR {checkout}/.git is inside the checkout but git does "
        "not ignore it; nothing deleted. Set VAR_DIR to the folder of generated "
        "files"
    )
    assert (checkout / ".git" / "HEAD").is_file()


def test_clean_rejects_virtual_environment(checkout: Path) -> None:
    (checkout / "venv-here" / "bin").mkdir(parents=True)

    # The later VENV on the command line replaces the one run_make passes.
    result = run_make(checkout, "VENV=venv-here", "clean", "VAR_DIR=venv-here")

    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        f"make clean: VAR_DIR {checkout}/venv-here is the virtual environment; "
        "nothing deleted. Set VAR_DIR to the folder of generated files"
    )
    assert (checkout / "venv-here" / "bin").is_dir()


def test_clean_ignored_folder_in_git_checkout(checkout: Path) -> None:
    subprocess.run(["git", "init", "--quiet"], cwd=checkout, check=True)
    (checkout / ".gitignore").write_text("var/\n")
    (checkout / "var").mkdir()

    result = run_make(checkout, "clean")

    assert result.returncode == 0, result.stderr
    assert not (checkout / "var").exists()
    assert (checkout / ".git" / "HEAD").is_file()


def test_clean_rejects_folder_with_other_files(checkout: Path, tmp_path: Path) -> None:
    folder = tmp_path / "not var"
    (folder / "docs").mkdir(parents=True)
    (folder / "docs" / "thesis.txt").write_text("keep\n")
    (folder / "notes.txt").write_text("keep\n")
    (folder / "models").mkdir()
    (folder / "store.duckdb").write_text("")

    result = run_make(checkout, "clean", f"VAR_DIR={folder}")

    assert result.returncode == 2
    assert result.stdout == ""
    assert (
        f"{folder.resolve()} is not a var folder, so nothing was deleted: it "
        "contains docs/, notes.txt, which no recommender command writes"
    ) in result.stderr
    assert (folder / "docs" / "thesis.txt").read_text() == "keep\n"
    assert (folder / "notes.txt").read_text() == "keep\n"
    assert (folder / "models").is_dir()
    assert (folder / "store.duckdb").is_file()


def test_clean_deletes_empty_folder(checkout: Path, tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()

    result = run_make(checkout, "clean", f"VAR_DIR={folder}")

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"deleted {folder.resolve()}\n"
    assert not folder.exists()


def test_clean_missing_folder_succeeds(checkout: Path, tmp_path: Path) -> None:
    result = run_make(checkout, "clean", f"VAR_DIR={tmp_path / 'missing'}")

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == ""


def test_clean_deletes_var_folder(checkout: Path, tmp_path: Path) -> None:
    # The entries that `make run` and `recommender import` leave behind.
    var_dir = tmp_path / "var"
    for folder in ("features", "models/20260101T000000Z", "feast", "reports"):
        (var_dir / folder).mkdir(parents=True)
    (var_dir / "mlruns" / "artifacts").mkdir(parents=True)
    (var_dir / "store.duckdb").write_text("")
    (var_dir / "import_rejects.csv").write_text("")
    (var_dir / "features" / "users.parquet").write_text("")
    (var_dir / "feast" / "registry.db").write_text("")
    (var_dir / "reports" / "report.json").write_text("{}")
    (var_dir / "mlruns" / "mlflow.db").write_text("")

    result = run_make(checkout, "clean", f"VAR_DIR={var_dir}")

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"deleted {var_dir.resolve()}\n"
    assert not var_dir.exists()
    assert tmp_path.is_dir()


def test_clean_symbolic_link_keeps_target(checkout: Path, tmp_path: Path) -> None:
    target = tmp_path / "target"
    (target / "models").mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(target)

    result = run_make(checkout, "clean", f"VAR_DIR={link}")

    assert result.returncode == 0, result.stderr
    assert not link.is_symlink()
    assert (target / "models").is_dir()


def test_clean_without_recommender_command(checkout: Path, tmp_path: Path) -> None:
    (checkout / "var" / "models").mkdir(parents=True)
    missing_venv = tmp_path / "no-venv"

    # The later VENV on the command line replaces the one run_make passes.
    result = run_make(checkout, f"VENV={missing_venv}", "clean")

    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        f"make clean: {missing_venv}/bin/recommender, which checks the contents "
        f"of VAR_DIR {checkout}/var before deleting it, is not installed; "
        "nothing deleted. Run make setup first"
    )
    assert (checkout / "var" / "models").is_dir()


def test_clean_rejects_file(checkout: Path) -> None:
    (checkout / "notes.txt").write_text("keep\n")

    result = run_make(checkout, "clean", "VAR_DIR=notes.txt")

    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        f"make clean: VAR_DIR {checkout}/notes.txt is not a folder; nothing deleted"
    )
    assert (checkout / "notes.txt").read_text() == "keep\n"


@pytest.mark.parametrize(
    ("target", "splits", "expected"),
    [
        ("evaluate", None, "evaluate"),
        ("evaluate", "3", "evaluate --splits '3'"),
        ("evaluate", "2; touch x", "evaluate --splits '2; touch x'"),
        ("run", None, "run --source uci --host 127.0.0.1 --port 8000"),
        ("run", "2", "run --source uci --host 127.0.0.1 --port 8000 --splits '2'"),
    ],
    ids=["evaluate default", "evaluate 3", "evaluate shell", "run default", "run 2"],
)
def test_splits_passed_to_command(
    target: str, splits: str | None, expected: str
) -> None:
    arguments = ["-n", target]
    if splits is not None:
        arguments.append(f"SPLITS={splits}")

    result = run_make(PROJECT_DIR, *arguments)

    assert result.returncode == 0
    assert result.stdout == f"'{VENV}/bin/recommender' {expected}\n"


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["SEGMENTS=my segments.yaml"], "evaluate --segments 'my segments.yaml'"),
        (["AUDITS=a.yaml"], "evaluate --audits 'a.yaml'"),
        (
            ["SPLITS=1", "SEGMENTS=s.yaml", "AUDITS=a.yaml"],
            "evaluate --splits '1' --segments 's.yaml' --audits 'a.yaml'",
        ),
        (["SEGMENTS=", "AUDITS= "], "evaluate"),
    ],
    ids=["segments", "audits", "both", "empty"],
)
def test_evaluate_files_passed_to_command(arguments: list[str], expected: str) -> None:
    result = run_make(PROJECT_DIR, "-n", "evaluate", *arguments)

    assert result.returncode == 0
    assert result.stdout == f"'{VENV}/bin/recommender' {expected}\n"


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["data"], "data --source uci"),
        (
            ["data", "SOURCE=synthetic"],
            "data --source synthetic --users 5000 --restaurants 300 --days 120 "
            "--world-seed 0",
        ),
        (
            ["data", "SOURCE=synthetic", "USERS=800", "SEED=3"],
            "data --source synthetic --users 800 --restaurants 300 --days 120 "
            "--world-seed 3",
        ),
        # The command rejects it, rather than make dropping it.
        (["data", "USERS=800"], "data --source uci --users 800"),
        (
            ["run", "DAYS=60", "SEED=2"],
            "run --source uci --days 60 --world-seed 2 --host 127.0.0.1 --port 8000",
        ),
        (
            ["run", "SOURCE=synthetic", "DAYS=60"],
            "run --source synthetic --users 5000 --restaurants 300 --days 60 "
            "--world-seed 0 --host 127.0.0.1 --port 8000",
        ),
    ],
    ids=[
        "data uci",
        "data synthetic",
        "data sized",
        "uci given size",
        "uci run given days",
        "run",
    ],
)
def test_world_options_for_synthetic_or_given(
    arguments: list[str], expected: str
) -> None:
    result = run_make(PROJECT_DIR, "-n", *arguments)

    assert result.returncode == 0
    assert result.stdout == f"'{VENV}/bin/recommender' {expected}\n"


def test_help_lists_splits() -> None:
    result = run_make(PROJECT_DIR, "help")
    lines = result.stdout.splitlines()

    assert result.returncode == 0
    assert (
        "  evaluate   Models on SPLITS splits (default 5), segment analysis, audits "
        "(Error 4 if one fails); writes reports/ in VAR_DIR"
    ) in lines
    assert (
        "  run        Set up, import, build features, train, evaluate (SPLITS), "
        "then serve"
    ) in lines


def test_help_describes_clean() -> None:
    result = run_make(PROJECT_DIR, "help")

    assert result.returncode == 0
    assert (
        "  clean      Delete the var folder VAR_DIR (default var/) if it has only "
        "generated files; keeps .venv"
    ) in result.stdout.splitlines()
