"""Where a local Airflow keeps its state (its key file, its generated passwords): standard library only."""

from __future__ import annotations

import os
from pathlib import Path


def airflow_home() -> Path:
    """``AIRFLOW_HOME``, else Airflow's own default, ``~/airflow``."""
    return Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow")
