"""The model's life across DAGs, through the scheduler: promoted by `train_and_score`, scored by `score_champion`
on the promotion's asset event, left alone when not better, rolled back with the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from airflow_model_handoff.airflow_api import AirflowApi

from handoff_tests.e2e.expectations import verified
from handoff_tests.e2e.metadata import MetadataDb
from handoff_tests.project import CHAMPION_ASSET_NAME, PACKAGE
from handoff_tests.stores import BACKEND, only_on
from handoff_tests.variable_keys import champion_variable_keys, variable_key

from scripts.stack import Stack

MAIN, CONSUMER = "train_and_score", "score_champion"
# The same holdout (seed 1) for every run; c=1.0 scores 0.956 on it, c=0.01 0.921, c=1e-9 (one class) about 0.63.
CHAMPION_CONF = {"seed": 1, "c": 1.0, "promote": "always"}
WEAKER_CONF = {"seed": 1, "c": 0.01}
FORCED_CONF = {"seed": 1, "c": 0.01, "promote": "always"}
# Anyone who can trigger a run chooses its params: no gate, promote whatever comes out. MODEL_MIN_ACCURACY holds.
USELESS_CONF = {"seed": 1, "c": 1e-9, "min_accuracy": 0, "promote": "always"}

pytestmark = pytest.mark.usefixtures("stack_storage")


def lifecycle_model(db: MetadataDb, name: str) -> dict[str, Any]:
    return db.xcom(MAIN, f"lifecycle-{name}", "train_model")


def train(api: AirflowApi, run_id: str, conf: dict[str, Any], state: str = "success") -> None:
    api.trigger(MAIN, run_id=run_id, conf=conf)
    assert api.wait_for_runs(MAIN, [run_id]) == {run_id: state}


def promotion_event(api: AirflowApi, run_id: str) -> dict | None:
    """The champion event the run emitted, if it promoted its model."""
    events = api.asset_events(CHAMPION_ASSET_NAME, limit=1, source_dag_id=MAIN, source_run_id=run_id)
    return events[0] if events else None


def scoring_of(api: AirflowApi, event: dict) -> tuple[dict, str]:
    """What the `score_champion` run triggered by ``event`` returned, and its task's log."""
    run_id = api.wait_for_triggered_run(CHAMPION_ASSET_NAME, event["id"], CONSUMER)
    assert api.wait_for_runs(CONSUMER, [run_id]) == {run_id: "success"}
    return api.xcom(CONSUMER, run_id, "score_with_champion"), api.log(CONSUMER, run_id, "score_with_champion", 1)


def handoff_command(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m <package>.handoff ...` as a user runs it next to the stack: Airflow through its REST API."""
    env = {**os.environ, **stack.env, "AIRFLOW_API_URL": stack.url, "AIRFLOW_HOME": str(stack.home)}
    command = [sys.executable, "-m", f"{PACKAGE}.handoff", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def lifecycle(local_api: AirflowApi, local_db: MetadataDb) -> dict[str, dict]:
    """Four training runs: promoted, not better (so not promoted), promoted with promote=always, and a useless
    model whose run asked for no gate (failed at the deployment's floor)."""
    for dag_id in (MAIN, CONSUMER):
        local_api.wait_for_dag(dag_id)
    runs = {"champion": CHAMPION_CONF, "weaker": WEAKER_CONF, "forced": FORCED_CONF, "useless": USELESS_CONF}
    for name, conf in runs.items():
        train(local_api, f"lifecycle-{name}", conf, "failed" if name == "useless" else "success")
    return {name: lifecycle_model(local_db, name) for name in runs}


def test_a_promotion_is_scored_by_the_consumer_dag_with_that_model(
    lifecycle: dict[str, dict], local_api: AirflowApi
) -> None:
    champion = lifecycle["champion"]
    event = promotion_event(local_api, "lifecycle-champion")
    assert event is not None, "promote=always must promote"
    assert event["extra"]["reference"] == champion
    assert event["extra"]["holdout_accuracy"] == pytest.approx(0.956, abs=0.001)
    scored, log = scoring_of(local_api, event)
    assert verified(champion) in log
    assert (scored["champion_run_id"], scored["model_sha256"]) == ("lifecycle-champion", champion["sha256"])


def test_a_model_that_is_not_better_is_not_promoted(lifecycle: dict[str, dict], local_api: AirflowApi) -> None:
    states = {task_id: ti["state"] for task_id, ti in local_api.task_instances(MAIN, "lifecycle-weaker").items()}
    assert states["promote_model"] == "skipped" and states["score_batch"] == "success"
    assert "does not beat the champion's 0.9561" in local_api.log(MAIN, "lifecycle-weaker", "promote_model", 1)
    assert promotion_event(local_api, "lifecycle-weaker") is None, "no event, so no scoring run uses the model"
    scorings = [local_api.xcom(CONSUMER, run_id, "score_with_champion") for run_id in local_api.runs(CONSUMER)]
    assert lifecycle["weaker"]["uri"] not in {scored["predictions"]["uri"] for scored in scorings if scored}
    assert all(scored["champion_run_id"] != "lifecycle-weaker" for scored in scorings if scored)


def test_promote_always_replaces_a_better_champion(lifecycle: dict[str, dict], local_api: AirflowApi) -> None:
    forced = lifecycle["forced"]
    event = promotion_event(local_api, "lifecycle-forced")
    assert event is not None
    scored, log = scoring_of(local_api, event)
    assert verified(forced) in log
    assert scored["model_sha256"] == forced["sha256"]


def test_rollback_makes_an_earlier_model_the_champion_again(
    lifecycle: dict[str, dict], local_api: AirflowApi, local_stack: Stack
) -> None:
    champion = lifecycle["champion"]
    rolled_back = handoff_command(local_stack, "promote", "--run-id", "lifecycle-champion")
    assert rolled_back.returncode == 0, rolled_back.stderr
    assert f"sha256 {champion['sha256']}" in rolled_back.stdout

    event = local_api.asset_events(CHAMPION_ASSET_NAME, limit=1)[0]
    assert event["extra"]["reference"] == champion and event["source_run_id"] is None
    scored, log = scoring_of(local_api, event)
    assert verified(champion) in log
    assert scored["model_sha256"] == champion["sha256"]

    shown = handoff_command(local_stack, "champion")
    assert shown.returncode == 0 and "'lifecycle-champion'" in shown.stdout and champion["sha256"] in shown.stdout


def test_rollback_refuses_a_run_without_a_stored_model(lifecycle: dict[str, dict], local_stack: Stack) -> None:
    refused = handoff_command(local_stack, "promote", "--run-id", "no-such-run")
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "error: run 'no-such-run' of DAG 'train_and_score' has no model that passed its quality gate "
        "(train_model or evaluate_model recorded nothing): nothing to promote"
    )
    if BACKEND == "variables":
        # The weaker run's model was never a champion: its teardown deleted it.
        gone = handoff_command(local_stack, "promote", "--run-id", "lifecycle-weaker")
        assert gone.returncode == 1 and "is no longer stored" in gone.stderr


def test_a_run_cannot_lower_the_gate(lifecycle: dict[str, dict], local_api: AirflowApi) -> None:
    states = {task_id: ti["state"] for task_id, ti in local_api.task_instances(MAIN, "lifecycle-useless").items()}
    assert states["evaluate_model"] == "failed" and states["promote_model"] == "upstream_failed"
    assert "is below the quality gate 0.9" in local_api.log(MAIN, "lifecycle-useless", "evaluate_model", 1)
    assert promotion_event(local_api, "lifecycle-useless") is None


def test_a_posted_event_cannot_make_a_gate_failed_model_the_champion(
    lifecycle: dict[str, dict], local_api: AirflowApi, local_stack: Stack
) -> None:
    """A REST user posts the useless model's genuine, signed reference as a promotion: with a false accuracy, and
    with the genuine evaluation of another model. No scoring run uses it; the champion stays."""
    before = handoff_command(local_stack, "champion").stdout
    useless, champion_evaluation = lifecycle["useless"], api_xcom(local_api, "champion", "evaluate_model")
    for extra, why in (
        ({"reference": useless, "holdout_accuracy": 0.99}, "it carries no signed model reference and evaluation"),
        ({"reference": useless, "evaluation": champion_evaluation, "holdout_accuracy": 0.99}, "not the model"),
    ):
        event = local_api.create_asset_event(CHAMPION_ASSET_NAME, extra)
        run_id = local_api.wait_for_triggered_run(CHAMPION_ASSET_NAME, event["id"], CONSUMER)
        assert local_api.wait_for_runs(CONSUMER, [run_id]) == {run_id: "success"}
        assert local_api.task_instances(CONSUMER, run_id)["score_with_champion"]["state"] == "skipped"
        log = local_api.log(CONSUMER, run_id, "score_with_champion", 1)
        assert "ignoring champion event of " in log and why in log
    after = handoff_command(local_stack, "champion")
    assert after.returncode == 0 and after.stdout == before and useless["sha256"] not in after.stdout


def api_xcom(api: AirflowApi, name: str, task_id: str) -> Any:
    return api.xcom(MAIN, f"lifecycle-{name}", task_id)


def test_an_evaluation_xcom_created_or_patched_cannot_promote(
    lifecycle: dict[str, dict], local_api: AirflowApi, local_stack: Stack
) -> None:
    """A REST user writes the gate's XCom: created for the gate-failed run (a plain accuracy, or another model's
    genuine evaluation), patched on a run that passed (a higher accuracy). `promote --run-id` refuses them all."""
    champion_evaluation = api_xcom(local_api, "champion", "evaluate_model")
    useless = xcom_path("lifecycle-useless", "evaluate_model")
    for forged in (0.97, champion_evaluation):
        local_api.request("DELETE", f"{useless}/return_value", missing_ok=True)
        local_api.request("POST", useless, json={"key": "return_value", "value": forged, "map_index": -1})
        refused = handoff_command(local_stack, "promote", "--run-id", "lifecycle-useless")
        assert refused.returncode == 1 and "has no signed evaluation showing" in refused.stderr, refused.stderr
    weaker = api_xcom(local_api, "weaker", "evaluate_model")
    patched = {**weaker, "value": 1.0}
    path = xcom_path("lifecycle-weaker", "evaluate_model") + "/return_value"
    local_api.request("PATCH", path, json={"value": patched, "map_index": -1})
    refused = handoff_command(local_stack, "promote", "--run-id", "lifecycle-weaker")
    assert refused.returncode == 1 and "does not carry a valid signature" in refused.stderr, refused.stderr
    local_api.request("PATCH", path, json={"value": weaker, "map_index": -1})  # as it was: a rollback target


def xcom_path(run_id: str, task_id: str) -> str:
    return f"/dags/{MAIN}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries"


@only_on("variables")
def test_only_the_pinned_champions_keep_variables(
    lifecycle: dict[str, dict], local_api: AirflowApi, local_db: MetadataDb
) -> None:
    """Every run's teardown deletes its Variables but a pinned champion's model, and retired champions' models.

    After the rollback to the first champion, two more promotions push the forced model out of the pinned ones.
    """
    for name, c in (("fourth", 0.5), ("fifth", 2.0)):
        train(local_api, f"lifecycle-{name}", {"seed": 1, "c": c, "promote": "always"})
        scoring_of(local_api, promotion_event(local_api, f"lifecycle-{name}"))  # its run's Variables too
    pinned = {variable_key(lifecycle_model(local_db, name)["uri"]) for name in ("fifth", "fourth", "champion")}
    assert champion_variable_keys(local_api) == pinned
    assert set(local_db.variable_keys("handoff/")) == pinned, "only the pinned champions' models stay"
    assert variable_key(lifecycle["forced"]["uri"]) not in pinned, "the forced model, retired, is gone"
