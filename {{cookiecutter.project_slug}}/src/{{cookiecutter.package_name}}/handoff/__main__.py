"""The library's command line (``python -m airflow_model_handoff champion | promote --run-id RUN | retention ...``)
under the project's name, with this project's champion asset and, when AIRFLOW_HOME is not set, the project's
Airflow home (.airflow, where `make setup` keeps the signing key)::

    python -m {{ cookiecutter.package_name }}.handoff champion
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from airflow_model_handoff.__main__ import ASSET_SETTING, main

from ..lifecycle import CHAMPION_ASSET_NAME

PROJECT_AIRFLOW_HOME = Path(__file__).resolve().parents[3] / ".airflow"

if __name__ == "__main__":
    os.environ.setdefault(ASSET_SETTING, CHAMPION_ASSET_NAME)
    os.environ.setdefault("AIRFLOW_HOME", str(PROJECT_AIRFLOW_HOME))
    sys.exit(main(prog=f"python -m {__package__}"))
