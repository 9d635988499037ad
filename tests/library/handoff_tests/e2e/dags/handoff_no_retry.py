"""Test-only DAG: with retries to spare, a handoff error that a retry cannot fix fails its task on the first try,
while one that may pass is retried."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import dag, task

from handoff_tests.project import START_DATE

RETRIES = 2


@dag(
    dag_id="handoff_no_retry",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    default_args={"retries": RETRIES, "retry_delay": timedelta(seconds=1)},
)
def handoff_no_retry() -> None:
    @task
    def save_in_an_unknown_format() -> None:
        from airflow_model_handoff import save_model

        save_model({"weights": [1, 2, 3]}, fmt="pikle")  # MisconfiguredError: the same on every try

    @task
    def load_a_reference_that_is_not_one() -> None:
        from airflow_model_handoff import load_model

        load_model({"uri": "anywhere"})  # MalformedReferenceError

    @task
    def storage_fails_once(**context: Any) -> None:
        from airflow_model_handoff import HandoffError
        from airflow_model_handoff.fail_fast import fail_fast_in_task

        with fail_fast_in_task():  # as the library's save and load do
            if context["ti"].try_number == 1:
                raise HandoffError("storage unreachable (simulated): this may pass")

    save_in_an_unknown_format()
    load_a_reference_that_is_not_one()
    storage_fails_once()


handoff_no_retry()
