"""The rules every DAG of this project must follow. Change them here, in one place."""

from __future__ import annotations

from typing import Any

REQUIRED_DEFAULT_ARGS = ("owner", "retries")
MIN_RETRIES = 1
REQUIRE_TAGS = True
FORBIDDEN_OWNERS = ("airflow", "")  # Airflow's placeholder owner says nobody is responsible
# Modules a DAG file may not load when it is parsed (the DAG processor parses every file again and again): tasks
# import them when they run. Add the heavy libraries your tasks use (pandas, torch, ...).
HEAVY_AT_PARSE_TIME = ("sklearn", "joblib", "skops"{% if cookiecutter.storage_backend == "s3" %}, "boto3"{% endif %})


def policy_violations(dag: Any) -> list[str]:
    """Every way ``dag`` breaks the policy (empty when it complies)."""
    problems = []
    if REQUIRE_TAGS and not dag.tags:
        problems.append("has no tags")
    for task in dag.tasks:
        if task.owner in FORBIDDEN_OWNERS:
            problems.append(f"task {task.task_id} has no real owner ({task.owner!r})")
        if task.retries < MIN_RETRIES:
            problems.append(f"task {task.task_id} has {task.retries} retries, fewer than {MIN_RETRIES}")
        if task.execution_timeout is None:
            problems.append(f"task {task.task_id} has no execution_timeout: a hung task would hold its worker for ever")
    for arg in REQUIRED_DEFAULT_ARGS:
        if arg not in dag.default_args:
            problems.append(f"default_args has no {arg!r}")
    return problems
