"""Clearing tasks of a finished `train_and_score` run, as an operator does in the UI or through the REST API: the
scheduler runs them again and they load a verified model again.

On the variables backend the run's teardown has deleted the model by then: `train_model` is the teardown's setup,
so clearing a task between them trains the model again first, and the teardown cleans up again after.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from airflow_model_handoff.airflow_api import AirflowApi

from handoff_tests.e2e.expectations import verified
from handoff_tests.e2e.metadata import MetadataDb
from handoff_tests.stores import BACKEND, only_on
from handoff_tests.variable_keys import champion_variable_keys

MAIN, RUN_ID = "train_and_score", "clear-rerun"
CLEARED = ("evaluate_model", "score_batch")
# Not promoted: test_lifecycle.py follows the champion.
CONF = {"seed": 1, "c": 1.0, "promote": "never"}

pytestmark = pytest.mark.usefixtures("stack_storage")


def clear(api: AirflowApi, dag_id: str, run_id: str, task_ids: tuple[str, ...]) -> None:
    """Clear the tasks of a run (what the UI's Clear does): the scheduler runs them again."""
    body = {"dag_run_id": run_id, "task_ids": list(task_ids), "dry_run": False, "only_failed": False}
    api.request("POST", f"/dags/{quote(dag_id, safe='')}/clearTaskInstances", json=body)


def run_variables(db: MetadataDb, api: AirflowApi) -> set[str]:
    """The run's Variables that are not a pinned champion's model: its teardown must have deleted them all."""
    return set(db.variable_keys(f"handoff/{MAIN}/{RUN_ID}/")) - champion_variable_keys(api)


@pytest.fixture(scope="module")
def cleared_run(local_api: AirflowApi, local_db: MetadataDb) -> None:
    """The run, finished, then with CLEARED cleared and finished again."""
    local_api.wait_for_dag(MAIN)
    local_api.trigger(MAIN, run_id=RUN_ID, conf=CONF)
    assert local_api.wait_for_runs(MAIN, [RUN_ID]) == {RUN_ID: "success"}
    if BACKEND == "variables":
        assert run_variables(local_db, local_api) == set(), "the teardown deleted the model before the clear"
    clear(local_api, MAIN, RUN_ID, CLEARED)
    assert local_api.wait_for_runs(MAIN, [RUN_ID]) == {RUN_ID: "success"}


@pytest.mark.usefixtures("cleared_run")
def test_cleared_tasks_run_again_and_load_a_verified_model(local_api: AirflowApi, local_db: MetadataDb) -> None:
    task_instances = local_api.task_instances(MAIN, RUN_ID)
    model_ref = local_db.xcom(MAIN, RUN_ID, "train_model")
    for task_id in CLEARED:
        assert (task_instances[task_id]["state"], task_instances[task_id]["try_number"]) == ("success", 2), task_id
        assert verified(model_ref) in local_api.log(MAIN, RUN_ID, task_id, 2), task_id


@only_on("variables")
@pytest.mark.usefixtures("cleared_run")
def test_clearing_trains_the_model_again_and_the_teardown_cleans_up_again(
    local_api: AirflowApi, local_db: MetadataDb
) -> None:
    task_instances = local_api.task_instances(MAIN, RUN_ID)
    for task_id in ("train_model", "delete_run_variables"):
        assert (task_instances[task_id]["state"], task_instances[task_id]["try_number"]) == ("success", 2), task_id
    assert local_db.xcom(MAIN, RUN_ID, "train_model")["try_number"] == 2, "the cleared tasks loaded the new model"
    assert run_variables(local_db, local_api) == set(), "every Variable of the run but the champions' is gone"


@only_on("shared_fs", "s3")
@pytest.mark.usefixtures("cleared_run")
def test_the_stored_model_is_loaded_again_not_trained_again(local_api: AirflowApi, local_db: MetadataDb) -> None:
    assert local_api.task_instances(MAIN, RUN_ID)["train_model"]["try_number"] == 1
    assert local_db.xcom(MAIN, RUN_ID, "train_model")["try_number"] == 1
