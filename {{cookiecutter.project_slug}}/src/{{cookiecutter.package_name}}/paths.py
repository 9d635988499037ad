"""Where the project keeps its local state when the environment does not say otherwise (import-free)."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Where `make setup` puts Airflow's home when AIRFLOW_HOME is not set: the project's .airflow.
PROJECT_AIRFLOW_HOME = PROJECT_ROOT / ".airflow"


def airflow_home() -> Path:
    """``AIRFLOW_HOME``, or the project's ``.airflow``."""
    return Path(os.environ.get("AIRFLOW_HOME") or PROJECT_AIRFLOW_HOME)
