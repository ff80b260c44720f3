"""Internal errors: the traceback goes to a file, the user gets one line with its path."""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from datetime import datetime
from pathlib import Path


def crash_dir() -> Path:
    """``$MLMETER_STATE``, else ``$XDG_STATE_HOME/mlmeter``, else ``~/.local/state/mlmeter``."""
    if os.environ.get("MLMETER_STATE"):
        return Path(os.environ["MLMETER_STATE"])
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "mlmeter"


def save_traceback(exc: BaseException) -> Path:
    """Write the traceback, the command line and the Python version to a new file; return its path."""
    text = (f"mlmeter {' '.join(sys.argv[1:])}\nPython {sys.version}\n\n"
            + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    name = f"crash-{datetime.now().strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
    for folder in (crash_dir(), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            path.write_text(text, encoding="utf-8")
            return path
        except OSError:
            continue
    return Path("(nowhere: no writable directory)")
