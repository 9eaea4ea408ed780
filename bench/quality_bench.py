"""Quality of the ranker next to its baselines, LightFM and the previous system.

Runs :func:`models.evaluate.evaluate_splits` on the store of the var folder
with the default baselines and two LightFM peers (WARP loss, pure
collaborative and hybrid with restaurant attributes, from ``bench/peers.py``).
A second call trains the ranker on the ``ranker_v1`` feature service, the
previous system, and adds its row as ``ranker_v1``. Both calls draw the same
splits, because a split depends only on its seed and the orders. Every model
is trained and scored on the same splits.

Then it checks the ranker's NDCG@k against the others. The ranker must reach
at least 1.05 times the better LightFM variant, at least the best baseline,
and at least twice popularity. It prints pass or fail per check and exits
with 1 when a check fails, unless ``--report-only`` is given. It exits with 2
when the benchmark cannot run (no store, features not built, bad arguments).
Results go to ``quality_bench.json`` and ``quality_bench.md`` in
``--out-dir``, by default ``bench/`` in the var folder.

    .venv/bin/python bench/quality_bench.py
    RECOMMENDER_VAR_DIR=/tmp/v .venv/bin/python bench/quality_bench.py --splits 2
"""

from __future__ import annotations

import argparse
import logging
import math
import shlex
import sys
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_arguments import int_at_least, output_folder
from machine_info import describe_machine
from peers import DEFAULT_SEED, LightFMPeer
from quality_report import (
    PREVIOUS,
    RANKER,
    format_number,
    format_summary,
    write_report,
)

from features.feast_store import open_store
from features.paths import (
    FEAST_PROFILES,
    FEATURE_REPO,
    RANKER_CONFIG,
    VarPaths,
    default_feast_profile,
    default_var_dir,
)
from models.baselines import BaselineFactory, default_baselines
from models.evaluate import EvaluationSettings, evaluate_splits
from models.ranker import load_config
from service.cli import hide_library_warnings
from service.pipeline import read_store

SCRIPT = "bench/quality_bench.py"
POPULARITY = "popularity"
LIGHTFM_COMPONENTS = 16
LIGHTFM_EPOCHS = 30
LIGHTFM_LOSS = "warp"
PEERS = {"lightfm": False, "lightfm_hybrid": True}
# The ranker's NDCG@k must be at least these multiples of the other models'.
PEER_MARGIN = 1.05
POPULARITY_MARGIN = 2.0
EXIT_CHECK_FAILED = 1
# A missing store or feature registry, or an invalid setting.
EXIT_ERROR = 2
PACKAGES = ("lightgbm", "lightfm-next", "implicit", "feast", "polars", "numpy")

logger = logging.getLogger("quality_bench")


@dataclass(frozen=True)
class Check:
    """One comparison of the ranker's NDCG@k with a bound from other models.

    ``reference`` is the model whose NDCG@k, times the margin, is the bound.
    """

    name: str
    reference: str | None
    ranker: float | None
    bound: float | None
    passed: bool


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, write its files and return the exit code."""
    arguments = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(arguments)
    hide_library_warnings()
    args.var_dir = args.var_dir.resolve()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("feast", "ibis", "numexpr"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.perf_counter()
    try:
        report = run_evaluations(args)
    except (FileNotFoundError, ValueError) as error:
        logger.error("%s", error)
        return EXIT_ERROR
    report = {
        "command": shlex.join([Path(sys.executable).name, SCRIPT, *arguments]),
        "started_at": started_at,
        "elapsed_s": round(time.perf_counter() - started, 1),
        "var_dir": str(args.var_dir),
        "machine": describe_machine(PACKAGES),
        **report,
    }
    checks = quality_checks(
        report["summary"], report["settings"]["k"], report["baselines"]
    )
    report["checks"] = [asdict(check) for check in checks]

    out_dir = args.out_dir or args.var_dir / "bench"
    json_path, markdown_path = write_report(report, out_dir)
    _print_results(report, checks)
    print(f"\nwrote {json_path} and {markdown_path}")
    if args.report_only or all(check.passed for check in checks):
        return 0
    return EXIT_CHECK_FAILED


def run_evaluations(args: argparse.Namespace) -> dict[str, Any]:
    """Evaluate the ranker, the baselines and the peers, then the ranker on
    ``ranker_v1``, on the same splits; return the merged results."""
    paths = VarPaths(args.var_dir)
    frames = read_store(paths)
    feature_store = open_store(args.feature_repo, paths.root, args.feast_profile)
    config = load_config(args.config)
    # ranker_v1 is evaluated on its own below and merged as a row.
    settings = EvaluationSettings(
        n_splits=args.splits, seed=args.seed, k=args.k, previous_service=None
    )
    baselines = default_baselines()
    min_rating = config.cutoffs.min_rating
    peers = [_peer_factory(name, hybrid, min_rating) for name, hybrid in PEERS.items()]

    current = evaluate_splits(
        frames, feature_store, config, settings, [*baselines, *peers]
    )
    previous_config = replace(config, feature_service=PREVIOUS)
    previous = evaluate_splits(frames, feature_store, previous_config, settings, [])
    return merge_reports(current, previous, [factory().name for factory in baselines])


def merge_reports(
    current: dict[str, Any], previous: dict[str, Any], baselines: list[str]
) -> dict[str, Any]:
    """Add the ranker row of ``previous`` to ``current`` as ``ranker_v1``.

    Raises:
        ValueError: the two reports were evaluated on different orders or
            splits, so their rows are not comparable.
    """
    seeds = [split["seed"] for split in current["splits"]]
    if (
        [split["seed"] for split in previous["splits"]] != seeds
        or previous["data_fingerprint"] != current["data_fingerprint"]
        or previous.get("split_kind") != current.get("split_kind")
    ):
        msg = "the two evaluations ran on different splits; rerun the benchmark"
        raise ValueError(msg)

    summary = {
        RANKER: current["summary"][RANKER],
        PREVIOUS: previous["summary"][RANKER],
        **{name: current["summary"][name] for name in PEERS},
        **{name: current["summary"][name] for name in baselines},
    }
    splits = []
    for now, before in zip(current["splits"], previous["splits"], strict=True):
        models = {**now["models"], PREVIOUS: before["models"][RANKER]}
        splits.append({**now, "models": {name: models[name] for name in summary}})
    # Each evaluation ran without a previous system; the merged row is one.
    settings = {
        **current["settings"],
        "previous_service": previous["ranker"]["feature_service"],
    }
    return {
        "settings": settings,
        "relevance": current["relevance"],
        "data_fingerprint": current["data_fingerprint"],
        "split_kind": current.get("split_kind", "random"),
        "split_seeds": seeds,
        "ranker": current["ranker"],
        "previous_ranker": previous["ranker"],
        "peers": {
            name: {
                "hybrid": hybrid,
                "components": LIGHTFM_COMPONENTS,
                "epochs": LIGHTFM_EPOCHS,
                "loss": LIGHTFM_LOSS,
                "seed": DEFAULT_SEED,
            }
            for name, hybrid in PEERS.items()
        },
        "baselines": baselines,
        "splits": splits,
        "summary": summary,
    }


def quality_checks(
    summary: dict[str, dict[str, dict[str, float | None]]],
    k: int,
    baselines: list[str],
) -> list[Check]:
    """Compare the ranker's mean NDCG@k with the peers, baselines and popularity.

    ``baselines`` names the baselines among the summary's models. A model
    whose mean is missing or nan is left out of the comparisons. A check
    fails when the ranker's mean, or every model it compares with, is left
    out, since it cannot show that the ranker is as good.
    """
    metric = f"ndcg@{k}"
    means: dict[str, float] = {}
    for name, metrics in summary.items():
        value = metrics.get(metric, {}).get("mean")
        if value is not None and not math.isnan(value):
            means[name] = value

    ranker = means.get(RANKER)
    comparisons = [
        (
            f"{RANKER} {metric} >= {PEER_MARGIN} x best LightFM variant",
            PEER_MARGIN,
            _best(means, list(PEERS)),
        ),
        (f"{RANKER} {metric} >= best baseline", 1.0, _best(means, baselines)),
        (
            f"{RANKER} {metric} >= {POPULARITY_MARGIN} x {POPULARITY}",
            POPULARITY_MARGIN,
            POPULARITY if POPULARITY in means else None,
        ),
    ]
    checks = []
    for name, margin, reference in comparisons:
        bound = None if reference is None else margin * means[reference]
        passed = ranker is not None and bound is not None and ranker >= bound
        checks.append(Check(name, reference, ranker, bound, passed))
    return checks


def _print_results(report: dict[str, Any], checks: list[Check]) -> None:
    print(format_summary(report))
    print()
    for check in checks:
        print(
            f"{'pass' if check.passed else 'FAIL'}: {check.name} "
            f"({format_number(check.ranker)} against {format_number(check.bound)} "
            f"from {check.reference or 'no model'})"
        )


def _peer_factory(name: str, hybrid: bool, min_rating: float | None) -> BaselineFactory:
    def build() -> LightFMPeer:
        return LightFMPeer(
            name,
            hybrid=hybrid,
            components=LIGHTFM_COMPONENTS,
            epochs=LIGHTFM_EPOCHS,
            loss=LIGHTFM_LOSS,
            seed=DEFAULT_SEED,
            min_rating=min_rating,
        )

    return build


def _best(means: dict[str, float], names: list[str]) -> str | None:
    """Return the model of ``names`` with the highest mean, or None when none
    of them has a mean."""
    known = [name for name in names if name in means]
    return max(known, key=lambda name: means[name]) if known else None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=(
            "Evaluate the ranker, its baselines, LightFM and the ranker_v1 "
            "ranker on the same seeded splits, and check the ranker's margins."
        ),
    )
    parser.add_argument(
        "--var-dir",
        type=Path,
        default=default_var_dir(),
        help="folder with store.duckdb and the Feast files (default: "
        "$RECOMMENDER_VAR_DIR, else ./var)",
    )
    parser.add_argument(
        "--feature-repo",
        type=Path,
        default=FEATURE_REPO,
        help=f"Feast repository (default: {FEATURE_REPO})",
    )
    parser.add_argument(
        "--feast-profile",
        choices=FEAST_PROFILES,
        default=default_feast_profile(),
        help="Feast configuration (default: $RECOMMENDER_FEAST_PROFILE, else embedded)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=RANKER_CONFIG,
        help=f"ranker settings (default: {RANKER_CONFIG})",
    )
    parser.add_argument(
        "--splits",
        type=int_at_least(1),
        default=5,
        help="splits: weekly test windows when the orders have times, else "
        "random 80/20 splits (default: 5)",
    )
    parser.add_argument(
        "--seed",
        type=int_at_least(0),
        default=0,
        help="seed of the first random split (default: 0)",
    )
    parser.add_argument(
        "--k",
        type=int_at_least(1),
        default=10,
        help="list length of the metrics (default: 10)",
    )
    parser.add_argument(
        "--out-dir",
        type=output_folder,
        default=None,
        help="folder for quality_bench.json and .md (default: <var-dir>/bench)",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="exit with 0 even when a check fails",
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
