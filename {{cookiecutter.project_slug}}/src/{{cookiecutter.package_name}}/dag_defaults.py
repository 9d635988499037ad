"""Defaults shared by the project's DAGs. Light on purpose: DAG files import it at parse time."""

from __future__ import annotations

from datetime import timedelta

import pendulum
{# A plain string literal quoted as ruff format quotes it (double unless the name has more " than '). #}
{%- set owner = cookiecutter.author_name | replace('\\', '\\\\') %}
{%- if cookiecutter.author_name.count('"') > cookiecutter.author_name.count("'") %}
OWNER = '{{ owner | replace("'", "\\'") }}'
{%- else %}
OWNER = "{{ owner | replace('"', '\\"') }}"
{%- endif %}
START_DATE = pendulum.datetime(2025, 1, 1, tz="UTC")
DEFAULT_ARGS = {
    "owner": OWNER,
    "retries": 1,
    "retry_delay": timedelta(seconds=15),
    # A task that hangs (a stuck storage or API call) fails after this instead of holding its worker slot for
    # ever; raise it for a task that legitimately runs longer (``execution_timeout=`` on that task).
    "execution_timeout": timedelta(hours=1),
}
