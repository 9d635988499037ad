"""Test-only DAG: a run held mid-DAG, between saving its model and loading it, until a release file appears
(test_retention_pins.py runs retention meanwhile). With no release file it runs straight through."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from airflow.sdk import Param, dag, task

from handoff_tests.project import START_DATE

HOLD_SECONDS = 300


@dag(
    dag_id="handoff_held_run",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    params={"release_file": Param("", type="string", description="Hold until this file exists ('': no hold)")},
)
def handoff_held_run() -> None:
    @task(multiple_outputs=False)
    def produce() -> dict[str, Any]:
        from airflow_model_handoff import save_model

        return save_model({"weights": [1, 2, 3]}, fmt="json")

    @task
    def hold(params: dict[str, Any]) -> None:
        deadline = time.monotonic() + HOLD_SECONDS
        while params["release_file"] and not Path(params["release_file"]).exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"not released within {HOLD_SECONDS} s")
            time.sleep(0.5)

    @task
    def consume(model_ref: dict[str, Any]) -> dict[str, Any]:
        from airflow_model_handoff import load_model

        return load_model(model_ref)

    model_ref = produce()
    held = hold()
    model_ref >> held >> consume(model_ref)


handoff_held_run()
