"""Fixtures that run DAGs through real Airflow processes: a scheduler whose LocalExecutor gives every task
a process of its own, talking to the API server as separate components do in production."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow_model_handoff.airflow_api import AirflowApi, admin_login
from airflow_model_handoff.local.ports import free_port

from handoff_tests.e2e.metadata import MetadataDb
from handoff_tests.project import PROJECT
from handoff_tests.stores import BACKEND, BUCKET

from scripts.stack import Stack, running_stack

TEST_DAGS = Path(__file__).parent / "dags"
LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"
# Airflow refuses run ids with '/', '..' or spaces by default; an admin may allow them. The handoff must
# stay safe either way, so the test stacks allow them and the tests use them.
# The tests read the handoff library's INFO lines ("saved ...", "verified ...") in task logs.
INFO_LOGS = {"AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO"}
PERMISSIVE_RUN_IDS = {
    "AIRFLOW__CORE__ALLOW_DOUBLE_DOT_IN_IDS": "True",
    "AIRFLOW__SCHEDULER__ALLOWED_RUN_ID_PATTERN": "^[ -~]+$",
}


def dag_bundles() -> str:
    """The project's DAGs plus the test-only DAGs, as two bundles."""
    folders = {"dags-folder": PROJECT / "dags", "handoff-tests": TEST_DAGS}
    return json.dumps(
        [{"name": name, "classpath": LOCAL_BUNDLE, "kwargs": {"path": str(path)}} for name, path in folders.items()]
    )


def storage_env(workdir: Path) -> dict[str, str]:
    """The handoff settings every task of the stack gets (and the tests use to look into storage)."""
    if BACKEND == "shared_fs":
        root = workdir / "models"
        root.mkdir(exist_ok=True)
        return {"HANDOFF_STORAGE": root.as_uri()}
    if BACKEND == "s3":
        storage = f"s3://{BUCKET}/e2e"
        return {"AIRFLOW_CONN_AWS_DEFAULT": os.environ["AIRFLOW_CONN_AWS_DEFAULT"], "HANDOFF_STORAGE": storage}
    return {"HANDOFF_STORAGE": "variables://handoff"}


def outage_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """s3: the outage DAG's connection, through a relay the test can cut (test_s3_outage.py); 5 MB parts, so a
    24 MB model goes up and down in parts."""
    if BACKEND != "s3":
        return {}
    from airflow_model_handoff.local.s3 import connection_json

    from handoff_tests.e2e.dags.handoff_s3_outage import OUTAGE_CONN_ID

    relay = request.getfixturevalue("s3_relay")
    return {f"AIRFLOW_CONN_{OUTAGE_CONN_ID.upper()}": connection_json(relay.url), "HANDOFF_S3_CHUNK_MB": "5"}


@pytest.fixture(scope="session")
def s3_relay(s3_endpoint: str) -> Iterator[Any]:
    """The relay in front of the local S3 server through which the outage DAG reaches S3 (test_s3_outage.py)."""
    from handoff_tests.s3_relay import Relay

    relay = Relay(int(s3_endpoint.rsplit(":", 1)[1]))
    yield relay
    relay.outage()


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Stack]:
    """API server, scheduler (LocalExecutor) and DAG processor on a fresh SQLite metadata DB."""
    workdir = tmp_path_factory.mktemp("local-stack")
    outage = outage_env(request)  # first: for s3 it starts the local S3 server whose connection storage_env names
    stack = Stack(
        home=workdir / "home",
        state_dir=workdir / "state",
        api_port=free_port(),
        log_port=free_port(),
        components=("api-server", "scheduler", "dag-processor"),
        env={
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": dag_bundles(),
            **INFO_LOGS,
            **PERMISSIVE_RUN_IDS,
            **storage_env(workdir),
            **outage,
        },
    )
    stack.migrate()
    with running_stack(stack):
        yield stack


@pytest.fixture(scope="session")
def local_api(local_stack: Stack) -> AirflowApi:
    return AirflowApi(local_stack.url, *admin_login(local_stack.home))


@pytest.fixture(scope="session")
def local_db(local_stack: Stack) -> MetadataDb:
    return MetadataDb(f"sqlite:///{local_stack.home / 'airflow.db'}")


def use_stack_storage(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point this test process at the stack's storage, to inspect what the tasks stored."""
    for name, value in stack.env.items():
        if name.startswith(("HANDOFF_", "AIRFLOW_CONN_")):
            monkeypatch.setenv(name, value)


def wait_for_state(api: AirflowApi, dag_id: str, run_id: str, task_id: str, state: str) -> None:
    """Poll until the task of the run is in ``state`` (a held run's ``hold`` is "running", say)."""
    deadline = time.monotonic() + 180
    while api.task_instances(dag_id, run_id).get(task_id, {}).get("state") != state:
        assert time.monotonic() < deadline, f"{task_id} of {run_id} never reached {state}"
        time.sleep(1)


@pytest.fixture
def stack_storage(local_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    use_stack_storage(local_stack, monkeypatch)
