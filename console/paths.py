"""Where the console keeps its data. UI-free; no connection secret ever goes below this folder (the one secret
here is the app's own access secret, console/access.py, in a 0600 file)."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_dir

ENV_HOME = "SCIM_CONSOLE_HOME"


def data_dir() -> Path:
    """The console's data directory: ``$SCIM_CONSOLE_HOME`` or the per-user data folder. Created if missing."""
    configured = os.environ.get(ENV_HOME, "").strip()
    path = Path(configured).expanduser() if configured else Path(user_data_dir("scim-console", appauthor=False))
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
