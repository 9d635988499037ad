"""The library's command line (``python -m airflow_model_handoff champion | promote --run-id RUN | retention ...``)
under the project's name, with this project's champion asset and, when the environment does not name them, the
project's Airflow home (.airflow, where `make setup` keeps the signing key) and store (the Makefile's)::

    python -m {{ cookiecutter.package_name }}.handoff champion
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from airflow_model_handoff.__main__ import ASSET_SETTING, main
from airflow_model_handoff.storage import DEPRECATED, STORAGE_SETTING

from ..lifecycle import CHAMPION_ASSET_NAME

PROJECT = Path(__file__).resolve().parents[3]
PROJECT_AIRFLOW_HOME = PROJECT / ".airflow"
{%- if cookiecutter.storage_backend == "shared_fs" %}
PROJECT_STORAGE = (PROJECT / ".data" / "models").as_uri()
{%- elif cookiecutter.storage_backend == "s3" %}
PROJECT_STORAGE = "s3://{{ cookiecutter.s3_bucket }}/handoff"
{%- else %}
PROJECT_STORAGE = "variables://handoff"
{%- endif %}

if __name__ == "__main__":
    os.environ.setdefault(ASSET_SETTING, CHAMPION_ASSET_NAME)
    os.environ.setdefault("AIRFLOW_HOME", str(PROJECT_AIRFLOW_HOME))
    if not any(os.environ.get(name) for name in (STORAGE_SETTING, *DEPRECATED)):
        os.environ[STORAGE_SETTING] = PROJECT_STORAGE
    sys.exit(main(prog=f"python -m {__package__}"))
