"""The handoff library, ``airflow_model_handoff`` (vendor/airflow-model-handoff/), under the project's name: the
name DAGs written before the library had its own still import, and its command line (``python -m`` this package).

Imported here, the library finds what the project's make targets would give it, where the environment names
nothing: the project's Airflow home (.airflow: the signing key `make setup` made), its store (the Makefile's
HANDOFF_STORAGE) and its champion asset (for the command line). A script or notebook in the project needs no
settings of its own; a deployment sets them all.
"""

import os
from pathlib import Path

from airflow_model_handoff import *  # noqa: F403
from airflow_model_handoff import __all__ as __all__
from airflow_model_handoff.storage import DEPRECATED, STORAGE_SETTING

from ..lifecycle import CHAMPION_ASSET_NAME

PROJECT = Path(__file__).resolve().parents[3]
{%- if cookiecutter.storage_backend == "shared_fs" %}
PROJECT_STORAGE = (PROJECT / ".data" / "models").as_uri()
{%- elif cookiecutter.storage_backend == "s3" %}
PROJECT_STORAGE = "s3://{{ cookiecutter.s3_bucket }}/handoff"
{%- else %}
PROJECT_STORAGE = "variables://handoff"
{%- endif %}

os.environ.setdefault("AIRFLOW_HOME", str(PROJECT / ".airflow"))
os.environ.setdefault("HANDOFF_CHAMPION_ASSET", CHAMPION_ASSET_NAME)  # the command line's --asset
if not any(os.environ.get(name) for name in (STORAGE_SETTING, *DEPRECATED)):
    os.environ[STORAGE_SETTING] = PROJECT_STORAGE
