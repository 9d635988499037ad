"""The teardown every DAG on the variables backend ends with: Variables are global, so each run deletes its own.

Light on purpose: DAG files import it at parse time; the store is imported when the task runs.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import XComArg, task, teardown


def delete_this_runs_variables(**context: Any) -> None:
    """Delete the Variables this run's tasks saved."""
    from .handoff import default_store

    ti = context["ti"]
    deleted = default_store().delete_run_artifacts(ti.dag_id, ti.run_id, list(context["dag"].task_ids))
    print(f"deleted {len(deleted)} Variables of run {ti.run_id}")


def delete_run_variables() -> XComArg:
    """Add to the DAG being defined the teardown task that deletes the run's Variables, success or failure.

    A new task per call, not one module-level ``@teardown`` function: Airflow 3.3's decorated teardown
    records its trigger rule on its first call and refuses a second, so it could serve only one DAG.
    """
    return teardown(task(delete_this_runs_variables, task_id="delete_run_variables"))()
