"""A stack of real Airflow processes for the tests of `make run`: a scheduler whose LocalExecutor gives every task
a process of its own, talking to the API server as separate components do in production."""

from __future__ import annotations

{% if cookiecutter.storage_backend == "s3" -%}
import os
{% endif -%}
from collections.abc import Iterator
from pathlib import Path

import pytest
from airflow_model_handoff.local.ports import free_port

from scripts.stack import Stack, running_stack
{%- if cookiecutter.storage_backend == "s3" %}
from tests.conftest import BUCKET
{%- endif %}


def storage_env(workdir: Path) -> dict[str, str]:
    """The handoff settings every task of the stack gets."""
{%- if cookiecutter.storage_backend == "shared_fs" %}
    root = workdir / "models"
    root.mkdir(exist_ok=True)
    return {"HANDOFF_STORAGE": root.as_uri()}
{%- elif cookiecutter.storage_backend == "s3" %}
    storage = f"s3://{BUCKET}/e2e"
    return {"AIRFLOW_CONN_AWS_DEFAULT": os.environ["AIRFLOW_CONN_AWS_DEFAULT"], "HANDOFF_STORAGE": storage}
{%- else %}
    return {"HANDOFF_STORAGE": "variables://handoff"}
{%- endif %}


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory{% if cookiecutter.storage_backend == "s3" %}, s3_endpoint: str{% endif %}) -> Iterator[Stack]:
    """API server, scheduler (LocalExecutor) and DAG processor on a fresh SQLite metadata DB."""
    workdir = tmp_path_factory.mktemp("local-stack")
    stack = Stack(
        home=workdir / "home",
        state_dir=workdir / "state",
        api_port=free_port(),
        log_port=free_port(),
        components=("api-server", "scheduler", "dag-processor"),
        env=storage_env(workdir),
    )
    stack.migrate()
    with running_stack(stack):
        yield stack
