"""Test-only DAG: a task handed a reference that another DAG run saved must refuse it, not load it."""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag, task

from handoff_tests.backend import BACKEND
from handoff_tests.project import START_DATE


@dag(dag_id="handoff_foreign_reference", schedule=None, start_date=START_DATE, catchup=False)
def handoff_foreign_reference() -> None:
    @task(multiple_outputs=False)
    def load_another_runs_model(**context: Any) -> dict[str, str]:
        from airflow_model_handoff import (
            ForeignRunError,
            RunScope,
            default_store,
        )

        store = default_store()
        ti = context["ti"]
        other_run = RunScope(ti.dag_id, f"{ti.run_id}-other", ti.task_id)
        foreign_ref = store.save({"weights": [1, 2, 3]}, "model", fmt="json", scope=other_run)
        try:
            store.load(foreign_ref)
        except ForeignRunError as exc:
            refused = str(exc)
        else:
            raise AssertionError("another run's reference was loaded")
        loaded_when_allowed = store.load(foreign_ref, allow_other_run=True)
        if BACKEND == "variables":  # Variables are global: this run deletes what it wrote for the other
            store.delete_run_artifacts(other_run.dag_id, other_run.run_id)
        return {"refused": refused, "loaded_when_allowed": str(loaded_when_allowed)}

    load_another_runs_model()


handoff_foreign_reference()
