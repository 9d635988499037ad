"""Airflow's own debugging commands, through the real `airflow` command line, as a user debugging a DAG runs them.

`airflow dags test` runs a whole DAG run in one process, each task a counted try (1 and up). `airflow tasks test`
runs one task and counts no try: the handoff saves what it makes as try 0, so that it never writes where a
counted try did (DESIGN.md section 3), not even in an existing run, where Airflow gives it that try's number.

The module has its own Airflow home (SQLite metadata DB) and storage; its tests run in order, each command
after the ones before, as in a debugging session.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from airflow_model_handoff import default_store
from airflow_model_handoff.keys import (
    TEST_TRY,
    decode_segment,
    parse_key,
)

from handoff_tests.e2e.expectations import verified
from handoff_tests.e2e.metadata import MetadataDb
from handoff_tests.stores import BACKEND, BUCKET
from handoff_tests.variable_keys import variable_key

AIRFLOW = Path(sys.executable).with_name("airflow")
MAIN, SCORING, RETENTION = "train_and_score", "score_champion", "handoff_retention"
# The date of the run `dags test` makes, and one no run has: `tasks test` makes a temporary run for it.
RUN_DATE, NEW_DATE = "2025-06-01", "2025-06-02"
TEMPORARY_RUN = "__airflow_temporary_run_"
SAVED_RE = re.compile(r"saved (\S+) \(\d+ bytes")


@dataclass
class Airflow:
    """The module's Airflow home and storage, and how to run the `airflow` command against them."""

    env: dict[str, str]
    storage: dict[str, str]
    db: MetadataDb

    def __call__(self, *args: str) -> str:
        """Run ``airflow ARGS``, which must exit 0; return its output."""
        done = subprocess.run([str(AIRFLOW), *args], env=self.env, capture_output=True, text=True, timeout=300)
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"airflow {' '.join(args)} exited {done.returncode}:\n{output[-5000:]}"
        return output

    def run_ids(self, dag_id: str) -> list[str]:
        """The DAG's runs still in the metadata DB."""
        query = sa.text("SELECT run_id FROM dag_run WHERE dag_id = :dag")
        with self.db.engine.connect() as connection:
            return list(connection.execute(query, {"dag": dag_id}).scalars())


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Airflow:
    """A fresh Airflow home with a migrated metadata DB; task logs at INFO, to read the handoff's lines."""
    workdir = tmp_path_factory.mktemp("airflow-commands")
    if BACKEND == "shared_fs":
        (workdir / "models").mkdir()
        storage = {"HANDOFF_STORAGE": (workdir / "models").as_uri()}
    elif BACKEND == "s3":
        request.getfixturevalue("s3_endpoint")
        storage = {"HANDOFF_STORAGE": f"s3://{BUCKET}/airflow-commands"}
    else:
        storage = {}
    env = {**os.environ, "AIRFLOW_HOME": str(workdir), "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO", **storage}
    airflow = Airflow(env, storage, MetadataDb(f"sqlite:///{workdir / 'airflow.db'}"))
    airflow("db", "migrate")
    return airflow


@pytest.fixture(autouse=True)
def module_storage(airflow: Airflow, monkeypatch: pytest.MonkeyPatch) -> None:
    """This process looks into the storage the commands used."""
    for name, value in airflow.storage.items():
        monkeypatch.setenv(name, value)


def is_stored(airflow: Airflow, uri: str) -> bool:
    if BACKEND == "variables":
        return variable_key(uri) in airflow.db.variable_keys("handoff/")
    store = default_store()
    return uri in {store.uri_for(key) for run in store.inventory().runs for key in run.keys}


def try_and_run(uri: str) -> tuple[int, str | None]:
    """The try number and the run id (None if shortened) that the key of ``uri`` holds."""
    store = default_store()
    parts = parse_key(store.key_from_uri(uri), store.key_component_chars)
    assert parts is not None
    return parts.try_number, decode_segment(parts.run)


@dataclass(frozen=True)
class MainRun:
    run_id: str
    model_ref: dict[str, Any]  # what train_model returned: the champion


@pytest.fixture(scope="module")
def main_run(airflow: Airflow) -> MainRun:
    """`airflow dags test` of the main DAG, promoting its model: the run the next commands debug."""
    airflow("dags", "test", MAIN, RUN_DATE, "--conf", json.dumps({"promote": "always"}))
    (run_id,) = airflow.run_ids(MAIN)
    return MainRun(run_id, airflow.db.xcom(MAIN, run_id, "train_model"))


def test_dags_test_runs_every_task_as_a_counted_try(airflow: Airflow, main_run: MainRun) -> None:
    task_instances = airflow.db.task_instances(MAIN, main_run.run_id)
    assert {(ti["state"], ti["try_number"]) for ti in task_instances.values()} == {("success", 1)}, task_instances
    assert main_run.model_ref["try_number"] == 1 and try_and_run(main_run.model_ref["uri"]) == (1, main_run.run_id)


@pytest.fixture(scope="module")
def scored(airflow: Airflow, main_run: MainRun) -> str:
    """`airflow tasks test` of the scoring DAG's task, in a new run: the URI of the predictions it saved."""
    output = airflow("tasks", "test", SCORING, "score_with_champion", NEW_DATE)
    assert verified(main_run.model_ref) in output, "it scored with the champion"
    (predictions_uri,) = SAVED_RE.findall(output)
    return predictions_uri


def test_tasks_test_scores_with_the_champion_and_saves_as_try_0(airflow: Airflow, scored: str) -> None:
    try_number, run_id = try_and_run(scored)
    assert try_number == TEST_TRY and (run_id is None or run_id.startswith(TEMPORARY_RUN))
    assert is_stored(airflow, scored)


@pytest.mark.usefixtures("scored")  # first: the champion's provenance is the XCom this test makes Airflow replace
def test_tasks_test_of_the_producer_in_an_existing_run_saves_as_try_0(airflow: Airflow, main_run: MainRun) -> None:
    """Airflow reruns the task under the try number it has (1) and counts no try: the handoff saves as try 0, so
    the model of try 1, the champion, is not overwritten."""
    output = airflow("tasks", "test", MAIN, "train_model", RUN_DATE)
    assert airflow.db.task_instances(MAIN, main_run.run_id)["train_model"]["try_number"] == 1
    tested = airflow.db.xcom(MAIN, main_run.run_id, "train_model")
    assert SAVED_RE.findall(output) == [tested["uri"]]
    assert tested["try_number"] == TEST_TRY and try_and_run(tested["uri"]) == (TEST_TRY, main_run.run_id)
    assert is_stored(airflow, tested["uri"]) and is_stored(airflow, main_run.model_ref["uri"])


def test_retention_deletes_what_tasks_test_saved_like_any_artifact(
    airflow: Airflow, main_run: MainRun, scored: str
) -> None:
    """Every run is expired (keep_last 0): the temporary run's try-0 predictions go; the champion's run stays."""
    conf = {"older_than_days": None, "keep_last": 0, "force": True}
    airflow("dags", "test", RETENTION, NEW_DATE, "--conf", json.dumps(conf))
    assert not is_stored(airflow, scored)
    assert is_stored(airflow, main_run.model_ref["uri"])
