"""Paths of the project's inputs and of the folder for generated files."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

# The checkout the packages were installed from (the install is editable).
PROJECT_DIR = Path(__file__).resolve().parent.parent
FEATURE_REPO = PROJECT_DIR / "feature_repo"
UCI_DATA_DIR = PROJECT_DIR / "data" / "uci"
RANKER_CONFIG = PROJECT_DIR / "configs" / "ranker.yaml"
SEGMENTS_CONFIG = PROJECT_DIR / "configs" / "segments.yaml"
AUDITS_CONFIG = PROJECT_DIR / "configs" / "audits.yaml"

VAR_DIR_ENV = "RECOMMENDER_VAR_DIR"

# The Feast profile picks the repository's configuration file. The "embedded"
# profile keeps everything under the var folder, and "production" uses Redis
# and PostgreSQL.
FEAST_PROFILE_ENV = "RECOMMENDER_FEAST_PROFILE"
EMBEDDED = "embedded"
PRODUCTION = "production"
FEAST_PROFILES = (EMBEDDED, PRODUCTION)


def default_var_dir() -> Path:
    """Return ``$RECOMMENDER_VAR_DIR`` if set, else ``var/`` in the working
    directory.

    A blank value counts as unset, as ``VAR_DIR`` does in the Makefile: it
    would put the store and the ``features/`` tables in the working
    directory, a checkout's ``features/`` package included.
    """
    value = os.environ.get(VAR_DIR_ENV, "")
    return Path(value if value.strip() else "var").resolve()


def default_feast_profile() -> str:
    """Return ``$RECOMMENDER_FEAST_PROFILE`` if set, else ``embedded``.

    The value is not validated here. :func:`feast_yaml` and the service settings
    reject an unknown profile."""
    return os.environ.get(FEAST_PROFILE_ENV, EMBEDDED)


def feast_yaml(repo_path: Path, profile: str) -> Path:
    """Return the Feast configuration file of ``profile`` in the repository."""
    if profile == EMBEDDED:
        return repo_path / "feature_store.yaml"
    if profile == PRODUCTION:
        return repo_path / "profiles" / "production.yaml"
    msg = (
        f"invalid Feast profile {profile!r} (from --feast-profile or "
        f"{FEAST_PROFILE_ENV}); expected one of {', '.join(FEAST_PROFILES)}"
    )
    raise ValueError(msg)


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


def folder_write_error(folder: Path, target: str, error: OSError) -> ValueError:
    """Return the one-line error for a write of ``target`` to a folder of the
    var folder that failed."""
    reason = error.strerror or str(error)
    return ValueError(
        f"cannot write {target} in {folder}: {reason}; make the folder "
        f"writable or set --var-dir or {VAR_DIR_ENV} to a writable folder"
    )


def check_folder_writable(folder: Path, target: str) -> None:
    """Create ``folder`` if needed and raise :func:`folder_write_error` when no file
    can be created in it, such as on a read-only file system. Commands check
    this before minutes of work whose result goes there."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".write-check.", dir=folder)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise folder_write_error(folder, target, error) from error
