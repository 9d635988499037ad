"""The name of the project's champion Asset (the model lifecycle: airflow_model_handoff.champion).

Nothing but a constant, on purpose: DAG files import it at parse time, and so do the command line and the tests,
which must not pull Airflow in.
"""

from __future__ import annotations

# The Airflow Asset whose events are promotions.
CHAMPION_ASSET_NAME = "{{ cookiecutter.package_name }}_champion"
