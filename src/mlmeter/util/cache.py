"""Where mlmeter keeps downloaded models, exported models and pre-processed samples."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """``$MLMETER_CACHE``, else ``$XDG_CACHE_HOME/mlmeter``, else ``~/.cache/mlmeter``."""
    if os.environ.get("MLMETER_CACHE"):
        return Path(os.environ["MLMETER_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mlmeter"
