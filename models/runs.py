"""List and compare the MLflow runs that :mod:`models.tracking` records."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from models._lightgbm_params import lightgbm_param_aliases
from models.tracking import (
    HEADLINE_TAG,
    KIND_TAG,
    experiment_name,
    open_client,
    store_missing,
    tracking_errors,
)
from models.tracking_metrics import AUDITS_TAG, SEGMENT_PREFIX, SPLIT_PREFIX

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

logger = logging.getLogger(__name__)

# MLflow run ids are 32 hex digits. A shorter run of hex digits is taken as
# the start of one, as git takes a short commit hash.
_RUN_ID_PREFIX = re.compile(r"[0-9a-f]{1,31}")
# MLflow writes run ids in lower case, so hex digits in upper case are read
# as their lower-case form.
_HEX_DIGITS = re.compile(r"[0-9a-fA-F]+")


@dataclass(frozen=True)
class RunSummary:
    """One line of ``recommender runs list``."""

    run_id: str
    kind: str
    start_time: datetime
    feature_service: str
    headline_metric: str | None
    headline_value: float | None
    # The outcome of an evaluation's audits, such as "1 failed, 0 not
    # measured, 6 passed"; empty for a training run.
    audits: str = ""


def list_runs(uri: str, max_runs: int = 20) -> list[RunSummary]:
    """Return the experiment's latest ``max_runs`` runs, most recent first.

    A local SQLite store that does not exist yet has no runs, and is not
    created.
    """
    if store_missing(uri):
        return []

    with tracking_errors(uri, "list the runs"):
        client = open_client(uri)
        experiment = client.get_experiment_by_name(experiment_name())
        if experiment is None:
            return []
        runs = client.search_runs(
            [experiment.experiment_id],
            order_by=["attributes.start_time DESC"],
            max_results=max_runs,
        )
    return [_summarize(run) for run in runs]


def format_runs(runs: list[RunSummary]) -> str:
    """Format runs as a Markdown table."""
    lines = [
        "| run id | kind | start time (UTC) | feature service | headline metric "
        "| audits |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        headline = ""
        if run.headline_metric is not None and run.headline_value is not None:
            headline = f"{run.headline_metric} = {_format_number(run.headline_value)}"
        started = run.start_time.strftime("%Y-%m-%d %H:%M:%S")
        lines.append(
            f"| {run.run_id} | {run.kind} | {started} | {run.feature_service} "
            f"| {headline} | {run.audits} |"
        )
    return "\n".join(lines)


def compare_runs(uri: str, run_a: str, run_b: str) -> str:
    """Compare the latest metrics of two runs in Markdown tables.

    Each run is named by its id, or by the start of its id that no other run
    of the experiment shares.

    The first table has every metric that is not per split or per segment. A
    second table, one row per segment and metric, follows when either run has
    segment metrics. The parameters whose values differ are listed last.

    Raises:
        ValueError: a run id is invalid or not in the store.
        TrackingError: the tracking store failed; the message names ``uri``.
    """
    with tracking_errors(uri, "read the runs"):
        client = open_client(uri)
        first = _get_run(client, uri, run_a)
        second = _get_run(client, uri, run_b)

    fingerprints = {run.data.tags.get("data_fingerprint") for run in (first, second)}
    if len(fingerprints) > 1:
        logger.warning(
            "runs %s and %s used different orders (data fingerprints differ), "
            "so their metrics are not comparable",
            run_a,
            run_b,
        )
    return _format_comparison(first, second)


def _get_run(client: MlflowClient, uri: str, run_id: str) -> Run:
    from mlflow.exceptions import MlflowException

    normalized = run_id.lower() if _HEX_DIGITS.fullmatch(run_id) else run_id
    try:
        return client.get_run(_expand_run_id(client, uri, normalized))
    except MlflowException as error:
        if error.error_code not in (
            "RESOURCE_DOES_NOT_EXIST",
            "INVALID_PARAMETER_VALUE",
        ):
            raise
        msg = (
            f"run {run_id!r} not found in {uri}; `recommender runs list` shows "
            "the recent runs"
        )
        raise ValueError(msg) from error


def _expand_run_id(client: MlflowClient, uri: str, run_id: str) -> str:
    """Return the one run id of the experiment that starts with ``run_id``, or
    ``run_id`` itself when it is not a short hex prefix or starts none.

    Raises:
        ValueError: two or more runs start with ``run_id``.
    """
    if _RUN_ID_PREFIX.fullmatch(run_id) is None:
        return run_id
    experiment = client.get_experiment_by_name(experiment_name())
    if experiment is None:
        return run_id

    matches: list[str] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment.experiment_id], max_results=1000, page_token=token
        )
        matches += [
            run.info.run_id for run in page if run.info.run_id.startswith(run_id)
        ]
        token = page.token
        if not token:
            break

    if len(matches) > 1:
        first_matches = ", ".join(sorted(matches)[:5])
        msg = (
            f"run id {run_id!r} starts {len(matches)} runs in {uri} ({first_matches}); "
            "give more of the id"
        )
        raise ValueError(msg)
    return matches[0] if matches else run_id


def _summarize(run: Run) -> RunSummary:
    headline = run.data.tags.get(HEADLINE_TAG)
    return RunSummary(
        run_id=run.info.run_id,
        kind=run.data.tags.get(KIND_TAG, ""),
        start_time=datetime.fromtimestamp(run.info.start_time / 1000, UTC),
        feature_service=run.data.params.get("feature_service", ""),
        headline_metric=headline,
        headline_value=run.data.metrics.get(headline) if headline else None,
        audits=run.data.tags.get(AUDITS_TAG, ""),
    )


def _format_comparison(first: Run, second: Run) -> str:
    lines = [f"run A: {_describe(first)}", f"run B: {_describe(second)}"]
    kinds = [run.data.tags.get(KIND_TAG, "unknown kind") for run in (first, second)]
    if kinds[0] != kinds[1]:
        lines.append(
            f"note: run A is of kind {kinds[0]} and run B of kind {kinds[1]}, "
            "so they share few metrics (n/a where one lacks it)"
        )
    lines += [
        "",
        "| metric | run A | run B | change |",
        "| --- | ---: | ---: | ---: |",
    ]
    names = sorted(set(first.data.metrics) | set(second.data.metrics))
    overall = [
        n for n in names if n.split(".")[0] not in (SPLIT_PREFIX, SEGMENT_PREFIX)
    ]
    for name in overall:
        lines.append(f"| {name} | {_comparison_cells(first, second, name)} |")

    segmented = [n for n in names if n.startswith(SEGMENT_PREFIX + ".")]
    if segmented:
        lines += [
            "",
            "| segment | metric | run A | run B | change |",
            "| --- | --- | ---: | ---: | ---: |",
        ]
        for name in segmented:
            _, segment, metric = name.split(".", 2)
            cells = _comparison_cells(first, second, name)
            lines.append(f"| {segment} | {metric} | {cells} |")

    lines += ["", _param_changes(first, second)]
    return "\n".join(lines)


def _describe(run: Run) -> str:
    tags = run.data.tags
    started = datetime.fromtimestamp(run.info.start_time / 1000, UTC)
    return (
        f"{run.info.run_id} ({tags.get(KIND_TAG, 'unknown kind')}, "
        f"{run.data.params.get('feature_service', 'no feature service')}, "
        f"started {started:%Y-%m-%d %H:%M:%S} UTC)"
    )


def _comparison_cells(first: Run, second: Run, name: str) -> str:
    old = first.data.metrics.get(name)
    new = second.data.metrics.get(name)
    if old is None or new is None:
        return f"{_format_number(old)} | {_format_number(new)} | n/a"
    # Two counts and their change are shown without decimals.
    whole = old.is_integer() and new.is_integer()
    change = new - old
    if round(change, 4) == 0:
        # A difference below the 4 decimals shown, such as the 1e-16 between
        # two sums of the same numbers in another order, prints as +0.0000
        # rather than -0.0000.
        change = 0.0
    return (
        f"{_format_number(old, whole=whole)} | {_format_number(new, whole=whole)} "
        f"| {_format_number(change, '+', whole)}"
    )


def _format_number(
    value: float | None, sign: str = "", whole: bool | None = None
) -> str:
    """Format ``value`` without decimals when ``whole`` (by default, when it is
    an integer), else to 4 decimals."""
    if value is None:
        return "n/a"
    if whole is None:
        whole = value.is_integer()
    if whole and abs(value) < 1e15:
        return f"{int(value):{sign}d}"
    return f"{value:{sign}.4f}"


def _param_changes(first: Run, second: Run) -> str:
    old = _lightgbm_main_names(first.data.params)
    new = _lightgbm_main_names(second.data.params)
    changed = [
        f"{name}: {old.get(name, 'unset')} -> {new.get(name, 'unset')}"
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name)
    ]
    if not changed:
        return "params: the same in both runs"
    return "params that differ:\n" + "\n".join(f"- {line}" for line in changed)


def _lightgbm_main_names(params: dict[str, str]) -> dict[str, str]:
    """Return ``params`` with each LightGBM alias, such as ``lightgbm.eta``,
    under its main name, ``lightgbm.learning_rate``, so that two runs that
    spell one parameter differently compare equal.

    When a run sets the main name and an alias, LightGBM uses the main name's
    value, and so does the result.
    """
    # NOTE: of two aliases set without the main name, the result keeps the
    # later one, which need not be the one LightGBM used.
    table = lightgbm_param_aliases()
    if table is None:
        return dict(params)
    main_names = {alias: main for main, aliases in table.items() for alias in aliases}
    renamed: dict[str, str] = {}
    for name, value in params.items():
        section, _, key = name.partition(".")
        if section != "lightgbm" or key not in main_names:
            renamed[name] = value
            continue
        main = f"lightgbm.{main_names[key]}"
        if name == main or main not in params:
            renamed[main] = value
    return renamed
