"""The file and line at which an error arose in user-written code, for
one-line error messages.

The module imports nothing of the project, because the command line uses it
when importing the feature code has failed.
"""

from __future__ import annotations

import traceback
from pathlib import Path


def line_in_folder(
    error: BaseException, folder: Path, module_level: bool = False
) -> str | None:
    """Return ``file:line`` where ``error`` arose under ``folder``, or None.

    That is the position of a syntax error in a file there, else the last
    traceback frame in such a file. With ``module_level``, only frames that
    run a module's top-level code count, so an error raised inside a function
    that a decorator line called points at the decorator line.
    """
    folder = folder.resolve()
    if isinstance(error, SyntaxError) and error.filename:
        path = Path(error.filename)
        if path.resolve().is_relative_to(folder):
            return f"{path}:{error.lineno}"
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if not frame.filename.startswith("<")
        and (frame.name == "<module>" or not module_level)
        and Path(frame.filename).resolve().is_relative_to(folder)
    ]
    if not frames:
        return None
    return f"{frames[-1].filename}:{frames[-1].lineno}"
