"""Tests of the on-disk model registry with a real, small LightGBM booster."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path

import lightgbm as lgb
import numpy as np
import polars as pl
import pytest

from models.guardrail import DietGuardrail
from models.ranker import LightGBMRanker
from models.registry import (
    CURRENT_ALIAS,
    METADATA_FILE,
    MODEL_FILE,
    ModelMetadata,
    ModelNotFoundError,
    check_alias,
    check_writable,
    load_current,
    load_version,
    new_version,
    save_model,
    set_current,
)

FEATURES = ("signal", "noise_a", "noise_b")
GROUP_SIZE = 10
N_GROUPS = 8
PARAMS = {
    "objective": "lambdarank",
    "min_data_in_leaf": 5,
    "num_leaves": 7,
    "learning_rate": 0.1,
    "num_threads": 1,
    "deterministic": True,
    "force_row_wise": True,
    "seed": 3,
    "verbosity": -1,
}


def random_rows(seed: int, n_rows: int) -> pl.DataFrame:
    generator = np.random.default_rng(seed)
    return pl.DataFrame(
        {name: generator.normal(size=n_rows) for name in FEATURES},
    )


@pytest.fixture(scope="module")
def ranker() -> LightGBMRanker:
    """A lambdarank booster trained on random groups labelled by ``signal``."""
    rows = random_rows(seed=1, n_rows=GROUP_SIZE * N_GROUPS)
    # The two rows with the highest signal in each group are the positives.
    signal = rows["signal"].to_numpy().reshape(N_GROUPS, GROUP_SIZE)
    ranks = signal.argsort(axis=1).argsort(axis=1)
    labels = (ranks >= GROUP_SIZE - 2).astype(int).ravel()
    dataset = lgb.Dataset(
        rows.to_numpy(),
        label=labels,
        group=[GROUP_SIZE] * N_GROUPS,
        feature_name=list(FEATURES),
    )
    booster = lgb.train(PARAMS, dataset, num_boost_round=10)
    return LightGBMRanker(booster, FEATURES)


def make_metadata(version: str) -> ModelMetadata:
    return ModelMetadata(
        version=version,
        created_at="2024-06-01T12:00:00+00:00",
        feature_service="ranker_test",
        features=list(FEATURES),
        params=PARAMS,
        num_boost_round=10,
        training={"rows": GROUP_SIZE * N_GROUPS, "groups": N_GROUPS},
        data_fingerprint="0" * 64,
        git_commit=None,
        git_dirty=None,
        metrics={"ndcg_at_10": 0.5},
    )


def test_save_model_writes_files(tmp_path: Path, ranker: LightGBMRanker) -> None:
    folder = save_model(tmp_path, ranker, make_metadata("v1"))

    assert folder == tmp_path / "v1"
    assert (folder / MODEL_FILE).is_file()
    assert (folder / METADATA_FILE).is_file()


def test_save_model_metadata_json(tmp_path: Path, ranker: LightGBMRanker) -> None:
    metadata = make_metadata("v1")

    folder = save_model(tmp_path, ranker, metadata)
    written = json.loads((folder / METADATA_FILE).read_text())

    assert written == asdict(metadata)


def test_save_model_sets_current(tmp_path: Path, ranker: LightGBMRanker) -> None:
    save_model(tmp_path, ranker, make_metadata("v1"))

    assert (tmp_path / CURRENT_ALIAS).read_text().strip() == "v1"


def test_save_model_leaves_no_partial(tmp_path: Path, ranker: LightGBMRanker) -> None:
    save_model(tmp_path, ranker, make_metadata("v1"))

    assert sorted(path.name for path in tmp_path.iterdir()) == [CURRENT_ALIAS, "v1"]


def test_save_model_creates_folder(tmp_path: Path, ranker: LightGBMRanker) -> None:
    models_dir = tmp_path / "var" / "models"

    save_model(models_dir, ranker, make_metadata("v1"))

    assert (models_dir / "v1" / MODEL_FILE).is_file()


def test_load_current_same_predictions(tmp_path: Path, ranker: LightGBMRanker) -> None:
    rows = random_rows(seed=2, n_rows=50)
    expected = ranker.score(rows)
    save_model(tmp_path, ranker, make_metadata("v1"))

    loaded, _ = load_current(tmp_path)
    scores = loaded.score(rows)

    # A constant model would pass this check trivially, so the scores must vary.
    assert np.ptp(expected) > 0
    np.testing.assert_allclose(scores, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("content", ["", "\n", "..", "../v1", "v1/sub"])
def test_load_current_alias_names_no_version(
    tmp_path: Path, ranker: LightGBMRanker, content: str
) -> None:
    save_model(tmp_path, ranker, make_metadata("v1"))
    alias = tmp_path / CURRENT_ALIAS
    alias.write_text(content)

    with pytest.raises(ModelNotFoundError) as raised:
        load_current(tmp_path)

    assert str(raised.value).startswith(
        f"{alias} names no model version (it contains {content.strip()!r}, "
    )


def test_load_current_metadata(tmp_path: Path, ranker: LightGBMRanker) -> None:
    metadata = make_metadata("v1")
    save_model(tmp_path, ranker, metadata)

    loaded, loaded_metadata = load_current(tmp_path)

    assert loaded_metadata == metadata
    assert loaded.features == FEATURES


def test_load_current_latest_save(tmp_path: Path, ranker: LightGBMRanker) -> None:
    save_model(tmp_path, ranker, make_metadata("v1"))
    second = replace(make_metadata("v2"), feature_service="ranker_second")
    save_model(tmp_path, ranker, second)

    _, metadata = load_current(tmp_path)

    assert metadata.version == "v2"
    assert metadata.feature_service == "ranker_second"


def test_set_current_back_to_older(tmp_path: Path, ranker: LightGBMRanker) -> None:
    save_model(tmp_path, ranker, make_metadata("v1"))
    save_model(tmp_path, ranker, make_metadata("v2"))

    set_current(tmp_path, "v1")

    assert load_current(tmp_path)[1].version == "v1"


def test_set_current_missing_version(tmp_path: Path, ranker: LightGBMRanker) -> None:
    save_model(tmp_path, ranker, make_metadata("v1"))

    with pytest.raises(ModelNotFoundError, match="v9"):
        set_current(tmp_path, "v9")
    assert (tmp_path / CURRENT_ALIAS).read_text().strip() == "v1"


@pytest.mark.parametrize(
    "version", ["", ".", "..", "v1/", "../models/v1", "/tmp"], ids=repr
)
def test_set_current_rejects_path(
    tmp_path: Path, ranker: LightGBMRanker, version: str
) -> None:
    models_dir = tmp_path / "models"
    save_model(models_dir, ranker, make_metadata("v1"))
    save_model(models_dir, ranker, make_metadata("v2"))

    with pytest.raises(ValueError) as raised:
        set_current(models_dir, version)

    assert str(raised.value).startswith(
        f"invalid model version {version!r}: expected the name of a folder in "
        f"{models_dir}, such as "
    )
    assert (models_dir / CURRENT_ALIAS).read_text().strip() == "v2"


def _damage_metadata(folder: Path, **changes: object) -> None:
    metadata = json.loads((folder / METADATA_FILE).read_text())
    metadata.update(changes)
    (folder / METADATA_FILE).write_text(json.dumps(metadata))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda folder: (folder / METADATA_FILE).unlink(), "invalid model metadata"),
        (lambda folder: (folder / METADATA_FILE).write_text("{"), "invalid model"),
        (
            lambda folder: (folder / MODEL_FILE).write_text("garbage"),
            "does not match the checksum",
        ),
        (
            lambda folder: _damage_metadata(folder, features=list(FEATURES)[:-1]),
            "lists 2 features, the model in model.txt reads 3",
        ),
        (
            lambda folder: _damage_metadata(folder, version="other"),
            "version 'other' does not match its folder 'v2'",
        ),
        (
            lambda folder: _damage_metadata(
                folder, features=["noise_a", "signal", "noise_b"]
            ),
            "feature 0 is 'noise_a', the model in model.txt reads 'signal' there",
        ),
    ],
    ids=[
        "no-metadata",
        "not-json",
        "model-file",
        "fewer-features",
        "version",
        "reordered-features",
    ],
)
def test_set_current_refuses_damaged_version(
    tmp_path: Path,
    ranker: LightGBMRanker,
    damage: Callable[[Path], object],
    message: str,
) -> None:
    save_model(tmp_path, ranker, make_metadata("v1"))
    save_model(tmp_path, ranker, make_metadata("v2"))
    set_current(tmp_path, "v1")
    damage(tmp_path / "v2")

    with pytest.raises(ValueError, match=message):
        set_current(tmp_path, "v2")
    assert (tmp_path / CURRENT_ALIAS).read_text().strip() == "v1"


def test_missing_model_file_named(tmp_path: Path, ranker: LightGBMRanker) -> None:
    save_model(tmp_path, ranker, make_metadata("v1"))
    (tmp_path / "v1" / MODEL_FILE).unlink()

    with pytest.raises(ModelNotFoundError, match=r"v1 has no model\.txt in"):
        load_version(tmp_path, "v1")


@pytest.mark.parametrize("kind", ["folder", "symlink"])
def test_alias_not_a_file_rejected(
    tmp_path: Path, ranker: LightGBMRanker, kind: str
) -> None:
    save_model(tmp_path, ranker, make_metadata("v1"))
    alias = tmp_path / CURRENT_ALIAS
    alias.unlink()
    if kind == "folder":
        alias.mkdir()
    else:
        alias.symlink_to(tmp_path / "v1")
    message = "current is not a file naming a model version; remove it"

    with pytest.raises(ValueError, match=message):
        check_alias(tmp_path)
    with pytest.raises(ValueError, match=message):
        set_current(tmp_path, "v1")
    with pytest.raises(ValueError, match=message):
        load_current(tmp_path)
    with pytest.raises(ValueError, match=message):
        save_model(tmp_path, ranker, make_metadata("v2"))
    assert not list(tmp_path.glob("*.partial"))


def test_alias_writes_in_parallel(tmp_path: Path, ranker: LightGBMRanker) -> None:
    """Writers of ``current`` at once each replace it whole, without
    tripping over each other's temporary file."""
    save_model(tmp_path, ranker, make_metadata("v1"))
    save_model(tmp_path, ranker, make_metadata("v2"))
    errors: list[BaseException] = []

    def promote(version: str) -> None:
        for _ in range(300):
            try:
                set_current(tmp_path, version)
            except BaseException as error:
                errors.append(error)
                return

    threads = [threading.Thread(target=promote, args=(v,)) for v in ("v1", "v2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert (tmp_path / CURRENT_ALIAS).read_text().strip() in ("v1", "v2")
    assert not list(tmp_path.glob("*.partial"))


def test_load_current_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="no current model"):
        load_current(tmp_path)


def test_load_current_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError):
        load_current(tmp_path / "absent")


def test_model_not_found_is_file_error() -> None:
    assert issubclass(ModelNotFoundError, FileNotFoundError)


def test_load_version_missing(tmp_path: Path, ranker: LightGBMRanker) -> None:
    save_model(tmp_path, ranker, make_metadata("v1"))

    with pytest.raises(ModelNotFoundError, match="v2"):
        load_version(tmp_path, "v2")


def test_save_same_version_twice(tmp_path: Path, ranker: LightGBMRanker) -> None:
    save_model(tmp_path, ranker, make_metadata("v1"))
    model_text = (tmp_path / "v1" / MODEL_FILE).read_text()
    changed = replace(make_metadata("v1"), feature_service="ranker_second")

    with pytest.raises(FileExistsError, match="v1"):
        save_model(tmp_path, ranker, changed)

    assert (tmp_path / "v1" / MODEL_FILE).read_text() == model_text
    assert load_current(tmp_path)[1].feature_service == "ranker_test"


def test_new_version_sorts_by_time() -> None:
    earlier = new_version(datetime(2024, 6, 1, 9, 59, 59, tzinfo=UTC))
    later = new_version(datetime(2024, 6, 1, 10, 0, 0, tzinfo=UTC))

    assert earlier < later
    assert earlier.startswith("20240601T095959")
    assert earlier.endswith("Z")


def test_damaged_model_file_rejected(tmp_path: Path, ranker: LightGBMRanker) -> None:
    folder = save_model(tmp_path, ranker, make_metadata("20260101T000000000000Z"))
    model_file = folder / "model.txt"
    model_file.write_bytes(model_file.read_bytes()[:200])

    with pytest.raises(ValueError, match="does not match the checksum"):
        load_current(tmp_path)


def test_cut_model_file_rejected_before_loading(
    tmp_path: Path, ranker: LightGBMRanker
) -> None:
    # The checksum is updated too, as a hand-edited metadata file would be.
    folder = save_model(tmp_path, ranker, make_metadata("20260101T000000000000Z"))
    model_file = folder / "model.txt"
    cut = model_file.read_bytes()[:3000]
    model_file.write_bytes(cut)
    _damage_metadata(folder, model_sha256=hashlib.sha256(cut).hexdigest())

    with pytest.raises(ValueError) as raised:
        load_current(tmp_path)

    assert str(raised.value) == (
        f"{model_file}: incomplete LightGBM model file: it lacks the closing "
        "'end of parameters' section, so it was cut short; retrain with "
        "`recommender train`"
    )


def test_invalid_metadata_rejected(tmp_path: Path, ranker: LightGBMRanker) -> None:
    folder = save_model(tmp_path, ranker, make_metadata("20260101T000000000000Z"))
    (folder / "metadata.json").write_text("{not json")

    with pytest.raises(ValueError, match="invalid model metadata"):
        load_current(tmp_path)


def test_load_restores_the_diet_guardrail(
    tmp_path: Path, ranker: LightGBMRanker
) -> None:
    metadata = replace(
        make_metadata("v1"),
        diet_guardrail={
            "min_order_ratio": 0.8,
            "min_diet_orders": 4,
            "max_coffee_tea_share": 0.5,
        },
    )
    save_model(tmp_path, ranker, metadata)

    loaded, _ = load_current(tmp_path)

    assert loaded.guardrail == DietGuardrail(min_order_ratio=0.8, min_diet_orders=4)
    assert ranker.guardrail is None


def fail_writes_in(monkeypatch: pytest.MonkeyPatch, folder: Path, name: str) -> None:
    """Make ``os.<name>`` fail as on a read-only file system for paths directly
    in ``folder``. File modes cannot do this, because root writes through them."""
    real = getattr(os, name)

    def fail(path: str | os.PathLike[str], *args: object, **kwargs: object) -> object:
        if Path(path).parent == folder:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, name, fail)


def test_set_current_read_only_folder(
    tmp_path: Path, ranker: LightGBMRanker, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_model(tmp_path, ranker, make_metadata("v1"))
    save_model(tmp_path, ranker, make_metadata("v2"))
    fail_writes_in(monkeypatch, tmp_path, "open")

    with pytest.raises(ValueError) as raised:
        set_current(tmp_path, "v1")

    assert str(raised.value).startswith(
        f"cannot write the current alias in {tmp_path}: Read-only file system; "
    )
    assert (tmp_path / CURRENT_ALIAS).read_text() == "v2\n"


def test_save_model_read_only_folder(
    tmp_path: Path, ranker: LightGBMRanker, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_model(tmp_path, ranker, make_metadata("v1"))
    fail_writes_in(monkeypatch, tmp_path, "mkdir")

    with pytest.raises(ValueError) as raised:
        save_model(tmp_path, ranker, make_metadata("v2"))

    assert str(raised.value).startswith(
        f"cannot write model version v2 in {tmp_path}: Read-only file system; "
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == [CURRENT_ALIAS, "v1"]


def test_failed_rename_leaves_no_partial(
    tmp_path: Path, ranker: LightGBMRanker, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_model(tmp_path, ranker, make_metadata("v1"))
    # The files are written, and the rename into place fails.
    fail_writes_in(monkeypatch, tmp_path, "rename")

    with pytest.raises(ValueError, match="cannot write model version v2 in"):
        save_model(tmp_path, ranker, make_metadata("v2"))

    assert sorted(path.name for path in tmp_path.iterdir()) == [CURRENT_ALIAS, "v1"]
    assert (tmp_path / CURRENT_ALIAS).read_text() == "v1\n"


def test_check_writable_read_only_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_writes_in(monkeypatch, tmp_path, "open")

    with pytest.raises(ValueError) as raised:
        check_writable(tmp_path)

    assert str(raised.value).startswith(
        f"cannot write a model version in {tmp_path}: Read-only file system; "
    )


def test_check_writable_leaves_nothing(tmp_path: Path) -> None:
    models_dir = tmp_path / "models"

    check_writable(models_dir)

    assert list(models_dir.iterdir()) == []


def test_alias_mode_follows_umask(tmp_path: Path, ranker: LightGBMRanker) -> None:
    previous = os.umask(0o022)
    try:
        save_model(tmp_path, ranker, make_metadata("v1"))
    finally:
        os.umask(previous)

    mode = (tmp_path / CURRENT_ALIAS).stat().st_mode & 0o777

    # A service running as another user reads the alias as it reads the model.
    assert mode == 0o644
    assert mode == (tmp_path / "v1" / MODEL_FILE).stat().st_mode & 0o777


def test_alias_not_utf8_named(tmp_path: Path, ranker: LightGBMRanker) -> None:
    save_model(tmp_path, ranker, make_metadata("v1"))
    alias = tmp_path / CURRENT_ALIAS
    alias.write_bytes(b"\x00\xff\xfe\n")

    with pytest.raises(ModelNotFoundError) as raised:
        load_current(tmp_path)

    assert str(raised.value).startswith(
        f"{alias} names no model version (it contains b'\\x00\\xff\\xfe', "
    )


def test_alias_names_missing_version(tmp_path: Path, ranker: LightGBMRanker) -> None:
    save_model(tmp_path, ranker, make_metadata("v1"))
    alias = tmp_path / CURRENT_ALIAS
    alias.write_text("v9\n")

    with pytest.raises(ModelNotFoundError) as raised:
        load_current(tmp_path)

    assert str(raised.value).startswith(
        f"{alias} names model version 'v9', which is not in {tmp_path}; "
    )


def test_missing_version_quoted_and_listed(
    tmp_path: Path, ranker: LightGBMRanker
) -> None:
    save_model(tmp_path, ranker, make_metadata("v1"))

    with pytest.raises(ModelNotFoundError) as raised:
        set_current(tmp_path, "v1 ")

    assert str(raised.value) == (
        f"model version 'v1 ' not found in {tmp_path}; `ls {tmp_path}` lists "
        "the versions"
    )


@pytest.mark.parametrize(("content", "kind"), [("[]", "list"), ("null", "NoneType")])
def test_metadata_not_object_rejected(
    tmp_path: Path, ranker: LightGBMRanker, content: str, kind: str
) -> None:
    folder = save_model(tmp_path, ranker, make_metadata("v1"))
    (folder / METADATA_FILE).write_text(content)

    with pytest.raises(ValueError) as raised:
        load_version(tmp_path, "v1")

    assert str(raised.value) == (
        f"invalid model metadata {folder / METADATA_FILE}: expected a JSON "
        f"object of the metadata fields, got {kind}"
    )


def test_metadata_without_checksum_named(
    tmp_path: Path, ranker: LightGBMRanker
) -> None:
    folder = save_model(tmp_path, ranker, make_metadata("v1"))
    fields = json.loads((folder / METADATA_FILE).read_text())
    del fields["model_sha256"]
    (folder / METADATA_FILE).write_text(json.dumps(fields))

    with pytest.raises(ValueError) as raised:
        load_version(tmp_path, "v1")

    assert str(raised.value).startswith(
        f"invalid model metadata {folder / METADATA_FILE}: it has no "
        "model_sha256, so model.txt cannot be checked; "
    )


def test_multiclass_model_rejected(tmp_path: Path, ranker: LightGBMRanker) -> None:
    save_model(tmp_path, ranker, make_metadata("v1"))
    rows = random_rows(seed=4, n_rows=60)
    labels = np.arange(60) % 3
    dataset = lgb.Dataset(rows.to_numpy(), label=labels, feature_name=list(FEATURES))
    params = {"objective": "multiclass", "num_class": 3, "verbosity": -1}
    booster = lgb.train(params, dataset, num_boost_round=2)
    save_model(tmp_path, LightGBMRanker(booster, FEATURES), make_metadata("v2"))
    set_current(tmp_path, "v1")

    with pytest.raises(ValueError) as raised:
        set_current(tmp_path, "v2")

    assert str(raised.value) == (
        f"{tmp_path / 'v2' / MODEL_FILE}: the model gives 3 scores per row "
        "(objective 'multiclass'), expected one per row as a ranker gives; "
        "train it with `recommender train`"
    )
    assert (tmp_path / CURRENT_ALIAS).read_text() == "v1\n"
