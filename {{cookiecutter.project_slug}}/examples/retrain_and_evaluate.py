"""
### Retrain the model with other hyperparameters and evaluate it: an example to copy into dags/

`train_model` fits the project's model (`ml/model.py`) with this run's `c` and `seed` and saves it with
`save_model`, which returns a small signed reference: only that goes through XCom. `evaluate_model` loads the
model from it (`load_model` verifies it first) and returns the accuracy on the held-out split.
{%- if cookiecutter.storage_backend == "variables" %}
`delete_run_variables` deletes the run's Variables when it ends, success or failure: Variables live in the
metadata DB, so a DAG that saves there cleans up after itself.
{%- endif %}

It follows the rules tests/dags/dag_policy.py checks: tags; the shared `DEFAULT_ARGS` (owner, retries, timeout);
heavy imports inside the tasks, so the file parses fast. Copied into dags/, it runs with
`.venv/bin/python -m scripts.run_dag retrain_and_evaluate --conf '{"c": 0.5}'`.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag, task

from {{ cookiecutter.package_name }}.dag_defaults import DEFAULT_ARGS, START_DATE
{%- if cookiecutter.storage_backend == "variables" %}
from {{ cookiecutter.package_name }}.variables_teardown import delete_run_variables
{%- endif %}


@dag(
    schedule=None,
    start_date=START_DATE,
    default_args=DEFAULT_ARGS,
    tags=["ml", "example"],
    params={"seed": 7, "c": 0.1},
    doc_md=__doc__,
)
def retrain_and_evaluate() -> None:
    @task(multiple_outputs=False)  # one XCom, the reference (a task returning a dict gets one per key otherwise)
    def train_model(params: dict[str, Any]) -> dict[str, Any]:
        from airflow_model_handoff import save_model

        from {{ cookiecutter.package_name }}.ml.data import load_splits
        from {{ cookiecutter.package_name }}.ml.model import train

        splits = load_splits(params["seed"])
        return save_model(train(splits.x_train, splits.y_train, c=params["c"], seed=params["seed"]))

    @task
    def evaluate_model(model_ref: dict[str, Any], params: dict[str, Any]) -> float:
        from airflow_model_handoff import load_model

        from {{ cookiecutter.package_name }}.ml.data import load_splits
        from {{ cookiecutter.package_name }}.ml.model import accuracy

        splits = load_splits(params["seed"])
        return accuracy(load_model(model_ref), splits.x_holdout, splits.y_holdout)

    model_ref = train_model()
    evaluate_model(model_ref){% if cookiecutter.storage_backend == "variables" %} >> delete_run_variables().as_teardown(setups=model_ref){% endif %}


retrain_and_evaluate()
