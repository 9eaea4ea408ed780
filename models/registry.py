"""Model registry on disk: one folder per version and a ``current`` alias.

Layout under the models folder::

    <version>/model.txt       LightGBM booster in its text format
    <version>/metadata.json   how the model was made (see ModelMetadata)
    current                   a text file naming the version the service loads

A version folder is written under a temporary name and renamed when complete,
and ``current`` is replaced by rename, so a reader never sees half a model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_type_hints

import lightgbm as lgb
from pydantic import TypeAdapter, ValidationError

from features.paths import check_folder_writable, folder_write_error
from models.guardrail import read_guardrail
from models.ranker import LightGBMRanker

MODEL_FILE = "model.txt"
METADATA_FILE = "metadata.json"
CURRENT_ALIAS = "current"


@dataclass
class ModelMetadata:
    """Provenance of a trained model: inputs, settings, data and code version."""

    version: str
    created_at: str
    feature_service: str
    features: list[str]
    params: dict[str, Any]
    num_boost_round: int
    training: dict[str, Any]
    data_fingerprint: str
    git_commit: str | None
    git_dirty: bool | None
    metrics: dict[str, float] = field(default_factory=dict)
    # SHA-256 of model.txt, checked on load: LightGBM can crash the process on
    # a damaged model file instead of raising.
    model_sha256: str | None = None
    # Thresholds of the diet guardrail the model applies after scoring; None
    # when it applies none (models without the diet features).
    diet_guardrail: dict[str, Any] | None = None


# The declared type of each metadata field, to check the values read from JSON.
_FIELD_TYPES = {
    name: TypeAdapter(hint) for name, hint in get_type_hints(ModelMetadata).items()
}


class ModelNotFoundError(FileNotFoundError):
    """No model is registered, or the named version is missing."""


def new_version(now: datetime | None = None) -> str:
    """A sortable version name, UTC to the microsecond: ``20261204T153000123456Z``."""
    stamp = now or datetime.now(UTC)
    return stamp.strftime("%Y%m%dT%H%M%S%fZ")


def save_model(
    models_dir: Path, ranker: LightGBMRanker, metadata: ModelMetadata
) -> Path:
    """Write a model version and point ``current`` at it. Returns its folder."""
    final = models_dir / metadata.version
    if final.exists():
        msg = f"model version {metadata.version} already exists in {models_dir}"
        raise FileExistsError(msg)

    partial = models_dir / f".{metadata.version}.partial"
    # A partial folder is left only by a save that crashed; it is never read.
    shutil.rmtree(partial, ignore_errors=True)
    try:
        partial.mkdir(parents=True)
        ranker.booster.save_model(str(partial / MODEL_FILE))
        metadata.model_sha256 = _sha256(partial / MODEL_FILE)
        (partial / METADATA_FILE).write_text(json.dumps(asdict(metadata), indent=2))
        partial.rename(final)
    except OSError as error:
        shutil.rmtree(partial, ignore_errors=True)
        target = f"model version {metadata.version}"
        raise folder_write_error(models_dir, target, error) from error
    _point_current(models_dir, metadata.version)
    return final


def check_writable(models_dir: Path) -> None:
    """Raise ValueError when no file can be created in ``models_dir``, such as
    on a read-only file system. Training checks this before it starts."""
    if models_dir.exists() and not models_dir.is_dir():
        msg = (
            f"{models_dir} is a file, so model versions cannot be written "
            "there; move or delete it"
        )
        raise ValueError(msg)
    check_folder_writable(models_dir, "a model version")


def set_current(models_dir: Path, version: str) -> None:
    """Point the ``current`` alias at ``version`` once it loads as the service
    would load it.

    Raises:
        ModelNotFoundError: the version is not in ``models_dir``.
        ValueError: ``version`` is not the name of a folder, such as a path
            or a name with a trailing ``/``, or its files are damaged or its
            metadata is invalid; the alias is left as it was.
    """
    if not version or version in (".", "..") or Path(version).name != version:
        msg = (
            f"invalid model version {version!r}: expected the name of a folder "
            f"in {models_dir}, such as {new_version()}; `ls {models_dir}` "
            "lists them"
        )
        raise ValueError(msg)
    load_version(models_dir, version)
    _point_current(models_dir, version)


def check_alias(models_dir: Path) -> None:
    """Raise ValueError when ``current`` exists but is not a file, which no
    write of the alias could replace; training checks this before it starts."""
    alias = models_dir / CURRENT_ALIAS
    if (alias.exists() or alias.is_symlink()) and (
        alias.is_symlink() or not alias.is_file()
    ):
        msg = (
            f"{alias} is not a file naming a model version; remove it, then run "
            "`recommender promote VERSION` or train again"
        )
        raise ValueError(msg)


def _point_current(models_dir: Path, version: str) -> None:
    check_alias(models_dir)
    # A name of its own per writer, so that two trainings or promotions at
    # once each replace the alias whole: the last one to finish wins.
    # os.open rather than mkstemp: mkstemp creates the file readable by its
    # owner only, and a service that runs as another user must read the
    # alias as it reads the model files, which follow the umask.
    partial = models_dir / f".{CURRENT_ALIAS}.{uuid.uuid4().hex}.partial"
    try:
        handle = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as error:
        raise folder_write_error(
            models_dir, f"the {CURRENT_ALIAS} alias", error
        ) from error
    try:
        with os.fdopen(handle, "w") as file:
            file.write(version + "\n")
        os.replace(partial, models_dir / CURRENT_ALIAS)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise folder_write_error(
            models_dir, f"the {CURRENT_ALIAS} alias", error
        ) from error
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def load_current(models_dir: Path) -> tuple[LightGBMRanker, ModelMetadata]:
    """Load the model that ``current`` names.

    Raises:
        ModelNotFoundError: no model has been trained yet.
    """
    alias = models_dir / CURRENT_ALIAS
    if not (alias.exists() or alias.is_symlink()):
        msg = f"no current model in {models_dir}; run `recommender train` first"
        raise ModelNotFoundError(msg)
    check_alias(models_dir)
    content = alias.read_bytes().strip()
    try:
        version = content.decode()
    except UnicodeDecodeError:
        version = ""
    if not version or version in (".", "..") or Path(version).name != version:
        # Bytes that are not UTF-8 are shown as bytes.
        quoted = repr(version) if version or not content else repr(content)
        msg = (
            f"{alias} names no model version (it contains {quoted}, expected "
            "the name of a folder in the models folder); promote a version "
            "with `recommender promote` or train again"
        )
        raise ModelNotFoundError(msg)
    if not (models_dir / version).is_dir():
        msg = (
            f"{alias} names model version {version!r}, which is not in "
            f"{models_dir}; promote a version with `recommender promote` or "
            "train again"
        )
        raise ModelNotFoundError(msg)
    return load_version(models_dir, version)


# LightGBM writes its parameters last, so a file cut short lacks this line.
# LightGBM 4 aborts the process on some truncated files instead of raising.
_MODEL_FILE_END = b"\nend of parameters\n"
# Bytes read from the end of a model file: the parameters take about 5 KB.
_MODEL_TAIL_BYTES = 1 << 16


def _check_complete(path: Path) -> None:
    """Raise ValueError for a model file without LightGBM's closing section."""
    with path.open("rb") as handle:
        handle.seek(max(path.stat().st_size - _MODEL_TAIL_BYTES, 0))
        tail = handle.read()
    if _MODEL_FILE_END not in tail:
        msg = (
            f"{path}: incomplete LightGBM model file: it lacks the closing "
            "'end of parameters' section, so it was cut short; retrain with "
            "`recommender train`"
        )
        raise ValueError(msg)


def load_version(
    models_dir: Path, version: str
) -> tuple[LightGBMRanker, ModelMetadata]:
    """Load one model version."""
    folder = models_dir / version
    if not folder.is_dir():
        msg = (
            f"model version {version!r} not found in {models_dir}; "
            f"`ls {models_dir}` lists the versions"
        )
        raise ModelNotFoundError(msg)
    if not (folder / MODEL_FILE).is_file():
        msg = (
            f"model version {version} has no {MODEL_FILE} in {folder}; promote "
            "another version with `recommender promote` or train again"
        )
        raise ModelNotFoundError(msg)

    try:
        fields = json.loads((folder / METADATA_FILE).read_text())
    except (OSError, ValueError) as error:
        msg = f"invalid model metadata {folder / METADATA_FILE}: {error}"
        raise ValueError(msg) from error
    if not isinstance(fields, dict):
        msg = (
            f"invalid model metadata {folder / METADATA_FILE}: expected a JSON "
            f"object of the metadata fields, got {type(fields).__name__}"
        )
        raise ValueError(msg)
    try:
        metadata = ModelMetadata(**fields)
    except TypeError as error:
        msg = f"invalid model metadata {folder / METADATA_FILE}: {error}"
        raise ValueError(msg) from error
    _check_field_types(metadata, folder / METADATA_FILE)
    if metadata.version != version:
        msg = (
            f"invalid model metadata {folder / METADATA_FILE}: version "
            f"{metadata.version!r} does not match its folder {version!r}"
        )
        raise ValueError(msg)
    if metadata.model_sha256 is None:
        msg = (
            f"invalid model metadata {folder / METADATA_FILE}: it has no "
            f"model_sha256, so {MODEL_FILE} cannot be checked; retrain with "
            "`recommender train`"
        )
        raise ValueError(msg)
    if metadata.model_sha256 != _sha256(folder / MODEL_FILE):
        msg = (
            f"{folder / MODEL_FILE} does not match the checksum in its metadata; "
            "the file is damaged, retrain with `recommender train`"
        )
        raise ValueError(msg)
    _check_complete(folder / MODEL_FILE)
    try:
        booster = lgb.Booster(model_file=str(folder / MODEL_FILE))
    except lgb.basic.LightGBMError as error:
        msg = f"{folder / MODEL_FILE}: invalid LightGBM model file: {error}"
        raise ValueError(msg) from error
    # A multiclass model scores each row once per class, and the service
    # ranks by one score per restaurant.
    if booster.num_model_per_iteration() != 1:
        msg = (
            f"{folder / MODEL_FILE}: the model gives "
            f"{booster.num_model_per_iteration()} scores per row (objective "
            f"{booster.params.get('objective')!r}), expected one per row as a "
            "ranker gives; train it with `recommender train`"
        )
        raise ValueError(msg)
    if booster.num_feature() != len(metadata.features):
        msg = (
            f"invalid model metadata {folder / METADATA_FILE}: it lists "
            f"{len(metadata.features)} features, the model in {MODEL_FILE} "
            f"reads {booster.num_feature()}"
        )
        raise ValueError(msg)
    # The service builds its input matrix in the metadata's order, so a
    # reordered list would feed each tree the wrong column.
    for position, (listed, read) in enumerate(
        zip(metadata.features, booster.feature_name(), strict=True)
    ):
        if listed != read:
            msg = (
                f"invalid model metadata {folder / METADATA_FILE}: feature "
                f"{position} is {listed!r}, the model in {MODEL_FILE} reads "
                f"{read!r} there"
            )
            raise ValueError(msg)
    guardrail = read_guardrail(metadata.diet_guardrail, str(folder / METADATA_FILE))
    return LightGBMRanker(booster, tuple(metadata.features), None, guardrail), metadata


class MetadataTypeError(ValueError):
    """A field of a model's metadata file has a value of the wrong type."""


def _check_field_types(metadata: ModelMetadata, path: Path) -> None:
    """Raise MetadataTypeError naming each field whose value does not have its
    declared type: the dataclass takes fields of any type from the JSON file."""
    problems = []
    for name, field_type in _FIELD_TYPES.items():
        try:
            field_type.validate_python(getattr(metadata, name), strict=True)
        except ValidationError as error:
            problems.append(f"{name}: {error.errors()[0]['msg']}")
    if problems:
        msg = f"invalid model metadata {path}: " + "; ".join(problems)
        raise MetadataTypeError(msg)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def git_state(repo_dir: Path) -> tuple[str | None, bool | None]:
    """Return the commit checked out in ``repo_dir`` and whether the tree has
    changes, or (None, None) outside a git checkout."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=repo_dir,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo_dir,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None, None
    return commit, bool(status.strip())
