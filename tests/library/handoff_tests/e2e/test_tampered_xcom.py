"""An attacker with XCom-edit permission, through Airflow's REST API, while a run waits between its producer and
its consumer: whatever they write in place of the producer's reference, the consumer refuses it with the matching
error, no deserialiser runs, and no stored artifact is lost.

It uses the held-run DAG of test_retention_pins.py, which runs before this module (pytest runs modules in name
order) and keeps one run per DAG: the runs here are made after it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from airflow_model_handoff import HandoffError, default_store
from airflow_model_handoff.airflow_api import AirflowApi
from airflow_model_handoff.variables import VariablesStore

from handoff_tests.e2e.conftest import use_stack_storage, wait_for_state

from scripts.stack import Stack

HELD = "handoff_held_run"
DONOR = "donor"  # a finished run whose own, genuine reference is one of the forgeries
# What the attacker writes over the producer's reference, and the error the consumer must fail with.
TAMPERINGS: dict[str, tuple[Callable[[dict, dict], Any], str]] = {
    "another-artifacts-reference": (lambda ref, donor: donor, "ForeignRunError"),
    "format-changed": (lambda ref, donor: {**ref, "format": "joblib"}, "SignatureError"),
    "run-id-changed": (lambda ref, donor: {**ref, "run_id": DONOR}, "SignatureError"),
    "signature-removed": (lambda ref, donor: {k: v for k, v in ref.items() if k != "signature"}, "SignatureError"),
}


def patch_xcom(api: AirflowApi, dag_id: str, run_id: str, task_id: str, value: Any) -> None:
    """Overwrite a task's return value, as anyone allowed to edit XComs can."""
    path = f"/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"
    api.request("PATCH", f"{path}/xcomEntries/return_value", json={"value": value, "map_index": -1})


def lost_artifacts(api: AirflowApi, refs: list[dict]) -> list[str]:
    """The artifacts of ``refs`` that are no longer stored as they were saved, and why."""
    store = default_store()
    if isinstance(store, VariablesStore):
        store.read_variable = api.variable  # outside a task, Variables are read through the REST API
    lost = []
    for ref in refs:
        try:
            store.verify_stored(ref)
        except HandoffError as exc:
            lost.append(f"{ref['uri']}: {exc}")
    return lost


@pytest.fixture(scope="module")
def tampered_runs(
    local_api: AirflowApi, local_stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """One run per tampering, each held after its producer saved while its XCom is patched, then released."""
    releases = tmp_path_factory.mktemp("tampered")
    local_api.wait_for_dag(HELD)
    local_api.trigger(HELD, run_id=DONOR, conf={"release_file": ""})
    assert local_api.wait_for_runs(HELD, [DONOR]) == {DONOR: "success"}
    donor = local_api.xcom(HELD, DONOR, "produce")
    originals = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        use_stack_storage(local_stack, monkeypatch)
        for run_id, (tamper, _error) in TAMPERINGS.items():  # one at a time: holding takes an executor slot
            local_api.trigger(HELD, run_id=run_id, conf={"release_file": str(releases / run_id)})
            wait_for_state(local_api, HELD, run_id, "hold", "running")
            originals[run_id] = local_api.xcom(HELD, run_id, "produce")
            patch_xcom(local_api, HELD, run_id, "produce", tamper(originals[run_id], donor))
            (releases / run_id).touch()
        states = local_api.wait_for_runs(HELD, list(TAMPERINGS))
        lost = lost_artifacts(local_api, [donor, *originals.values()])
    logs = {run_id: local_api.log(HELD, run_id, "consume", 1) for run_id in TAMPERINGS}
    return {"states": states, "logs": logs, "lost": lost}


@pytest.mark.parametrize("run_id", list(TAMPERINGS))
def test_the_consumer_refuses_the_edited_reference_before_any_deserialiser(
    tampered_runs: dict[str, Any], run_id: str
) -> None:
    assert tampered_runs["states"][run_id] == "failed"
    log, error = tampered_runs["logs"][run_id], TAMPERINGS[run_id][1]
    assert error in log, log
    assert "deserialising" not in log and "verified " not in log, "the stored bytes were read"


def test_no_stored_artifact_is_lost(tampered_runs: dict[str, Any]) -> None:
    assert tampered_runs["lost"] == []
