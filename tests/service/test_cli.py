"""The recommender command: argument checks and one-line errors."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import duckdb
import pytest

from service.cli import main


@pytest.mark.parametrize(
    "arguments",
    [
        ["evaluate", "--k", "0"],
        ["evaluate", "--splits", "0"],
        ["evaluate", "--seed", "-1"],
        ["serve", "--port", "70000"],
        ["run", "--port", "0"],
        ["data", "--source", "csv"],
    ],
    ids=lambda arguments: " ".join(arguments),
)
def test_bad_argument_exits_2(
    arguments: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["--var-dir", str(tmp_path), *arguments])

    assert raised.value.code == 2
    assert "error: argument" in capsys.readouterr().err


def test_var_dir_file_rejected(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    file = tmp_path / "not-a-folder"
    file.write_text("x")

    assert main(["--var-dir", str(file), "data"]) == 2
    assert "--var-dir must name a folder" in caplog.text


def test_serve_without_model_fails(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert main(["--var-dir", str(tmp_path), "serve", "--port", "8799"]) == 1
    assert "no current model" in caplog.text


def test_run_fails_on_busy_port(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        code = main(["--var-dir", str(tmp_path), "run", "--port", str(port)])

    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in caplog.text
    # Nothing ran: the store was never written.
    assert not (tmp_path / "store.duckdb").exists()


def test_missing_data_folder_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "nowhere"

    assert main(["--var-dir", str(tmp_path), "data", "--data-dir", str(missing)]) == 1
    assert f"UCI data folder not found: {missing}" in caplog.text


def test_single_split_report_is_json(tmp_path: Path) -> None:
    var_dir = str(tmp_path / "var")
    assert main(["--var-dir", var_dir, "data"]) == 0
    assert main(["--var-dir", var_dir, "features"]) == 0

    assert main(["--var-dir", var_dir, "evaluate", "--splits", "1"]) == 0

    text = (tmp_path / "var" / "reports" / "evaluation.json").read_text()
    report = json.loads(text, parse_constant=pytest.fail)
    assert report["summary"]["popularity"]["ndcg@10"]["std"] is None


def test_evaluate_before_features_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    var_dir = str(tmp_path / "var")
    assert main(["--var-dir", var_dir, "data"]) == 0

    assert main(["--var-dir", var_dir, "evaluate", "--splits", "1"]) == 1
    assert "run `recommender features` first" in caplog.text


def test_synthetic_source_loads_world(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    arguments = ["--users", "300", "--restaurants", "60", "--days", "30"]

    assert (
        main(["--var-dir", str(var_dir), "data", "--source", "synthetic", *arguments])
        == 0
    )

    connection = duckdb.connect(str(var_dir / "store.duckdb"), read_only=True)
    try:
        users = connection.execute("SELECT count(*) FROM users").fetchall()[0][0]
        segments = connection.execute("SELECT count(*) FROM user_segments").fetchall()[
            0
        ][0]
        orders = connection.execute("SELECT count(*) FROM orders").fetchall()[0][0]
    finally:
        connection.close()
    assert users == 300
    assert segments == 300
    assert orders > 0


def test_compare_rejects_folder(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert main(["compare", str(tmp_path), str(tmp_path / "b.json")]) == 1
    assert "not a readable JSON evaluation report" in caplog.text


def test_compare_names_file_missing_fields(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    report = tmp_path / "a.json"
    report.write_text("{}")

    assert main(["compare", str(report), str(report)]) == 1
    assert f"{report}: not an evaluation report" in caplog.text
