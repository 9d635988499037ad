"""Soak: 10 concurrent runs, then 50 sequential runs of the main DAG, through the scheduler.

Every run must score with its own model, never another run's; every promotion is scored by `score_champion`
with the promoted model. Variables: every run's teardown must delete its Variables: once the runs are over, only the
pinned champions' models are left. Stored files or objects: afterwards the retention DAG, with its default policy,
must leave exactly the runs that policy keeps. Deselected unless asked for (`-m soak`: it takes minutes). It stops
by itself, with budgets set by the machine's own pace rather than a fixed time: a slower machine gets more time, a
soak that slows down fails.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from airflow_model_handoff import default_store, load_model
from airflow_model_handoff.airflow_api import FINISHED, AirflowApi
from airflow_model_handoff.champion import (
    pinned_promotions,
    promotion_history,
)

from handoff_tests.e2e.expectations import expected_predictions, verified
from handoff_tests.e2e.metadata import MetadataDb
from handoff_tests.project import CHAMPION_ASSET_NAME
from handoff_tests.stores import BACKEND, only_on
from handoff_tests.variable_keys import champion_variable_keys

MAIN, CONSUMER = "train_and_score", "score_champion"
CONCURRENT_RUNS = 10
SEQUENTIAL_RUNS = 50
# The concurrent batch must finish within this; so must each of the first sequential runs, which set the pace.
BATCH_SECONDS = 600
PACE_RUNS = 5
# The remaining sequential runs together may take at most this many times the pace of the first ones.
SLOWDOWN_ALLOWED = 3.0
RETENTION = "handoff_retention"

pytestmark = [pytest.mark.soak, pytest.mark.usefixtures("stack_storage")]


def run_conf(index: int) -> dict[str, Any]:
    """A different model per run: its own seed (data split and model) and one of three regularisations."""
    return {"seed": index, "c": (0.5, 1.0, 2.0)[index % 3]}


def seconds_left(deadline: float, what: str) -> float:
    left = deadline - time.monotonic()
    assert left > 0, f"{what} did not finish in time"
    return left


def run_one_at_a_time(api: AirflowApi, runs: dict[str, dict[str, Any]]) -> None:
    """Each run triggered once the previous one has succeeded. The first PACE_RUNS set the pace (each must finish
    within BATCH_SECONDS); the rest must keep it, SLOWDOWN_ALLOWED times over."""
    started = time.monotonic()
    deadline = started + BATCH_SECONDS
    for position, (run_id, conf) in enumerate(runs.items()):
        if position == PACE_RUNS:
            pace = (time.monotonic() - started) / PACE_RUNS
            deadline = time.monotonic() + SLOWDOWN_ALLOWED * pace * (len(runs) - PACE_RUNS)
            budget = deadline - time.monotonic()
            print(f"soak: {pace:.1f} s per run over the first {PACE_RUNS}; the other runs get {budget:.0f} s")
        elif position < PACE_RUNS:
            deadline = time.monotonic() + BATCH_SECONDS
        api.trigger(MAIN, run_id=run_id, conf=conf)
        while (state := api.run_state(MAIN, run_id)) not in FINISHED:
            seconds_left(deadline, f"run {run_id} (and the ones before it)")
            time.sleep(0.5)
        assert state == "success", f"run {run_id} {state}"


def finished_scorings(api: AirflowApi, deadline: float) -> dict[str, dict[str, Any]]:
    """Wait until every promotion has its `score_champion` run and those have finished: run id -> what it returned."""
    while True:
        events = api.asset_events(CHAMPION_ASSET_NAME, limit=100)
        scorings = [[run["run_id"] for run in e["created_dagruns"] if run["dag_id"] == CONSUMER] for e in events]
        if all(scorings):
            break
        seconds_left(deadline, "the scorings of the promotions")
        time.sleep(1)
    run_ids = sorted({run_id for runs in scorings for run_id in runs})
    finished = api.wait_for_runs(CONSUMER, run_ids, timeout=seconds_left(deadline, "the scorings"))
    assert finished == dict.fromkeys(run_ids, "success")
    return {run_id: api.xcom(CONSUMER, run_id, "score_with_champion") for run_id in run_ids}


@pytest.fixture(scope="module")
def soak_runs(local_api: AirflowApi) -> dict[str, dict[str, Any]]:
    """Trigger the concurrent batch and wait for it, then one run at a time: run id -> conf, oldest first."""
    local_api.wait_for_dag(MAIN)
    local_api.wait_for_dag(CONSUMER)  # unpaused: every promotion triggers a scoring
    start = time.monotonic()
    concurrent = {f"soak-concurrent-{i:02d}": run_conf(i) for i in range(CONCURRENT_RUNS)}
    for run_id, conf in concurrent.items():
        local_api.trigger(MAIN, run_id=run_id, conf=conf)
    states = local_api.wait_for_runs(MAIN, list(concurrent), timeout=BATCH_SECONDS)
    assert states == dict.fromkeys(concurrent, "success")
    concurrent_seconds = time.monotonic() - start

    indices = range(CONCURRENT_RUNS, CONCURRENT_RUNS + SEQUENTIAL_RUNS)
    sequential = {f"soak-sequential-{i:02d}": run_conf(i) for i in indices}
    run_one_at_a_time(local_api, sequential)
    sequential_seconds = time.monotonic() - start - concurrent_seconds
    print(
        f"soak: {CONCURRENT_RUNS} concurrent runs in {concurrent_seconds:.0f} s, then {SEQUENTIAL_RUNS} sequential "
        f"runs in {sequential_seconds:.0f} s ({sequential_seconds / SEQUENTIAL_RUNS:.1f} s per run)"
    )
    return {**concurrent, **sequential}


@pytest.fixture(scope="module")
def soak_scorings(soak_runs: dict[str, dict[str, Any]], local_api: AirflowApi) -> dict[str, dict[str, Any]]:
    """The `score_champion` runs of the soak's promotions, once all have finished (most did during the runs)."""
    scorings = finished_scorings(local_api, time.monotonic() + 180)
    promotions = len(local_api.asset_events(CHAMPION_ASSET_NAME, limit=100))
    print(f"soak: {promotions} promotions, scored by {len(scorings)} score_champion runs")
    return scorings


def test_every_promotion_is_scored_with_the_promoted_model(
    soak_runs: dict[str, dict[str, Any]],
    soak_scorings: dict[str, dict[str, Any]],
    local_api: AirflowApi,
    local_db: MetadataDb,
) -> None:
    assert soak_scorings, "the first run has no champion to beat: it must be promoted and scored"
    for run_id, scored in soak_scorings.items():
        assert scored["champion_run_id"] in soak_runs
        champion_ref = local_db.xcom(MAIN, scored["champion_run_id"], "train_model")
        assert scored["model_sha256"] == champion_ref["sha256"], f"{run_id} scored with another model"
        assert verified(champion_ref) in local_api.log(CONSUMER, run_id, "score_with_champion", 1)


def test_every_run_scores_with_its_own_model(
    soak_runs: dict[str, dict[str, Any]], local_api: AirflowApi, local_db: MetadataDb
) -> None:
    model_refs = {}
    for run_id, conf in soak_runs.items():
        model_ref = local_db.xcom(MAIN, run_id, "train_model")
        assert (model_ref["dag_id"], model_ref["run_id"]) == (MAIN, run_id)
        model_refs[run_id] = model_ref

        expected = expected_predictions(**conf)
        scored = local_db.xcom(MAIN, run_id, "score_batch")
        assert scored["model_sha256"] == model_ref["sha256"], f"run {run_id} scored with another run's model"
        assert scored["predicted_benign"] == sum(p["prediction"] for p in expected), run_id
        for consumer in ("evaluate_model", "score_batch"):
            assert verified(model_ref) in local_api.log(MAIN, run_id, consumer, 1), f"{run_id} {consumer}"
        if BACKEND != "variables":  # a run's Variables are gone with it
            predictions = load_model(scored["predictions"])
            assert predictions["model_sha256"] == model_ref["sha256"]
            assert predictions["predictions"] == expected, f"run {run_id}: the predictions are not its own model's"

    assert len({ref["uri"] for ref in model_refs.values()}) == len(soak_runs), "two runs shared a key"
    assert len({ref["sha256"] for ref in model_refs.values()}) == len(soak_runs), "two runs stored the same model"

    runs = local_api.runs(MAIN)
    concurrent = [run_id for run_id in soak_runs if run_id.startswith("soak-concurrent-")]
    latest_start = max(runs[run_id]["start_date"] for run_id in concurrent)
    earliest_end = min(runs[run_id]["end_date"] for run_id in concurrent)
    assert latest_start < earliest_end, "the concurrent runs did not overlap in time"


@only_on("variables")
def test_no_run_leaves_a_variable_behind(
    soak_scorings: dict[str, dict[str, Any]], local_api: AirflowApi, local_db: MetadataDb
) -> None:
    assert set(local_db.variable_keys("handoff/")) == champion_variable_keys(local_api), (
        "each run's teardown deletes its Variables, but the pinned champions' models"
    )


def stored_runs() -> dict[tuple[str, str], tuple[str, ...]]:
    """(DAG segment, run segment) -> artifact keys, for every run in storage."""
    return {(run.dag_id_segment, run.run_id_segment): run.keys for run in default_store().inventory().runs}


def key_segments(model_ref: dict[str, Any]) -> tuple[str, str]:
    """The DAG and run segments of the reference's storage key (each id is encoded into one segment)."""
    dag_segment, run_segment = default_store().key_from_uri(model_ref["uri"]).split("/")[:2]
    return dag_segment, run_segment


@only_on("shared_fs", "s3")
def test_retention_keeps_exactly_what_its_policy_says_and_the_champions(
    soak_runs: dict[str, dict[str, Any]],
    soak_scorings: dict[str, dict[str, Any]],
    local_api: AirflowApi,
    local_db: MetadataDb,
) -> None:
    """Unpaused, the retention DAG runs once for its latest interval, with its default params."""
    params = local_api.request("GET", f"/dags/{RETENTION}/details")["params"]
    keep_last, older_than_days = params["keep_last"]["value"], params["older_than_days"]["value"]
    history = promotion_history(local_api.asset_events(CHAMPION_ASSET_NAME, limit=100))
    champions = [p.reference.run_id for p in pinned_promotions(history, params["keep_champions"]["value"])]
    assert keep_last < SEQUENTIAL_RUNS and older_than_days > 0, "the policy must expire some of the soak's runs"
    model_refs = {run_id: local_db.xcom(MAIN, run_id, "train_model") for run_id in soak_runs}
    main_segment = key_segments(model_refs[next(iter(soak_runs))])[0]
    before = stored_runs()

    local_api.wait_for_dag(RETENTION)  # unpauses it: the scheduler creates its run
    deadline = time.monotonic() + 180
    while not (retention_runs := list(local_api.runs(RETENTION))):
        assert time.monotonic() < deadline, "the retention DAG was not scheduled"
        time.sleep(1)
    assert local_api.wait_for_runs(RETENTION, retention_runs, timeout=180) == dict.fromkeys(retention_runs, "success")

    # Nothing here is older than older_than_days: the newest keep_last runs of each DAG stay, and the champions,
    # every other goes. The sequential runs finished one after another, so the last keep_last of them are the main
    # DAG's newest; any other DAG (score_champion's; the e2e tests' own) has fewer runs than that.
    newest = list(soak_runs)[-keep_last:]
    assert set(champions) - set(newest), "some champion must be older than the newest runs, or nothing is tested"
    after = stored_runs()
    assert sorted(run for run in after if run[0] == main_segment) == sorted(
        {key_segments(model_refs[run_id]) for run_id in [*newest, *champions]}
    )
    assert {run for run in after if run[0] != main_segment} == {run for run in before if run[0] != main_segment}
    assert all(set(keys) == set(before[run]) for run, keys in after.items()), "a kept run lost an artifact"
    expired = sum(local_db.xcom(RETENTION, run_id, "delete_expired_artifacts") for run_id in retention_runs)
    assert expired == len(before) - len(after)
    for run_id in {*newest, *champions}:  # what is kept still loads, verified
        assert type(load_model(model_refs[run_id])).__name__ == "Pipeline"
