"""Bad options of every benchmark script end at argument parsing, with one
line naming the option, the value and what was expected."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

# Script, arguments and the error line argparse prints for them.
BAD_OPTIONS = [
    ("store_bench", ["--users", "0"], "--users: expected an integer of at least 100"),
    (
        "store_bench",
        ["--restaurants", "-1"],
        "--restaurants: expected an integer of at least 60, got -1",
    ),
    ("store_bench", ["--days", "7"], "--days: expected an integer of at least 14"),
    ("store_bench", ["--repeat", "0"], "--repeat: expected an integer of at least 1"),
    (
        "store_bench",
        ["--memory-limit", "banana"],
        "--memory-limit: expected a size such as 5GB or 512MB, or 'none', got 'banana'",
    ),
    ("train_bench", ["--repeat", "0"], "--repeat: expected an integer of at least 1"),
    ("train_bench", ["--users", "99"], "--users: expected an integer of at least 100"),
    (
        "materialize_bench",
        ["--repeat", "0"],
        "--repeat: expected an integer of at least 1",
    ),
    (
        "materialize_bench",
        ["--users", "-10"],
        "--users: expected an integer of at least 100, got -10",
    ),
    (
        "vegetarian_eval",
        ["--items", "0"],
        "--items: expected an integer of at least 1, got 0",
    ),
    (
        "vegetarian_eval",
        ["--labels", "/nonexistent/labels.csv"],
        "--labels: expected an existing file, got '/nonexistent/labels.csv'",
    ),
    ("load_bench", ["--seconds", "0"], "--seconds: expected a number greater than 0"),
]

# Every script with an --out-dir option, and arguments it needs besides.
OUT_DIR_SCRIPTS = [
    "evaluate_bench",
    "load_bench",
    "materialize_bench",
    "quality_bench",
    "store_bench",
    "train_bench",
    "vegetarian_eval",
    "world_ceiling",
]


@pytest.mark.parametrize(("script", "arguments", "expected"), BAD_OPTIONS)
def test_bad_option_one_line(
    script: str,
    arguments: list[str],
    expected: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    main = importlib.import_module(script).main

    with pytest.raises(SystemExit) as stopped:
        main(arguments)

    error = capsys.readouterr().err
    assert stopped.value.code == 2
    assert f"error: argument {expected}" in error
    assert "Traceback" not in error


@pytest.mark.parametrize("script", OUT_DIR_SCRIPTS)
def test_out_dir_file_rejected(
    script: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    existing_file = tmp_path / "existing_file"
    existing_file.write_text("")
    main = importlib.import_module(script).main

    with pytest.raises(SystemExit) as stopped:
        main(["--out-dir", str(existing_file / "inside")])

    assert stopped.value.code == 2
    assert "argument --out-dir: cannot create folder" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to any folder")
def test_out_dir_unwritable_rejected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    main = importlib.import_module("store_bench").main

    with pytest.raises(SystemExit) as stopped:
        main(["--out-dir", str(locked)])

    assert stopped.value.code == 2
    assert "expected a writable folder" in capsys.readouterr().err


def test_empty_labels_rejected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "labels.csv"
    empty.write_text("")
    main = importlib.import_module("vegetarian_eval").main

    with pytest.raises(SystemExit) as stopped:
        main(["--labels", str(empty), "--out-dir", str(tmp_path / "out")])

    assert stopped.value.code == 2
    assert "--labels: expected a non-empty file" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_header_only_labels_rejected(tmp_path: Path) -> None:
    source = Path(__file__).parents[1] / "features" / "data" / "dish_labels.csv"
    header = tmp_path / "labels.csv"
    header.write_text(source.read_text().splitlines()[0] + "\n")
    main = importlib.import_module("vegetarian_eval").main

    with pytest.raises(SystemExit) as stopped:
        main(["--labels", str(header), "--out-dir", str(tmp_path / "out")])

    assert stopped.value.code == (
        f"--labels {header}: expected at least one labelled dish, got none"
    )


def test_train_days_checked_before_world(tmp_path: Path) -> None:
    var_dir = tmp_path / "world"
    out_dir = tmp_path / "out"
    main = importlib.import_module("train_bench").main
    config = Path(__file__).parents[2] / "configs" / "ranker.yaml"

    with pytest.raises(SystemExit) as stopped:
        main(["--var-dir", str(var_dir), "--out-dir", str(out_dir), "--days", "27"])

    assert stopped.value.code == (
        f"--days 27 is too few for the training cutoffs of {config}: they need "
        "at least 28 days of orders; pass --days 28 or more"
    )
    assert not (var_dir / "store.duckdb").exists()


def test_train_config_checked_before_world(tmp_path: Path) -> None:
    var_dir = tmp_path / "world"
    config = tmp_path / "ranker.yaml"
    config.write_text("seed: [1, 2\n")
    out_dir = tmp_path / "out"
    config_path = str(config)
    main = importlib.import_module("train_bench").main

    with pytest.raises(SystemExit) as stopped:
        main(
            [
                "--var-dir",
                str(var_dir),
                "--out-dir",
                str(out_dir),
                "--config",
                config_path,
            ]
        )

    assert str(stopped.value.code).startswith(f"{config}: invalid YAML: line 2")
    assert not var_dir.exists()


@pytest.mark.parametrize(
    "script", ["evaluate_bench", "store_bench", "train_bench", "world_ceiling"]
)
def test_help_shows_world_minimums(
    script: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        importlib.import_module(script).main(["--help"])

    text = " ".join(capsys.readouterr().out.split())
    assert "at least 100" in text
    assert "at least 60" in text


@pytest.mark.parametrize("script", OUT_DIR_SCRIPTS)
def test_every_option_has_help(script: str) -> None:
    parser = importlib.import_module(script)._parser()

    for action in parser._actions:
        assert action.help, f"{script} {action.option_strings} has no help text"
