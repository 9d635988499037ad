"""The handoff benchmark: ``python -m airflow_model_handoff.benchmark`` (see its ``__main__``); ``make profile``
is ``python -m airflow_model_handoff.benchmark.profile``."""
