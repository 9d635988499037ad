"""Retention through the scheduler never deletes what is still in use: a run that Airflow has not finished,
and the champions' models, whatever the policy says.

It runs the retention DAG with a policy that keeps one run per DAG, so it comes after the modules whose
checks read their runs' artifacts (pytest runs modules in name order) and needs nothing stored before it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from {{ cookiecutter.package_name }}.airflow_api import AirflowApi
from {{ cookiecutter.package_name }}.handoff import default_store, load_model
from {{ cookiecutter.package_name }}.handoff.champion import (
    CHAMPION_ASSET_NAME,
    KEEP_CHAMPIONS,
    pinned_promotions,
    promotion_history,
)

from scripts.stack import Stack
from tests.e2e.conftest import use_stack_storage
from tests.e2e.metadata import MetadataDb

HELD, RETENTION, MAIN = "handoff_held_run", "handoff_retention", "train_and_score"

pytestmark = pytest.mark.usefixtures("stack_storage")


def stored_runs() -> set[tuple[str | None, str | None]]:
    return {(run.dag_id, run.run_id) for run in default_store().inventory().runs}


def wait_for_state(api: AirflowApi, dag_id: str, run_id: str, task_id: str, state: str) -> None:
    deadline = time.monotonic() + 180
    while api.task_instances(dag_id, run_id).get(task_id, {}).get("state") != state:
        assert time.monotonic() < deadline, f"{task_id} of {run_id} never reached {state}"
        time.sleep(1)


@pytest.fixture(scope="module")
def retention_while_held(local_api: AirflowApi, local_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A held run (older) and a finished one (newer) of the same DAG; then retention keeping one run per DAG."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        use_stack_storage(local_stack, monkeypatch)
        return hold_a_run_through_retention(local_api, tmp_path_factory.mktemp("held") / "release")


def hold_a_run_through_retention(local_api: AirflowApi, release: Path) -> Any:
    for dag_id in (HELD, MAIN):
        local_api.wait_for_dag(dag_id)
    local_api.wait_for_dag(RETENTION)  # unpaused: the scheduler starts its daily run, which must finish first
    deadline = time.monotonic() + 180
    while not (daily := list(local_api.runs(RETENTION))):
        assert time.monotonic() < deadline, "the retention DAG was not scheduled"
        time.sleep(1)
    assert local_api.wait_for_runs(RETENTION, daily) == dict.fromkeys(daily, "success")
    local_api.trigger(HELD, run_id="held", conf={"release_file": str(release)})
    wait_for_state(local_api, HELD, "held", "hold", "running")
    local_api.trigger(HELD, run_id="finished")
    local_api.trigger(MAIN, run_id="newest-unpinned", conf={"promote": "never"})
    assert local_api.wait_for_runs(HELD, ["finished"]) == {"finished": "success"}
    assert local_api.wait_for_runs(MAIN, ["newest-unpinned"]) == {"newest-unpinned": "success"}

    before = stored_runs()
    policy = {"older_than_days": None, "keep_last": 1}
    retention_run = local_api.trigger(RETENTION, run_id="keep-one-per-dag", conf=policy)
    assert local_api.wait_for_runs(RETENTION, [retention_run]) == {retention_run: "success"}
    after = stored_runs()
    log = local_api.log(RETENTION, retention_run, "delete_expired_artifacts", 1)

    release.touch()
    assert local_api.wait_for_runs(HELD, ["held"]) == {"held": "success"}
    return before, after, log


def test_a_run_in_progress_keeps_its_artifacts(retention_while_held: Any, local_db: MetadataDb) -> None:
    before, after, log = retention_while_held
    assert {(HELD, "held"), (HELD, "finished")} <= before
    assert (HELD, "held") in after, "the policy keeps only the newest run, but the held run is not finished"
    assert "kept DAG 'handoff_held_run', run 'held': the run is not finished in Airflow" in log
    model_ref = local_db.xcom(HELD, "held", "produce")
    assert local_db.xcom(HELD, "held", "consume") == {"weights": [1, 2, 3]}, "the held run loaded its model after"
    assert load_model(model_ref) == {"weights": [1, 2, 3]}


def test_the_champions_stay_and_the_rest_goes_by_the_policy(retention_while_held: Any, local_api: AirflowApi) -> None:
    before, after, _log = retention_while_held
    pinned = pinned_promotions(promotion_history(local_api.asset_events(CHAMPION_ASSET_NAME)), KEEP_CHAMPIONS)
    assert pinned, "the tests before this one promoted models"
    champions = {(promotion.reference.dag_id, promotion.reference.run_id) for promotion in pinned}
    assert champions <= after, "a champion's model was deleted"
    for promotion in pinned:
        assert load_model(promotion.reference.to_dict()) is not None
    main_before = {run for run in before if run[0] == MAIN}
    main_after = {run for run in after if run[0] == MAIN}
    assert len(main_before - champions) > 1, "the policy must have something to delete"
    assert main_after - champions == {(MAIN, "newest-unpinned")}, "besides the champions, the newest run only"
    assert (HELD, "finished") in after, "the newest run of its DAG"
