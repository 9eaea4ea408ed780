"""The recommender command: argument checks and one-line errors."""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from mlflow import MlflowClient

from features.feast_store import open_store
from features.manifest import check_features_current
from features.paths import (
    AUDITS_CONFIG,
    FEATURE_REPO,
    RANKER_CONFIG,
    SEGMENTS_CONFIG,
    UCI_DATA_DIR,
    VarPaths,
    default_var_dir,
)
from models.runs import list_runs
from models.tracking import EVALUATE, log_evaluation, start_run, tracking_uri
from service.cli import EXIT_AUDITS, hide_library_warnings, main
from service.cli_parser import _parser
from service.cli_serve import _example_user

UNREACHABLE = "http://127.0.0.1:9"


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


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["data", "--users", "300"], "argument --users: applies only to --source "),
        (
            ["data", "--source", "uci", "--world-seed", "3"],
            "argument --world-seed: applies only to --source synthetic; add "
            "--source synthetic, or leave out --world-seed",
        ),
        (
            ["data", "--source", "synthetic", "--data-dir", "data/uci"],
            "argument --data-dir: applies only to --source uci",
        ),
        (
            ["run", "--days", "30", "--no-serve"],
            "argument --days: applies only to --source ",
        ),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else "",
)
def test_option_of_other_source_rejected(
    arguments: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["--var-dir", str(tmp_path), *arguments])

    assert raised.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "store.duckdb").exists()


def test_source_options_get_defaults() -> None:
    synthetic = _parser().parse_args(["data", "--source", "synthetic", "--days", "30"])
    uci = _parser().parse_args(["data"])

    assert synthetic.users == 5000
    assert synthetic.restaurants == 300
    assert synthetic.days == 30
    assert synthetic.world_seed == 0
    assert synthetic.data_dir is None
    assert uci.data_dir == UCI_DATA_DIR
    assert uci.users is None


def test_var_dir_file_rejected(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    file = tmp_path / "not-a-folder"
    file.write_text("x")

    assert main(["--var-dir", str(file), "data"]) == 2
    assert "--var-dir must name a folder" in caplog.text


@pytest.mark.parametrize("value", ["", "  "])
def test_blank_var_dir_named(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["--var-dir", value, "data"])

    assert raised.value.code == 2
    assert "--var-dir: expected a folder, got an empty value" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["", " "])
def test_blank_var_dir_variable_unset(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RECOMMENDER_VAR_DIR", value)

    assert default_var_dir() == tmp_path.resolve() / "var"


def test_serve_without_features_fails(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Without a model the service starts and serves popularity (degraded), but
    # without the feature views it has nothing to serve.
    assert main(["--var-dir", str(tmp_path), "serve", "--port", "8799"]) == 1
    assert "run `recommender features` first" in caplog.text


def test_serve_empty_registry_names_it(
    pipeline_var_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    var_dir = tmp_path / "var"
    shutil.copytree(pipeline_var_dir, var_dir)
    # The registry keeps its file, entities and project, and loses every
    # feature view, as a registry database recreated empty.
    feast_store = open_store(FEATURE_REPO, var_dir)
    views = feast_store.list_all_feature_views()
    for view in views:
        feast_store.registry.delete_feature_view(view.name, feast_store.project)
    registry = feast_store.config.registry.path

    serve = ["serve", "--port", str(_free_port())]
    assert main(["--var-dir", str(var_dir), *serve]) == 1

    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert views
    assert open_store(FEATURE_REPO, var_dir).list_all_feature_views() == []
    assert len(errors) == 1
    assert errors[0] == (
        f"the Feast registry {registry} has no feature views for project "
        f"{feast_store.project}, so feature view user_profile is not found; run "
        "`recommender features` first, with this profile"
    )


def test_serve_missing_view_blames_code(
    pipeline_var_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    var_dir = tmp_path / "var"
    shutil.copytree(pipeline_var_dir, var_dir)
    feast_store = open_store(FEATURE_REPO, var_dir)
    feast_store.registry.delete_feature_view("user_profile", feast_store.project)

    serve = ["serve", "--port", str(_free_port())]
    assert main(["--var-dir", str(var_dir), *serve]) == 1

    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1
    assert errors[0] == (
        "feature view user_profile not found in the Feast registry; run "
        "`recommender features` first. If it has run since, "
        "features/transforms.py computes a table user_profile that no feature "
        "view declares: declare one or remove the transform"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("damaged", "error"),
    [
        ("online_store.db", "DatabaseError: file is not a database"),
        ("registry.db", "DecodeError"),
        ("", "OperationalError: no such table"),
    ],
    ids=["online-store", "registry", "online-store-deleted"],
)
@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_damaged_feast_files_one_line(
    pipeline_var_dir: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    damaged: str,
    error: str,
    workers: str,
) -> None:
    var_dir = tmp_path / "var"
    shutil.copytree(pipeline_var_dir, var_dir)
    feast_dir = var_dir / "feast"
    if damaged:
        (feast_dir / damaged).write_bytes(bytes(range(256)) * 16)
    else:
        (feast_dir / "online_store.db").unlink()
    port = str(_free_port())

    serve = ["serve", "--port", port, "--workers", workers]
    assert main(["--var-dir", str(var_dir), *serve]) == 1

    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1
    assert "\n" not in errors[0]
    assert errors[0].startswith(
        "cannot read the features to serve from the embedded profile (registry "
        f"{feast_dir / 'registry.db'}, online store {feast_dir / 'online_store.db'}): "
    )
    assert error in errors[0]


def test_ingest_damaged_log_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = tmp_path / "feedback" / "events.sqlite3"
    log.parent.mkdir()
    log.write_bytes(bytes(range(256)) * 16)

    assert main(["--var-dir", str(tmp_path), "ingest-feedback"]) == 1

    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1
    assert str(log) in errors[0]
    assert "file is not a database" in errors[0]


def test_train_after_import_needs_features(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    var_dir = str(tmp_path / "var")
    folder = tmp_path / "new"
    folder.mkdir()
    (folder / "users.csv").write_text("user_id,city\nNEW1,Cuernavaca\n")
    assert main(["--var-dir", var_dir, "data"]) == 0
    assert main(["--var-dir", var_dir, "features"]) == 0
    assert main(["--var-dir", var_dir, "import", str(folder)]) == 0

    assert main(["--var-dir", var_dir, "train"]) == 1

    features = tmp_path / "var" / "features"
    assert caplog.records[-1].getMessage() == (
        f"the feature tables in {features} were computed from other data (users "
        "138 rows then, 139 now); run `recommender features` again"
    )
    assert not (tmp_path / "var" / "models").exists()


def test_train_after_changed_ratings_needs_features(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    var_dir = tmp_path / "var"
    assert main(["--var-dir", str(var_dir), "data"]) == 0
    assert main(["--var-dir", str(var_dir), "features"]) == 0
    with duckdb.connect(str(var_dir / "store.duckdb")) as db:
        orders = db.execute("SELECT count(*) FROM orders").fetchall()[0][0]
        db.execute("UPDATE orders SET rating = 2 - rating")

    assert main(["--var-dir", str(var_dir), "train"]) == 1

    assert caplog.records[-1].getMessage() == (
        f"the feature tables in {var_dir / 'features'} were computed from other "
        f"data (orders rows changed, {orders} as then); run `recommender "
        "features` again"
    )


def test_changed_feature_code_needs_features(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Editing a feature definition without running `features` again leaves
    the tables and the registry of the old code: train and evaluate reject
    them."""
    repo = tmp_path / "feature_repo"
    shutil.copytree(FEATURE_REPO, repo, ignore=shutil.ignore_patterns("__pycache__"))
    var_dir = str(tmp_path / "var")
    with_repo = ["--feature-repo", str(repo)]
    assert main(["--var-dir", var_dir, "data"]) == 0
    assert main(["--var-dir", var_dir, "features", *with_repo]) == 0
    with (repo / "definitions.py").open("a") as definitions:
        definitions.write("\n# An edit after the last `recommender features`.\n")

    assert main(["--var-dir", var_dir, "train", *with_repo]) == 1
    trained = caplog.records[-1].getMessage()
    assert main(["--var-dir", var_dir, "evaluate", "--splits", "1", *with_repo]) == 1
    evaluated = caplog.records[-1].getMessage()

    features = tmp_path / "var" / "features"
    expected = (
        f"the feature tables in {features} and the Feast registry were built "
        f"from other feature code ({repo} or the features package changed "
        "since); run `recommender features` again"
    )
    assert trained == expected
    assert evaluated == expected
    assert not (tmp_path / "var" / "models").exists()


def test_failed_features_keeps_last_tables(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A mistake in the definitions stops `features` before it replaces the
    last run's tables and manifest, so they stay usable."""
    repo = tmp_path / "feature_repo"
    shutil.copytree(FEATURE_REPO, repo, ignore=shutil.ignore_patterns("__pycache__"))
    var_dir = tmp_path / "var"
    with_repo = ["--feature-repo", str(repo)]
    assert main(["--var-dir", str(var_dir), "data"]) == 0
    assert main(["--var-dir", str(var_dir), "features", *with_repo]) == 0
    manifest = var_dir / "features" / "manifest.json"
    tables = {path.name: path.stat().st_mtime_ns for path in manifest.parent.iterdir()}
    definitions = repo / "definitions.py"
    text = definitions.read_text()
    declared = 'Field(name="user_diet_order_count", dtype=Int64)'
    assert declared in text
    definitions.write_text(text.replace(declared, declared.replace("Int64", "Float64")))

    assert main(["--var-dir", str(var_dir), "features", *with_repo]) == 1

    assert (
        caplog.records[-1]
        .getMessage()
        .startswith(
            "feature view user_diet declares user_diet_order_count as Float64, so "
            "its table column must be Float64, but it is Int64;"
        )
    )
    after = {path.name: path.stat().st_mtime_ns for path in manifest.parent.iterdir()}
    assert after == tables
    check_features_current(var_dir / "features", var_dir / "store.duckdb", FEATURE_REPO)


def test_train_checks_models_folder_first(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    var_dir = tmp_path / "var"
    assert main(["--var-dir", str(var_dir), "data"]) == 0
    assert main(["--var-dir", str(var_dir), "features"]) == 0
    models = var_dir / "models"
    models.write_text("not a folder\n")

    assert main(["--var-dir", str(var_dir), "train"]) == 1

    assert caplog.records[-1].getMessage() == (
        f"{models} is a file, so model versions cannot be written there; move "
        "or delete it"
    )
    # The check comes before training, not after the boosting rounds.
    assert "trained ranker" not in caplog.text


def test_train_in_copied_folder_needs_features(
    pipeline_var_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(pipeline_var_dir, copy)

    assert main(["--var-dir", str(copy), "train"]) == 1

    assert caplog.records[-1].getMessage() == (
        f"the Feast registry {copy / 'feast' / 'registry.db'} was written for the "
        f"online store {pipeline_var_dir / 'feast' / 'online_store.db'} of another "
        "folder, so its feature sources are that folder's; run `recommender "
        "features` in this folder first"
    )


def test_example_user_has_most_orders(pipeline_var_dir: Path, tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    world = ["--users", "300", "--restaurants", "60", "--days", "30"]
    command = ["--var-dir", str(var_dir), "data", "--source", "synthetic", *world]
    assert main(command) == 0
    with duckdb.connect(str(var_dir / "store.duckdb"), read_only=True) as db:
        counts = db.execute(
            "SELECT user_id, count(*) AS n FROM orders GROUP BY user_id"
        ).fetchall()
    max_orders = max(n for _, n in counts)
    heaviest = min(user for user, n in counts if n == max_orders)

    assert _example_user(VarPaths(pipeline_var_dir)) == "U1077"
    assert _example_user(VarPaths(var_dir)) == heaviest
    assert _example_user(VarPaths(tmp_path / "empty")) == "U1077"


def test_failed_import_leaves_no_var_folder(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    var_dir = tmp_path / "var"
    missing = tmp_path / "nowhere"

    assert main(["--var-dir", str(var_dir), "import", str(missing)]) == 1

    assert str(missing) in caplog.text
    assert not var_dir.exists()


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

    text = (tmp_path / "var" / "reports" / "report.json").read_text()
    report = json.loads(text, parse_constant=pytest.fail)
    assert report["summary"]["popularity"]["ndcg@10"]["std"] is None


def test_strict_audits_fail_not_measured(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The UCI data has no menus, so the vegetarian audits cannot be measured.
    var_dir = str(tmp_path / "var")
    assert main(["--var-dir", var_dir, "data"]) == 0
    assert main(["--var-dir", var_dir, "features"]) == 0
    evaluate = ["--var-dir", var_dir, "evaluate", "--splits", "1"]

    assert main([*evaluate, "--strict-audits"]) == EXIT_AUDITS

    report = json.loads((tmp_path / "var" / "reports" / "report.json").read_text())
    statuses = [audit["status"] for audit in report["analysis"]["audits"]]
    unmet = [status for status in statuses if status != "passed"]
    message = caplog.records[-1].getMessage()
    assert "not_measured" in statuses
    assert report["settings"]["audits_file"] == str(AUDITS_CONFIG.resolve())
    assert report["settings"]["segments_file"] == str(SEGMENTS_CONFIG.resolve())
    assert message.startswith(f"{len(unmet)} audits failed or not measured:\n")
    assert len(message.splitlines()) == 1 + len(unmet)


def test_evaluate_before_features_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    var_dir = str(tmp_path / "var")
    assert main(["--var-dir", var_dir, "data"]) == 0

    assert main(["--var-dir", var_dir, "evaluate", "--splits", "1"]) == 1
    assert "run `recommender features` first" in caplog.text


def test_evaluate_checks_windows_first(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # 30 days of orders: the latest weekly test window leaves 23 days before
    # it, and four weekly cutoffs with a week of labels need 28.
    var_dir = str(tmp_path / "var")
    world = ["--users", "300", "--restaurants", "60", "--days", "30"]
    assert main(["--var-dir", var_dir, "data", "--source", "synthetic", *world]) == 0

    # Features were never built, so the check runs before anything else.
    assert main(["--var-dir", var_dir, "evaluate", "--splits", "2"]) == 1
    assert "the test window from " in caplog.text
    assert "too few for the training cutoffs" in caplog.text
    assert "or lower --splits" in caplog.text


def test_evaluate_reports_file_rejected_first(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    reports = var_dir / "reports"
    reports.write_text("not a folder\n")

    # No store either, so the check runs before anything else.
    code = main(["--var-dir", str(var_dir), "evaluate", "--splits", "1"])

    assert code == 1
    assert (
        f"{reports}: is a file, so the reports cannot be written there; move or "
        "delete it"
    ) in caplog.text


def test_evaluate_read_only_reports_first(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    var_dir = tmp_path / "var"
    reports = var_dir / "reports"
    reports.mkdir(parents=True)
    real_open = os.open

    # File modes cannot make the folder read-only, because root writes
    # through them, so os.open fails as on a read-only file system.
    def fail_in_reports(path: str, *args: Any, **kwargs: Any) -> int:
        if Path(path).parent == reports:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", fail_in_reports)

    # No store either, so the check runs before anything else.
    code = main(["--var-dir", str(var_dir), "evaluate", "--splits", "1"])

    assert code == 1
    assert caplog.records[-1].getMessage() == (
        f"cannot write the reports in {reports}: Read-only file system; make "
        "the folder writable or set --var-dir or RECOMMENDER_VAR_DIR to a "
        "writable folder"
    )


@pytest.mark.usefixtures("local_tracking")
def test_evaluation_run_failed_when_report_unwritable(
    pipeline_var_dir: Path, tmp_path: Path
) -> None:
    var_dir = tmp_path / "var"
    shutil.copytree(pipeline_var_dir, var_dir)
    # A folder where report.json goes makes writing the report fail after
    # the run has started.
    (var_dir / "reports" / "report.json").unlink()
    (var_dir / "reports" / "report.json").mkdir()
    client = MlflowClient(tracking_uri(var_dir))
    before = {run.info.run_id for run in client.search_runs(["0", "1"])}

    with pytest.raises(IsADirectoryError):
        main(["--var-dir", str(var_dir), "evaluate", "--splits", "1"])

    runs = [
        run for run in client.search_runs(["0", "1"]) if run.info.run_id not in before
    ]
    assert [run.info.status for run in runs] == ["FAILED"]


@pytest.mark.parametrize(
    ("where", "error"),
    [
        (
            "user_avg_order_valu > 30",
            "column 'user_avg_order_valu' is not a user attribute",
        ),
        (
            "user_avg_order_value",
            "got 'user_avg_order_value', of type Float64, expected a boolean "
            "expression",
        ),
    ],
    ids=["unknown-column", "not-boolean"],
)
def test_evaluate_checks_segment_columns_first(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, where: str, error: str
) -> None:
    var_dir = str(tmp_path / "var")
    segments = tmp_path / "segments.yaml"
    segments.write_text(
        "segments:\n"
        "  - name: big_spenders\n"
        "    description: Users whose orders average over 30.\n"
        "    entity: user\n"
        f"    where: {where}\n"
    )
    audits = tmp_path / "audits.yaml"
    audits.write_text(
        "audits:\n"
        "  - name: overall_floor\n"
        "    failure_mode: The model ranks worse than a plain list.\n"
        "    metric: ndcg@10\n"
        "    segment: all\n"
        "    threshold: 0.1\n"
        "    direction: min\n"
        "    owner: ranking\n"
    )
    assert main(["--var-dir", var_dir, "data"]) == 0

    # Features were never built, so the check runs before anything else.
    files = ["--segments", str(segments), "--audits", str(audits)]
    code = main(["--var-dir", var_dir, "evaluate", *files])

    assert code == 1
    assert f"{segments}: segments[0] (big_spenders): field 'where': " in caplog.text
    assert error in caplog.text


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


@pytest.fixture
def real_report(pipeline_var_dir: Path) -> dict[str, Any]:
    """The report.json that `recommender run` wrote on the bundled UCI data."""
    report: dict[str, Any] = json.loads(
        (pipeline_var_dir / "reports" / "report.json").read_text()
    )
    return report


def write_report(path: Path, report: dict[str, Any]) -> Path:
    path.write_text(json.dumps(report))
    return path


def compare_output(
    before: Path, after: Path, capsys: pytest.CaptureFixture[str]
) -> list[str]:
    """Run `recommender compare`, check that it succeeds, and return its lines."""
    assert main(["compare", str(before), str(after)]) == 0
    return capsys.readouterr().out.splitlines()


MEAN_EXPECTED = "a finite number, or null for a metric that could not be measured"
STD_EXPECTED = (
    "a finite number of at least 0, or null for a single split or a metric "
    "that could not be measured"
)


def _replace(*keys: str | int, value: object) -> Callable[[dict[str, Any]], None]:
    """Return a change that sets the field at ``keys`` of a report to ``value``."""

    def change(report: dict[str, Any]) -> None:
        parent: Any = report
        for key in keys[:-1]:
            parent = parent[key]
        parent[keys[-1]] = value

    return change


def _drop_std(report: dict[str, Any]) -> None:
    del report["summary"]["popularity"]["ndcg@10"]["std"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            _replace("summary", "popularity", "ndcg@10", "mean", value="0.5"),
            f'summary.popularity.ndcg@10.mean: got "0.5", expected {MEAN_EXPECTED}',
        ),
        (
            _replace("summary", "popularity", "ndcg@10", "mean", value=math.nan),
            f"summary.popularity.ndcg@10.mean: got NaN, expected {MEAN_EXPECTED}",
        ),
        (
            _replace("summary", "popularity", "ndcg@10", "std", value=-0.1),
            f"summary.popularity.ndcg@10.std: got -0.1, expected {STD_EXPECTED}",
        ),
        (
            _drop_std,
            f"summary.popularity.ndcg@10.std: missing, expected {STD_EXPECTED}",
        ),
        (
            _replace("summary", value={}),
            "summary: got {}, expected a non-empty mapping from model name to "
            "that model's metrics",
        ),
        (
            _replace("ranker", "features", value="abc"),
            'ranker.features: got "abc", expected a list of feature names',
        ),
        (
            _replace("settings", "k", value=True),
            "settings.k: got true, expected a positive integer",
        ),
        (
            _replace("splits", 2, "test_from", value="2024-01-01T00:00:00+00:00"),
            'splits[2].test_from: got "2024-01-01T00:00:00+00:00", expected an '
            "ISO 8601 date-time for a temporal split, or null for a random split "
            "(split_kind is 'random')",
        ),
    ],
    ids=[
        "string mean",
        "nan mean",
        "negative std",
        "no std",
        "empty summary",
        "features string",
        "bool k",
        "window on random split",
    ],
)
def test_compare_rejects_malformed_report(
    change: Callable[[dict[str, Any]], None],
    message: str,
    real_report: dict[str, Any],
    pipeline_var_dir: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    change(real_report)
    malformed = write_report(tmp_path / "malformed.json", real_report)
    good = pipeline_var_dir / "reports" / "report.json"

    assert main(["compare", str(good), str(malformed)]) == 1

    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors == [f"{malformed}: {message}"]
    assert capsys.readouterr().out == ""


def test_compare_null_mean_not_measured(
    real_report: dict[str, Any],
    pipeline_var_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    measured = real_report["summary"]["popularity"]["ndcg@10"]["mean"]
    # evaluate writes null for a metric that no split could measure (nan).
    real_report["summary"]["popularity"]["ndcg@10"] = {"mean": None, "std": None}
    after = write_report(tmp_path / "after.json", real_report)

    lines = compare_output(pipeline_var_dir / "reports" / "report.json", after, capsys)

    assert f"| popularity | ndcg@10 | {measured:.4f} | n/a | n/a |" in lines
    assert not any(line.startswith("warning") for line in lines)


def test_compare_same_file_noted(
    pipeline_var_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = pipeline_var_dir / "reports" / "report.json"
    (tmp_path / "folder").mkdir()
    same = tmp_path / "folder" / ".." / "link.json"
    (tmp_path / "link.json").symlink_to(report)

    lines = compare_output(report, same, capsys)

    assert lines[-1] == (
        f"note: both arguments are the same file, {report.resolve()}, so every "
        "change is zero"
    )
    changes = [line.rsplit("|", 2)[1].strip() for line in lines if "@10 |" in line]
    assert changes
    assert set(changes) == {"+0.0000"}


def test_compare_tiny_difference_unsigned(
    real_report: dict[str, Any],
    pipeline_var_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = write_report(tmp_path / "before.json", real_report)
    for metrics in real_report["summary"].values():
        for value in metrics.values():
            value["mean"] = math.nextafter(value["mean"], 0.0)
    after = write_report(tmp_path / "after.json", real_report)

    lines = compare_output(before, after, capsys)

    changes = [line.rsplit("|", 2)[1].strip() for line in lines if "@10 |" in line]
    assert changes
    assert set(changes) == {"+0.0000"}
    assert not any(line.startswith("note") for line in lines)


def _rename_metrics(report: dict[str, Any], k: int) -> None:
    report["settings"]["k"] = k
    report["summary"] = {
        model: {name.replace("@10", f"@{k}"): value for name, value in metrics.items()}
        for model, metrics in report["summary"].items()
    }


@pytest.mark.parametrize(
    ("change", "warning"),
    [
        (
            _replace("relevance", value="orders rated at least 2"),
            "warning: the reports count different orders as relevant: any order "
            "before, orders rated at least 2 after, so their metrics are not "
            "comparable",
        ),
        (
            lambda report: _rename_metrics(report, 5),
            "warning: the reports measured lists of different lengths: k=10 "
            "before, k=5 after, so their metrics are not comparable",
        ),
        (
            _replace("settings", "test_fraction", value=0.3),
            "warning: the reports held out different orders: test_fraction 0.2 "
            "with seeds 0 to 4 before, test_fraction 0.3 with seeds 0 to 4 after",
        ),
        (
            _replace("settings", "seed", value=3),
            "warning: the reports held out different orders: test_fraction 0.2 "
            "with seeds 0 to 4 before, test_fraction 0.2 with seeds 3 to 7 after",
        ),
    ],
    ids=["relevance", "k", "test fraction", "seed"],
)
def test_compare_warns_other_setting(
    change: Callable[[dict[str, Any]], None],
    warning: str,
    real_report: dict[str, Any],
    pipeline_var_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    change(real_report)
    after = write_report(tmp_path / "after.json", real_report)

    lines = compare_output(pipeline_var_dir / "reports" / "report.json", after, capsys)

    assert [line for line in lines if line.startswith("warning")] == [warning]


def test_compare_other_k_lists_metrics(
    real_report: dict[str, Any],
    pipeline_var_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _rename_metrics(real_report, 5)
    after = write_report(tmp_path / "after.json", real_report)

    lines = compare_output(pipeline_var_dir / "reports" / "report.json", after, capsys)

    assert not any(line.startswith("| lightgbm_ranker |") for line in lines)
    assert (
        "metrics left out: only before: ndcg@10, recall@10; only after: ndcg@5, "
        "recall@5"
    ) in lines


@pytest.fixture
def local_tracking(monkeypatch: pytest.MonkeyPatch) -> None:
    """Track in the var folder and fail fast on a server that does not respond."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")


def evaluation_report(ndcg: float) -> dict[str, Any]:
    """A one-split report whose ranker NDCG@10 is ``ndcg``."""
    return {
        "settings": {"n_splits": 1, "test_fraction": 0.2, "seed": 0, "k": 10},
        "data_fingerprint": "f" * 64,
        "ranker": {
            "feature_service": "ranker_v2",
            "params": {"objective": "lambdarank"},
            "num_boost_round": 5,
            "cutoffs": {"label_folds": 5},
        },
        "splits": [{"seed": 0, "models": {"lightgbm_ranker": {"ndcg@10": ndcg}}}],
        "summary": {"lightgbm_ranker": {"ndcg@10": {"mean": ndcg, "std": None}}},
    }


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A var folder with two evaluation runs, NDCG@10 0.4 then 0.5."""
    var_dir = tmp_path_factory.mktemp("runs")
    uri = tracking_uri(var_dir)
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
        run_ids = []
        for ndcg in (0.4, 0.5):
            run_id = start_run(uri, EVALUATE, "evaluate ranker_v2")
            log_evaluation(uri, run_id, evaluation_report(ndcg), [])
            run_ids.append(run_id)
    return var_dir, run_ids[0], run_ids[1]


@pytest.mark.usefixtures("local_tracking")
def test_runs_compare_prints_change(
    two_runs: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    var_dir, first, second = two_runs

    code = main(["--var-dir", str(var_dir), "runs", "compare", first, second])

    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert "| lightgbm_ranker.ndcg_at_10.mean | 0.4000 | 0.5000 | +0.1000 |" in lines


@pytest.mark.usefixtures("local_tracking")
def test_runs_list_latest_first(
    two_runs: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    var_dir, first, second = two_runs

    code = main(["--var-dir", str(var_dir), "runs", "list"])

    rows = [
        line for line in capsys.readouterr().out.splitlines() if line.count("|") > 2
    ]
    assert code == 0
    assert rows[2].startswith(f"| {second} | evaluate |")
    # The fixture's reports have no audit results.
    assert rows[2].endswith(
        "| ranker_v2 | lightgbm_ranker.ndcg_at_10.mean = 0.5000 |  |"
    )
    assert rows[3].startswith(f"| {first} | evaluate |")
    assert len(rows) == 4


@pytest.mark.usefixtures("local_tracking")
def test_runs_compare_unknown_run(
    two_runs: tuple[Path, str, str], caplog: pytest.LogCaptureFixture
) -> None:
    var_dir, first, _ = two_runs

    code = main(["--var-dir", str(var_dir), "runs", "compare", first, "feedbeef"])

    assert code == 1
    assert "run 'feedbeef' not found" in caplog.text


@pytest.mark.usefixtures("local_tracking")
def test_runs_list_empty_var_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--var-dir", str(tmp_path), "runs", "list"]) == 0
    output = capsys.readouterr().out
    assert "no runs in the experiment 'restaurant-recommender' of sqlite:///" in (
        output
    )
    assert "set MLFLOW_EXPERIMENT_NAME to read another" in output
    assert not (tmp_path / "mlruns").exists()


@pytest.mark.usefixtures("local_tracking")
def test_runs_list_unreachable_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", UNREACHABLE)

    assert main(["--var-dir", str(tmp_path), "runs", "list"]) == 1
    assert f"MLflow tracking at {UNREACHABLE} failed to list the runs" in caplog.text


@pytest.mark.slow
@pytest.mark.usefixtures("local_tracking")
def test_pipeline_records_runs(pipeline_var_dir: Path) -> None:
    report = json.loads((pipeline_var_dir / "reports" / "report.json").read_text())
    current = (pipeline_var_dir / "models" / "current").read_text().strip()

    runs = list_runs(tracking_uri(pipeline_var_dir))

    assert [run.kind for run in runs] == ["evaluate", "train"]
    assert runs[0].run_id == report["mlflow_run_id"]
    train_run = MlflowClient(tracking_uri(pipeline_var_dir)).get_run(runs[1].run_id)
    assert train_run.data.tags["model_version"] == current


@pytest.mark.slow
@pytest.mark.usefixtures("local_tracking")
def test_train_unreachable_server_registers(
    pipeline_var_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    var_dir = tmp_path / "var"
    shutil.copytree(pipeline_var_dir, var_dir, ignore=shutil.ignore_patterns("mlruns"))
    # A copied folder trains on its own feature sources once features ran in it.
    assert main(["--var-dir", str(var_dir), "features"]) == 0
    before = (var_dir / "models" / "current").read_text().strip()
    # Few rounds and negatives keep the training short.
    config = yaml.safe_load(RANKER_CONFIG.read_text())
    config.update(num_boost_round=5, early_stopping_rounds=None, negatives_per_group=10)
    config_path = tmp_path / "ranker.yaml"
    config_path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", UNREACHABLE)

    code = main(["--var-dir", str(var_dir), "train", "--config", str(config_path)])

    current = (var_dir / "models" / "current").read_text().strip()
    assert code == 0
    assert current != before
    assert (var_dir / "models" / current / "model.txt").is_file()
    assert f"MLflow tracking at {UNREACHABLE} failed" in caplog.text
    assert f"model {current} is registered and current" in caplog.text
    assert "MLflow run" not in capsys.readouterr().out


def test_interrupted_features_one_line(pipeline_var_dir: Path, tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    shutil.copytree(pipeline_var_dir, var_dir)
    command = [sys.executable, "-m", "service.cli", "--var-dir", str(var_dir)]
    process = subprocess.Popen(
        [*command, "features"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Interrupt once the first table is written, inside the stage.
    assert process.stderr is not None
    seen = []
    for line in process.stderr:
        seen.append(line)
        if " wrote " in line:
            break
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=60)
    stderr = "".join(seen) + rest

    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().endswith("interrupted; run `recommender features` again")


def test_library_warnings_hidden() -> None:
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        hide_library_warnings()
        hide_library_warnings()
        warnings.warn(
            "The ``noload`` loader strategy is deprecated and will be removed",
            DeprecationWarning,
            stacklevel=1,
        )
        warnings.warn(
            "On demand feature view is an experimental feature.",
            RuntimeWarning,
            stacklevel=1,
        )
        warnings.warn("a warning of our own", UserWarning, stacklevel=1)

    assert [str(warning.message) for warning in shown] == ["a warning of our own"]
