"""Test-only DAG: the producer's first try is killed (SIGKILL, by the test) in the middle of saving its model.

The first try's model carries an object whose pickling announces itself in the log, then stalls, so the
test can kill the process while bytes are being written. The retry saves a plain model.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from airflow.sdk import dag, task

from {{ cookiecutter.package_name }}.dag_defaults import START_DATE
{%- if cookiecutter.storage_backend == "variables" %}
from {{ cookiecutter.package_name }}.variables_teardown import delete_run_variables
{%- endif %}

SAVING_STARTED = "saving started; stalling until killed"


class StallsWhilePickled:
    def __reduce__(self) -> Any:
        print(SAVING_STARTED, flush=True)
        time.sleep(300)
        return (StallsWhilePickled, ())


@dag(
    dag_id="handoff_killed_producer",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=1)},
)
def handoff_killed_producer() -> None:
    @task(multiple_outputs=False)
    def produce(**context: Any) -> dict[str, Any]:
        from {{ cookiecutter.package_name }}.handoff import save_model
        from {{ cookiecutter.package_name }}.ml.data import load_splits
        from {{ cookiecutter.package_name }}.ml.model import train

        splits = load_splits(4)
        model = train(splits.x_train, splits.y_train, c=1.0, seed=4)
        if context["ti"].try_number == 1:
            return save_model({"model": model, "stall": StallsWhilePickled()})
        return save_model(model)

    @task(multiple_outputs=False)
    def consume(model_ref: dict[str, Any]) -> dict[str, Any]:
        from {{ cookiecutter.package_name }}.handoff import load_model
        from {{ cookiecutter.package_name }}.ml.data import load_splits

        predictions = load_model(model_ref).predict(load_splits(4).x_batch)
        return {"model_sha256": model_ref["sha256"], "predictions": predictions.tolist()}

    model_ref = produce()
    {% if cookiecutter.storage_backend == "variables" %}consumed = {% endif %}consume(model_ref)
{%- if cookiecutter.storage_backend == "variables" %}
    [model_ref, consumed] >> delete_run_variables()
{%- endif %}


handoff_killed_producer()
