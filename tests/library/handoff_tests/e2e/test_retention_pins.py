"""Retention through the scheduler never deletes what is still in use: a run that Airflow has not finished,
and the champions' models, whatever the policy says.

It runs the retention DAG with a policy that keeps one run per DAG, so it comes after the modules whose
checks read their runs' artifacts (pytest runs modules in name order) and needs nothing stored before it.
"""

from __future__ import annotations

import time

import pytest
from airflow_model_handoff.airflow_api import AirflowApi
from airflow_model_handoff.champion import (
    KEEP_CHAMPIONS,
    pinned_promotions,
    valid_promotions,
)

from handoff_tests.e2e.conftest import use_stack_storage, wait_for_state
from handoff_tests.e2e.metadata import MetadataDb
from handoff_tests.project import CHAMPION_ASSET_NAME
from handoff_tests.stores import BACKEND, only_on

from scripts.stack import Stack

HELD, RETENTION, MAIN, CONSUMER = "handoff_held_run", "handoff_retention", "train_and_score", "score_champion"
# More junk events than a page of the champion's history: anyone allowed to post asset events can add them.
JUNK_EVENTS = 110
# Oldest first: the policy keeps the newest run of each DAG only.
HELD_DAG_RUNS = ("oldest-finished", "held", "newest-finished")


def stored_runs(db: MetadataDb) -> set[tuple[str, str]]:
    """(DAG id, run id) of every run with an artifact in storage, looked at from outside Airflow's tasks."""
    if BACKEND == "variables":
        # Variable keys as Airflow stores them: handoff/<dag>/<run>/..., each id decoded (none here holds a '/').
        return {tuple(key.split("/")[1:3]) for key in db.variable_keys("handoff/")}
    from airflow_model_handoff import default_store

    return {(run.dag_id, run.run_id) for run in default_store().inventory().runs}


def finish_scheduled_retention(api: AirflowApi) -> None:
    """Unpaused, the retention DAG gets its daily run from the scheduler: let it finish before ours."""
    api.wait_for_dag(RETENTION)
    deadline = time.monotonic() + 180
    while not (daily := list(api.runs(RETENTION))):
        assert time.monotonic() < deadline, "the retention DAG was not scheduled"
        time.sleep(1)
    assert api.wait_for_runs(RETENTION, daily) == dict.fromkeys(daily, "success")


@pytest.fixture(scope="module")
def retention_while_held(
    local_api: AirflowApi, local_db: MetadataDb, local_stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> tuple[set, set, str]:
    """Three runs of one DAG, the middle one held mid-DAG while retention keeps one run per DAG; then released.
    Before retention, a flood of junk events on the champion asset pushes every promotion out of its newest page.

    Returns the stored runs before and after retention, and its log.
    """
    release = tmp_path_factory.mktemp("held") / "release"
    for dag_id in (HELD, MAIN):
        local_api.wait_for_dag(dag_id)
    finish_scheduled_retention(local_api)
    for run_id in HELD_DAG_RUNS:
        local_api.trigger(HELD, run_id=run_id, conf={"release_file": str(release) if run_id == "held" else ""})
        if run_id == "held":
            wait_for_state(local_api, HELD, run_id, "hold", "running")
        else:
            assert local_api.wait_for_runs(HELD, [run_id]) == {run_id: "success"}
    if BACKEND != "variables":  # a run's teardown deletes its Variables: none for retention to find
        local_api.trigger(MAIN, run_id="newest-unpinned", conf={"promote": "never"})
        assert local_api.wait_for_runs(MAIN, ["newest-unpinned"]) == {"newest-unpinned": "success"}

    for number in range(JUNK_EVENTS):
        local_api.create_asset_event(CHAMPION_ASSET_NAME, {"junk": number})
    with pytest.MonkeyPatch.context() as monkeypatch:
        use_stack_storage(local_stack, monkeypatch)
        before = stored_runs(local_db)
        policy = {"older_than_days": None, "keep_last": 1}
        retention_run = local_api.trigger(RETENTION, run_id="keep-one-per-dag", conf=policy)
        assert local_api.wait_for_runs(RETENTION, [retention_run]) == {retention_run: "success"}
        after = stored_runs(local_db)
    release.touch()
    assert local_api.wait_for_runs(HELD, ["held"]) == {"held": "success"}
    return before, after, local_api.log(RETENTION, retention_run, "delete_expired_artifacts", 1)


def champions(api: AirflowApi) -> set[tuple[str, str]]:
    """(DAG id, run id) of the current champion and the ones before it that retention keeps, junk or no junk."""
    history = valid_promotions(api.asset_events_newest_first(CHAMPION_ASSET_NAME))
    return {(p.reference.dag_id, p.reference.run_id) for p in pinned_promotions(history, KEEP_CHAMPIONS)}


def test_a_run_in_progress_keeps_its_artifacts(retention_while_held: tuple, local_db: MetadataDb) -> None:
    before, after, log = retention_while_held
    assert {(HELD, run_id) for run_id in HELD_DAG_RUNS} <= before
    assert (HELD, "newest-finished") in after, "the newest run of its DAG"
    assert (HELD, "oldest-finished") not in after, "an older, finished run goes by the policy"
    assert (HELD, "held") in after, "the policy keeps only the newest run, but the held run is not finished"
    assert "kept DAG 'handoff_held_run', run 'held': the run is not finished in Airflow" in log
    assert local_db.xcom(HELD, "held", "consume") == {"weights": [1, 2, 3]}, "the held run loaded its model after"


def test_the_champions_stay(retention_while_held: tuple, local_api: AirflowApi) -> None:
    _before, after, _log = retention_while_held
    pinned = champions(local_api)
    assert pinned, "the tests before this one promoted models"
    assert pinned <= after, "a champion's model was deleted"


@only_on("shared_fs", "s3")
def test_the_rest_of_the_main_dag_goes_by_the_policy(retention_while_held: tuple, local_api: AirflowApi) -> None:
    before, after, _log = retention_while_held
    pinned = champions(local_api)
    main_before = {run for run in before if run[0] == MAIN}
    main_after = {run for run in after if run[0] == MAIN}
    assert len(main_before - pinned) > 1, "the policy must have something to delete"
    assert main_after - pinned == {(MAIN, "newest-unpinned")}, "besides the champions, the newest run only"


def test_promotion_and_scoring_go_on_after_the_junk(retention_while_held: tuple, local_api: AirflowApi) -> None:
    """The junk events neither stop the next promotion nor its scoring (they were skipped with a warning)."""
    local_api.trigger(MAIN, run_id="after-the-junk", conf={"seed": 1, "c": 1.0, "promote": "always"})
    assert local_api.wait_for_runs(MAIN, ["after-the-junk"]) == {"after-the-junk": "success"}
    event = local_api.asset_events(CHAMPION_ASSET_NAME, limit=1, source_dag_id=MAIN, source_run_id="after-the-junk")
    assert event, "promote=always promotes a model that passed its gate"
    scoring = local_api.wait_for_triggered_run(CHAMPION_ASSET_NAME, event[0]["id"], CONSUMER)
    assert local_api.wait_for_runs(CONSUMER, [scoring]) == {scoring: "success"}
    assert local_api.xcom(CONSUMER, scoring, "score_with_champion")["champion_run_id"] == "after-the-junk"
