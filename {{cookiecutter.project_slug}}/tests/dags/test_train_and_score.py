"""End to end: the main DAG through ``dag.test()`` against a real metadata DB and the real storage backend.

``dag.test()`` runs every task in this one process: it proves the DAG's logic. tests/e2e proves the
handoff across processes, through the scheduler.
"""

from __future__ import annotations

from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag

from {{ cookiecutter.package_name }}.ml.data import load_splits
from {{ cookiecutter.package_name }}.ml.model import accuracy, score, train

from tests.conftest import PROJECT
{%- if cookiecutter.storage_backend == "variables" %}
from tests.variable_keys import variable_key
{%- endif %}


def xcom_value(dag_run: Any, task_id: str) -> Any:
    """What a task of ``dag_run`` returned, read from the metadata DB."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id, key="return_value")
        ).first()
        return None if row is None else XComModel.deserialize_value(row)


@pytest.fixture(scope="module")
def dag() -> Any:
    return DagBag(dag_folder=str(PROJECT / "dags")).get_dag("train_and_score")
{%- if cookiecutter.storage_backend == "variables" %}


def handoff_variables() -> list[str]:
    """Handoff Variables in the metadata DB, read directly with SQL."""
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return list(session.scalars(select(Variable.key).where(Variable.key.like("handoff/%"))))
{%- endif %}


def test_run_succeeds_and_predictions_are_sensible(dag: Any) -> None:
    dag_run = dag.test(run_conf={"seed": 7, "c": 0.5, "min_accuracy": None, "promote": "always"})
    assert dag_run.state == "success"
    assert {ti.task_id: ti.state for ti in dag_run.get_task_instances()}["promote_model"] == "success"

    model_ref = xcom_value(dag_run, "train_model")
    assert model_ref["run_id"] == dag_run.run_id and model_ref["task_id"] == "train_model"
    assert model_ref["format"] == "joblib" and len(model_ref["sha256"]) == 64

    # The same seed and c give the same model: its predictions are what the DAG must have scored.
    splits = load_splits(7)
    expected_model = train(splits.x_train, splits.y_train, c=0.5, seed=7)
    expected = score(expected_model, splits.x_batch)
    assert accuracy(expected_model, splits.x_batch, splits.y_batch) >= 0.9
    evaluation = xcom_value(dag_run, "evaluate_model")  # signed and bound to the model
    assert evaluation["value"] == pytest.approx(accuracy(expected_model, splits.x_holdout, splits.y_holdout))
    assert (evaluation["threshold"], evaluation["passed"]) == (0.9, True)
    assert evaluation["model_sha256"] == model_ref["sha256"]
    scored = xcom_value(dag_run, "score_batch")
    assert scored["rows"] == len(splits.x_batch)
    assert scored["model_sha256"] == model_ref["sha256"]
    assert scored["predicted_benign"] == sum(p["prediction"] for p in expected)
{%- if cookiecutter.storage_backend == "variables" %}
    assert handoff_variables() == [variable_key(model_ref["uri"])], "the teardown deletes all but the champion"
{%- else %}

    from airflow_model_handoff import load_model

    stored = load_model(scored["predictions"])
    assert stored["model_sha256"] == model_ref["sha256"]
    assert stored["predictions"] == expected
{%- endif %}


def test_quality_gate_fails_the_run(dag: Any) -> None:
    dag_run = dag.test(run_conf={"min_accuracy": 1.0})
    assert dag_run.state == "failed"
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states["train_model"] == "success"
    assert states["evaluate_model"] == "failed"
    assert states["promote_model"] == states["score_batch"] == "upstream_failed"
{%- if cookiecutter.storage_backend == "variables" %}
    assert states["delete_run_variables"] == "success"
    run_prefix = variable_key(xcom_value(dag_run, "train_model")["uri"]).rsplit("/", 3)[0]
    assert [key for key in handoff_variables() if key.startswith(run_prefix + "/")] == [], "a failed run's too"
{%- endif %}


def test_a_run_can_raise_the_gate_but_not_lower_it(dag: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Anyone who can trigger a run chooses its params: min_accuracy 0 with promote=always must not let a useless
    model (c=1e-9 predicts one class) through the deployment's floor, MODEL_MIN_ACCURACY."""
    useless = {"seed": 7, "c": 1e-9, "min_accuracy": 0, "promote": "always"}
    dag_run = dag.test(run_conf=useless)
    assert dag_run.state == "failed"
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states["evaluate_model"] == "failed" and states["promote_model"] == "upstream_failed"
    monkeypatch.setenv("MODEL_MIN_ACCURACY", "0.5")  # the deployment lowers its floor: now the run decides
    assert dag.test(run_conf={**useless, "promote": "never"}).state == "success"


def test_a_champion_whose_model_is_gone_is_replaced(dag: Any) -> None:
    """A champion that cannot be loaded (deleted by hand, or held by the local S3 server, which forgets its objects
    when it stops) can be neither compared nor scored with: the next model that passes the gate replaces it, even
    one that would only tie with it."""
    conf = {"seed": 7, "c": 1.0, "min_accuracy": 0.9}  # all given: dag.test() keeps an earlier test's conf as params
    first = dag.test(run_conf={**conf, "promote": "always"})
    assert first.state == "success"
    delete_stored(xcom_value(first, "train_model"))
    second = dag.test(run_conf={**conf, "promote": "if_better"})  # the same model: a tie would keep a champion
    assert second.state == "success"
    assert {ti.task_id: ti.state for ti in second.get_task_instances()}["promote_model"] == "success"


def delete_stored(reference: dict[str, Any]) -> None:
    """Delete an artifact from storage, as an operator would, behind the handoff's back."""
{%- if cookiecutter.storage_backend == "variables" %}
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    with create_session() as session:
        assert session.execute(delete(Variable).where(Variable.key == variable_key(reference["uri"]))).rowcount == 1
{%- else %}
    from airflow_model_handoff import default_store

    store = default_store()
    assert store.delete([store.key_from_uri(reference["uri"])]) == ()
{%- endif %}
