"""The example DAG of examples/ really runs (``dag.test()``): one task saves a model, the next loads and evaluates it.

test_dag_integrity.py holds it to the DAG policy; this keeps what it shows true.
"""

from __future__ import annotations

import pytest
from airflow.dag_processing.bundles.manager import DagBundlesManager
from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

from {{ cookiecutter.package_name }}.ml.data import load_splits
from {{ cookiecutter.package_name }}.ml.model import (
    accuracy,
    train,
)

from tests.conftest import PROJECT
from tests.dags.test_train_and_score import (
{%- if cookiecutter.storage_backend == "variables" %}
    handoff_variables,
{%- endif %}
    xcom_value,
)
{%- if cookiecutter.storage_backend == "variables" %}
from tests.variable_keys import variable_key
{%- endif %}


def test_the_example_hands_the_model_it_trained_to_the_next_task() -> None:
    dagbag = DagBag(dag_folder=str(PROJECT / "examples"))
    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(dagbag, "dags-folder", None)  # as if it were in dags/: dag.test() runs only serialized DAGs
    dag_run = dagbag.get_dag("retrain_and_evaluate").test(run_conf={"seed": 3, "c": 0.01})
    assert dag_run.state == "success"

    model_ref = xcom_value(dag_run, "train_model")
    assert model_ref["run_id"] == dag_run.run_id and model_ref["task_id"] == "train_model"
    # evaluate_model got only the reference: it evaluated the model trained with this run's hyperparameters.
    splits = load_splits(3)
    model = train(splits.x_train, splits.y_train, c=0.01, seed=3)
    assert xcom_value(dag_run, "evaluate_model") == pytest.approx(accuracy(model, splits.x_holdout, splits.y_holdout))
{%- if cookiecutter.storage_backend == "variables" %}
    run_prefix = variable_key(model_ref["uri"]).rsplit("/", 3)[0]
    assert [key for key in handoff_variables() if key.startswith(run_prefix + "/")] == [], "the teardown deletes them"
{%- endif %}
