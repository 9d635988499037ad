"""The handoff library, ``airflow_model_handoff`` (vendor/airflow-model-handoff/), under the project's name: the
name DAGs written before the library had its own still import. New code imports ``airflow_model_handoff``."""

from airflow_model_handoff import *  # noqa: F403
from airflow_model_handoff import __all__ as __all__
