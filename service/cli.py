"""``recommender`` command: run the pipeline stages one by one or all at once."""

from __future__ import annotations

import importlib
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from features.paths import VarPaths
from features.tracebacks import line_in_folder
from models.tracking import TrackingError
from service.cli_commands import (
    EXIT_AUDITS,
    EXIT_REJECTS,
    AuditFailedError,
    RejectedRowsError,
)
from service.cli_parser import _parser

logger = logging.getLogger("recommender")

# As a shell reports a process ended by SIGINT.
EXIT_INTERRUPTED = 130
# The module that registers the feature tables, where new features are added.
FEATURE_CODE_MODULE = "features.transforms"


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the chosen stage; return the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Feast and its dependencies log every step at INFO.
    for noisy in ("feast", "ibis", "numexpr"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # MLflow sets its loggers' level from this variable when it is imported,
    # which happens later, and logs the creation of its database at INFO.
    if not args.verbose:
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
        hide_library_warnings()

    if str(args.var_dir) in ("", ".") or (
        args.var_dir.exists() and not args.var_dir.is_dir()
    ):
        logger.error("--var-dir must name a folder, got %r", str(args.var_dir))
        return 2
    paths = VarPaths(args.var_dir.resolve())
    try:
        # Deleting the var folder does not need the feature code, which may
        # be the broken part.
        if args.command != "clean":
            _load_feature_code()
        args.handler(args, paths)
    except RejectedRowsError as error:
        logger.error("%s", error)
        return EXIT_REJECTS
    except AuditFailedError as error:
        logger.error("%s", error)
        return EXIT_AUDITS
    except (FileNotFoundError, ValueError, TrackingError) as error:
        logger.error("%s", error)
        return 1
    except KeyboardInterrupt:
        return _interrupted(args.command)
    except Exception as error:
        from features.store import is_interrupt

        # DuckDB reports Ctrl-C during a query as an error, not as
        # KeyboardInterrupt.
        if not is_interrupt(error):
            raise
        return _interrupted(args.command)
    return 0


# Warnings that libraries raise about their own code on every run. A user of
# the command cannot act on them. MLflow 3.17's SQL store uses the SQLAlchemy
# loader strategy `noload`, and Feast 0.67 warns at each use of an on-demand
# feature view. --verbose shows them.
LIBRARY_WARNINGS = (
    "The ``noload`` loader strategy is deprecated",
    "On demand feature view is an experimental feature",
)


def hide_library_warnings() -> None:
    """Drop LIBRARY_WARNINGS where warnings are shown.

    A filter would not do: importing these libraries puts "once" filters for
    DeprecationWarning and RuntimeWarning before any filter set earlier.
    """
    show = warnings.showwarning
    if getattr(show, "hides_library_warnings", False):
        return

    def show_others(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        if not any(text in str(message) for text in LIBRARY_WARNINGS):
            show(message, category, filename, lineno, file, line)

    show_others.hides_library_warnings = True  # type: ignore[attr-defined]
    warnings.showwarning = show_others


def _interrupted(command: str) -> int:
    """Log the one line for a command stopped with Ctrl-C; return its exit code.

    A stage stopped part way leaves no file a later stage reads: the store is
    written in one transaction, a model folder is renamed into place, and
    features drops its manifest until it completes.
    """
    logger.error("interrupted; run `recommender %s` again", command)
    return EXIT_INTERRUPTED


def _load_feature_code() -> None:
    """Import the module of the feature tables, which every command reads.

    Data scientists edit that module, so a mistake in it is raised as one
    ValueError naming the file and line instead of an import traceback.
    """
    try:
        importlib.import_module(FEATURE_CODE_MODULE)
    except Exception as error:
        raise ValueError(_feature_code_error(error)) from error


def _feature_code_error(error: Exception) -> str:
    """Return the one-line message for an error raised while importing the
    feature code, with the file and line of the statement that raised it,
    such as a decorator call rather than the line inside the function it
    called."""
    where = line_in_folder(
        error, Path(__file__).resolve().parents[1] / "features", module_level=True
    )
    if isinstance(error, SyntaxError):
        detail = f"SyntaxError: {error.msg}"
    else:
        first_line = (str(error).strip().splitlines() or [""])[0]
        detail = f"{type(error).__name__}: {first_line}".rstrip(": ")
    location = f" at {where}" if where else ""
    return (
        f"cannot load the feature code ({FEATURE_CODE_MODULE}){location}: "
        f"{detail}; fix it and run the command again"
    )


if __name__ == "__main__":
    sys.exit(main())
