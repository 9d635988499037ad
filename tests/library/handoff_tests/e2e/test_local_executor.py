"""The handoff across process boundaries: runs driven by the scheduler, each task in a process of its own.

Unlike ``dag.test()``, nothing here shares memory between tasks: the model reaches the next task
through the store or not at all.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from airflow_model_handoff import load_model
from airflow_model_handoff.airflow_api import AirflowApi, ApiError
from airflow_model_handoff.shared_fs import TEMP_PREFIX

from handoff_tests.e2e.dags.handoff_killed_producer import SAVING_STARTED, padding
from handoff_tests.e2e.expectations import expected_predictions, verified
from handoff_tests.e2e.metadata import MetadataDb
from handoff_tests.stores import BACKEND
from handoff_tests.variable_keys import champion_variable_keys, variable_key

MAIN = "train_and_score"
MAIN_TASKS = ("train_model", "evaluate_model", "score_batch")
# Run id -> run conf: odd ids that Airflow can carry end to end once an admin allows them (see the README:
# ids with '/' cannot reach tasks through Airflow's Execution API, whatever the storage).
# Their models are not promoted: test_lifecycle.py follows the champion.
CONCURRENT_RUNS = {
    "plain-run": {"seed": 1, "c": 0.1, "promote": "never"},
    "team a experiment 7": {"seed": 2, "c": 0.5, "promote": "never"},
    "..hidden..": {"seed": 3, "c": 1.0, "promote": "never"},
    "x..y z~:+1": {"seed": 4, "c": 2.0, "promote": "never"},
}
PLAIN_RUN = "plain-run"  # the one whose logs the API can serve (its id fits in a URL path)
# Test-only DAGs (tests/e2e/dags), triggered together with the main DAG's runs.
KILLED = "handoff_killed_producer"
NO_RETRY = "handoff_no_retry"  # its run fails: two of its tasks must
OTHER_DAGS = ("handoff_retries", "handoff_foreign_reference", KILLED, NO_RETRY)

pytestmark = pytest.mark.usefixtures("stack_storage")


@pytest.fixture(scope="module")
def finished_runs(local_api: AirflowApi, local_db: MetadataDb) -> dict[str, str]:
    """Trigger every run these tests look at, all at once, and wait for them: dag id -> run id.

    Meanwhile, kill the first try of `handoff_killed_producer`'s producer with SIGKILL in the middle of its save:
    once part of its model is in storage.
    """
    for dag_id in (MAIN, *OTHER_DAGS):
        local_api.wait_for_dag(dag_id)
    for run_id, conf in CONCURRENT_RUNS.items():
        assert local_api.trigger(MAIN, run_id=run_id, conf=conf) == run_id
    run_ids = {dag_id: local_api.trigger(dag_id) for dag_id in OTHER_DAGS}
    kill_mid_save(local_api, local_db, KILLED, run_ids[KILLED])
    assert local_api.wait_for_runs(MAIN, list(CONCURRENT_RUNS)) == dict.fromkeys(CONCURRENT_RUNS, "success")
    for dag_id, run_id in run_ids.items():
        assert local_api.wait_for_runs(dag_id, [run_id]) == {run_id: "failed" if dag_id == NO_RETRY else "success"}
    return run_ids


def kill_mid_save(api: AirflowApi, db: MetadataDb, dag_id: str, run_id: str, timeout: float = 300) -> None:
    """SIGKILL the producer's process once its log says that part of its model is stored and the rest is not."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if SAVING_STARTED in api.log(dag_id, run_id, "produce", 1):
                break
        except ApiError:  # no log yet
            pass
        assert time.monotonic() < deadline, "the producer never started saving"
        time.sleep(1)
    os.kill(db.task_instances(dag_id, run_id)["produce"]["pid"], signal.SIGKILL)


def test_each_task_runs_in_its_own_process_and_loads_from_storage(
    finished_runs: dict[str, str], local_api: AirflowApi, local_db: MetadataDb
) -> None:
    task_instances = local_db.task_instances(MAIN, PLAIN_RUN)
    pids = [task_instances[task_id]["pid"] for task_id in MAIN_TASKS]
    assert len(set(pids)) == len(MAIN_TASKS), f"tasks shared a process: {pids}"
    assert os.getpid() not in pids

    model_ref = local_db.xcom(MAIN, PLAIN_RUN, "train_model")
    assert f"saved {model_ref['uri']}" in local_api.log(MAIN, PLAIN_RUN, "train_model", 1)
    for consumer in ("evaluate_model", "score_batch"):
        log = local_api.log(MAIN, PLAIN_RUN, consumer, 1)
        assert verified(model_ref) in log, f"{consumer} did not load the model from storage"


def test_concurrent_runs_each_load_their_own_model(
    finished_runs: dict[str, str], local_api: AirflowApi, local_db: MetadataDb
) -> None:
    expected = {run_id: expected_predictions(conf["seed"], conf["c"]) for run_id, conf in CONCURRENT_RUNS.items()}
    assert len({str(predictions) for predictions in expected.values()}) == len(CONCURRENT_RUNS), "runs must differ"

    runs = local_api.runs(MAIN)
    latest_start = max(runs[run_id]["start_date"] for run_id in CONCURRENT_RUNS)
    earliest_end = min(runs[run_id]["end_date"] for run_id in CONCURRENT_RUNS)
    assert latest_start < earliest_end, "the runs did not overlap in time"

    model_refs = {run_id: local_db.xcom(MAIN, run_id, "train_model") for run_id in CONCURRENT_RUNS}
    assert len({ref["uri"] for ref in model_refs.values()}) == len(CONCURRENT_RUNS)
    assert len({ref["sha256"] for ref in model_refs.values()}) == len(CONCURRENT_RUNS)
    for run_id, model_ref in model_refs.items():
        assert model_ref["run_id"] == run_id
        scored = local_db.xcom(MAIN, run_id, "score_batch")
        assert scored["model_sha256"] == model_ref["sha256"], f"run {run_id!r} scored with another run's model"
        assert scored["predicted_benign"] == sum(p["prediction"] for p in expected[run_id])
        if BACKEND != "variables":  # the Variables are gone with their run: below
            stored = load_model(scored["predictions"])
            assert stored["model_sha256"] == model_ref["sha256"]
            assert stored["predictions"] == expected[run_id], f"run {run_id!r} predictions are not its own model's"
    if BACKEND == "variables":
        assert set(local_db.variable_keys("handoff/")) == champion_variable_keys(local_api), "teardowns delete the rest"


def test_retried_tasks_hand_over_the_successful_try(
    finished_runs: dict[str, str], local_api: AirflowApi, local_db: MetadataDb
) -> None:
    dag_id = "handoff_retries"
    run_id = finished_runs[dag_id]
    task_instances = local_db.task_instances(dag_id, run_id)
    assert task_instances["produce"]["try_number"] == 2
    assert task_instances["consume"]["try_number"] == 2

    model_ref = local_db.xcom(dag_id, run_id, "produce")
    assert model_ref["try_number"] == 2, "downstream must get the reference of the successful try"
    first_try = local_api.log(dag_id, run_id, "produce", 1)
    assert "saved " in first_try and f"saved {model_ref['uri']}" not in first_try, "each try writes its own key"

    for try_number in (1, 2):
        assert verified(model_ref) in local_api.log(dag_id, run_id, "consume", try_number)
    consumed = local_db.xcom(dag_id, run_id, "consume")
    assert consumed["model_sha256"] == model_ref["sha256"]
    assert consumed["predictions"] == [p["prediction"] for p in expected_predictions(seed=3, c=0.5)]


def test_errors_a_retry_cannot_fix_fail_the_first_try(finished_runs: dict[str, str], local_db: MetadataDb) -> None:
    """The DAG allows two retries: an unknown format and a malformed reference use none; a storage error, one."""
    task_instances = local_db.task_instances(NO_RETRY, finished_runs[NO_RETRY])
    tries = {task_id: (ti["state"], ti["try_number"]) for task_id, ti in task_instances.items()}
    assert tries == {
        "save_in_an_unknown_format": ("failed", 1),
        "load_a_reference_that_is_not_one": ("failed", 1),
        "storage_fails_once": ("success", 2),
    }


def test_a_task_refuses_another_runs_reference(
    finished_runs: dict[str, str], local_api: AirflowApi, local_db: MetadataDb
) -> None:
    dag_id = "handoff_foreign_reference"
    run_id = finished_runs[dag_id]
    outcome = local_db.xcom(dag_id, run_id, "load_another_runs_model")
    assert f"saved by run '{run_id}-other'" in outcome["refused"] and "allow_other_run=True" in outcome["refused"]
    assert outcome["loaded_when_allowed"] == str({"weights": [1, 2, 3]})
    if BACKEND == "variables":
        assert set(local_db.variable_keys("handoff/")) == champion_variable_keys(local_api)


def test_a_producer_killed_mid_save_is_retried_and_nothing_partial_is_read(
    finished_runs: dict[str, str], local_api: AirflowApi, local_db: MetadataDb, request: pytest.FixtureRequest
) -> None:
    """The kill lands while the store is writing; what the killed try had written is never readable at its key."""
    run_id = finished_runs[KILLED]
    assert local_db.task_instances(KILLED, run_id)["produce"]["try_number"] == 2
    model_ref = local_db.xcom(KILLED, run_id, "produce")
    assert model_ref["try_number"] == 2
    consumed = local_db.xcom(KILLED, run_id, "consume")
    assert consumed["model_sha256"] == model_ref["sha256"]
    assert consumed["predictions"] == [p["prediction"] for p in expected_predictions(seed=4, c=1.0)]
    killed_log = local_api.log(KILLED, run_id, "produce", 1)
    assert SAVING_STARTED in killed_log and "saved " not in killed_log, "the kill did not land in the save"
    killed_try = {"uri": model_ref["uri"].replace("/produce/2/", "/produce/1/")}
    if BACKEND == "shared_fs":
        backdoor = request.getfixturevalue("backdoor")
        with pytest.raises(FileNotFoundError):
            backdoor.read(killed_try)  # the killed try left nothing at its key
        [partial] = backdoor.path(killed_try).parent.iterdir()  # only the temporary file it was writing
        assert partial.name.startswith(TEMP_PREFIX) and partial.stat().st_size > padding().nbytes
    elif BACKEND == "s3":
        from botocore.exceptions import ClientError

        backdoor = request.getfixturevalue("backdoor")
        with pytest.raises(ClientError, match="NoSuchKey"):
            backdoor.read(killed_try)  # the killed try left no object at its key, partial or whole
        store, object_key = backdoor.locate(killed_try)
        [upload] = store.client.list_multipart_uploads(Bucket=store.bucket, Prefix=object_key)["Uploads"]
        parts = store.client.list_parts(Bucket=store.bucket, Key=object_key, UploadId=upload["UploadId"])["Parts"]
        assert [part["PartNumber"] for part in parts] == [1], "the kill must land between the upload's parts"
        # The incomplete upload's parts stay until retention aborts it, a day later (test_retention_s3.py).
        assert store.key_from_uri(killed_try["uri"]) in [pending.key for pending in store.inventory().unfinished]
    else:
        # The store wrote the task's index first: the run's teardown found the killed try's key there and deleted
        # whatever it held. Had the artifact been written first, it would be left behind, listed by no index.
        assert variable_key(killed_try["uri"]) not in local_db.variable_keys("handoff/")
        index = killed_try["uri"].removeprefix("airflow-variable://").replace("/produce/1/model", "/index/produce")
        assert f"Variable {index} is written" in killed_log, "the kill must land between the index and the model"
