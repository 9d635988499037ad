"""Test-only DAG: each task's first try fails, so the handoff must survive Airflow's retries.

`produce` saves a model and then dies on its first try, leaving that try's artifact behind; its
second try saves again, under its own try number. `consume` loads the model and then fails on its
first try; its second try must load the very same model.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import dag, task

from handoff_tests.backend import BACKEND
from handoff_tests.project import START_DATE, project_module


@dag(
    dag_id="handoff_retries",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=1)},
)
def handoff_retries() -> None:
    @task(multiple_outputs=False)
    def produce(**context: Any) -> dict[str, Any]:
        from airflow_model_handoff import save_model

        splits = project_module("ml.data").load_splits(3)
        ref = save_model(project_module("ml.model").train(splits.x_train, splits.y_train, c=0.5, seed=3))
        if context["ti"].try_number == 1:
            raise RuntimeError(f"first try dies after saving {ref['uri']}")
        return ref

    @task(multiple_outputs=False)
    def consume(model_ref: dict[str, Any], **context: Any) -> dict[str, Any]:
        from airflow_model_handoff import load_model

        model = load_model(model_ref)
        if context["ti"].try_number == 1:
            raise RuntimeError("first try fails after loading the model")
        predictions = model.predict(project_module("ml.data").load_splits(3).x_batch)
        return {"model_sha256": model_ref["sha256"], "predictions": predictions.tolist()}

    model_ref = produce()
    consumed = consume(model_ref)
    if BACKEND == "variables":
        [model_ref, consumed] >> project_module("variables_teardown").delete_run_variables()


handoff_retries()
