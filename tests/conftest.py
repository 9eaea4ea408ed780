"""Fixtures shared by the whole-pipeline and API tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.cli import main


@pytest.fixture(scope="session")
def pipeline_var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A var folder after `recommender run --no-serve` on the bundled UCI data.

    Runs the real command once per test session: import into DuckDB, feature
    tables, feast apply and materialize, training, and the 5-split evaluation.
    """
    var_dir = tmp_path_factory.mktemp("var")
    exit_code = main(["--var-dir", str(var_dir), "run", "--no-serve"])
    assert exit_code == 0
    return var_dir
