"""Where the project's inputs live and where generated files go."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# The checkout the packages were installed from (the install is editable).
PROJECT_DIR = Path(__file__).resolve().parent.parent
FEATURE_REPO = PROJECT_DIR / "feature_repo"
UCI_DATA_DIR = PROJECT_DIR / "data" / "uci"
RANKER_CONFIG = PROJECT_DIR / "configs" / "ranker.yaml"

VAR_DIR_ENV = "RECOMMENDER_VAR_DIR"


def default_var_dir() -> Path:
    """``$RECOMMENDER_VAR_DIR`` if set, else ``var/`` in the working directory."""
    return Path(os.environ.get(VAR_DIR_ENV, "var")).resolve()


@dataclass(frozen=True)
class VarPaths:
    """Generated files under one folder, git-ignored."""

    root: Path

    @property
    def store(self) -> Path:
        return self.root / "store.duckdb"

    @property
    def features(self) -> Path:
        return self.root / "features"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def reports(self) -> Path:
        return self.root / "reports"
