"""Every benchmark writes under the var folder that RECOMMENDER_VAR_DIR names."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

# Each script and the folders its defaults name, relative to the var folder.
DEFAULT_FOLDERS = {
    "evaluate_bench": {"var_dir": "bench/evaluate_world", "out_dir": "bench/evaluate"},
    "load_bench": {"var_dir": "bench/load_world", "out_dir": "bench"},
    "materialize_bench": {"out_dir": "bench"},
    "quality_bench": {"var_dir": "."},
    "store_bench": {"out_dir": "bench"},
    "train_bench": {"var_dir": "bench/train_world", "out_dir": "bench"},
    "vegetarian_eval": {"out_dir": "bench"},
    "world_ceiling": {"out_dir": "bench"},
}


@pytest.mark.parametrize("script", sorted(DEFAULT_FOLDERS))
def test_default_folders_follow_the_var_folder(
    script: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    var_dir = tmp_path / "elsewhere"
    monkeypatch.setenv("RECOMMENDER_VAR_DIR", str(var_dir))

    args = importlib.import_module(script)._parser().parse_args([])

    for option, folder in DEFAULT_FOLDERS[script].items():
        assert Path(getattr(args, option)).resolve() == (var_dir / folder).resolve()
