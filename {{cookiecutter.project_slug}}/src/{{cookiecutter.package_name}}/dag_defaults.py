"""Defaults shared by the project's DAGs. Light on purpose: DAG files import it at parse time."""

from __future__ import annotations

from datetime import timedelta

import pendulum

OWNER = {{ cookiecutter.author_name | tojson }}
START_DATE = pendulum.datetime(2025, 1, 1, tz="UTC")
DEFAULT_ARGS = {
    "owner": OWNER,
    "retries": 1,
    "retry_delay": timedelta(seconds=15),
}
