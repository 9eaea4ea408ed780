"""Description of the machine a benchmark ran on, for its JSON and Markdown."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from models.registry import git_state

REPOSITORY = Path(__file__).resolve().parent.parent


def describe_machine(packages: tuple[str, ...]) -> dict[str, Any]:
    """CPU model, cores, memory, OS, Python, the versions of ``packages`` and
    the git commit (with a note when the tree has uncommitted changes)."""
    versions: dict[str, str | None] = {}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "memory_gb": round(
            os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1
        ),
        "os": platform.platform(),
        "python": platform.python_version(),
        # Over the last 1, 5 and 15 minutes when the benchmark ended: above
        # about 1 per core, other work shared the machine.
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "packages": versions,
        "git_commit": _git_commit(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str | None:
    commit, dirty = git_state(REPOSITORY)
    if commit is None:
        return None
    return f"{commit[:7]} with uncommitted changes" if dirty else commit[:7]


def format_machine(machine: dict[str, Any]) -> str:
    """Format :func:`describe_machine`'s result as one sentence for Markdown."""
    packages = ", ".join(
        f"{name} {version}" for name, version in machine["packages"].items()
    )
    load = ", ".join(str(value) for value in machine["load_average"])
    return (
        f"{machine['cpu']}, {machine['logical_cores']} logical cores, "
        f"{machine['memory_gb']} GB memory, {machine['os']}, Python "
        f"{machine['python']}, {packages}; commit {machine['git_commit']}; "
        f"load average {load} at the end"
    )
