"""What the benchmark scripts share: where the local data mirror is.

The scripts run as ``python benchmarks/<script>.py``, so this folder is on ``sys.path`` and
they import this module as ``_common``. (tests/conftest.py keeps its own copy: the tests do
not import from the benchmarks.)
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """The data mirror: ``$SRGAN_SHARED_DATA``, else ``../shared/data`` beside the checkout."""
    env = os.environ.get("SRGAN_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def default_data_dir(subfolder: str) -> Path:
    """A folder of the mirror, e.g. ``default_data_dir("train/BSD200")``."""
    return shared_data_dir() / subfolder
