"""What retention must keep whatever its age: runs Airflow has not finished, and the champions' models.

Airflow, not file times, says which runs are still going: inside a task through the Task SDK, outside one
(the command line) through the REST API. The champions come from the champion asset's history, read newest first
until the current champion and the ``keep_champions`` before it are found among its valid promotions, however many
invalid events (junk posted through the REST API) come between them.
A pin is a reason to keep a stored run (a string), or None.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .champion import Promotion, history_in_task, pinned_promotions, valid_promotions
from .keys import RunScope
from .retention import PinReason
from .store import ArtifactStore, StoredRun

UNFINISHED_STATES = ["queued", "running"]


def run_segment_candidates(store: ArtifactStore, dag_id: str, run_id: str) -> list[tuple[str, str]]:
    """Every (DAG segment, run segment) the run's artifacts may be stored under: today's encoding first, then
    the legacy one (64-bit digests, keys stored before) when a shortened id makes it differ. Never a mix."""
    scope = RunScope(dag_id, run_id, "-")
    candidates = []
    for legacy in (False, True):
        dag_segment, run_segment = scope.run_prefix(store.key_component_chars, legacy=legacy).split("/")
        candidates.append((dag_segment, run_segment))
    return list(dict.fromkeys(candidates))


def champion_pins(
    store: ArtifactStore, history: Iterable[Promotion], keep_champions: int
) -> dict[tuple[str, str], str]:
    """(DAG segment, run segment) -> why, for the runs holding the current and the previous champions."""
    pins: dict[tuple[str, str], str] = {}
    for position, promotion in enumerate(pinned_promotions(history, keep_champions)):
        why = "the current champion" if position == 0 else f"champion no. {position} before the current one"
        for segments in run_segment_candidates(store, promotion.reference.dag_id, promotion.reference.run_id):
            pins.setdefault(segments, why)
    return pins


def shortened_id_pin(run: StoredRun, dag_has_unfinished_runs: Callable[[str], bool]) -> str | None:
    """For a run whose ids could not be decoded from its key (digest-shortened): keep it unless Airflow says that
    nothing of its DAG is still going."""
    if run.dag_id is None:
        return "its DAG id is shortened in the key, so Airflow cannot be asked whether the run is finished"
    if dag_has_unfinished_runs(run.dag_id):
        return "its run id is shortened in the key and its DAG has unfinished runs"
    return None


def pins_in_task(context: Any, store: ArtifactStore, keep_champions: int, champion_asset: Any) -> PinReason:
    """Pins inside an Airflow task with ``champion_asset`` (the project's Asset) among its inlets."""
    history = valid_promotions(history_in_task(lambda: context["inlet_events"][champion_asset]))
    champions = champion_pins(store, history, keep_champions)
    ti = context["ti"]

    def unfinished(dag_id: str, run_ids: list[str] | None = None) -> bool:
        return ti.get_dr_count(dag_id=dag_id, run_ids=run_ids, states=UNFINISHED_STATES) > 0

    def pin_reason(run: StoredRun) -> str | None:
        if why := champions.get((run.dag_id_segment, run.run_id_segment)):
            return why
        if run.dag_id is None or run.run_id is None:
            return shortened_id_pin(run, unfinished)
        return "the run is not finished in Airflow" if unfinished(run.dag_id, [run.run_id]) else None

    return pin_reason


def pins_from_api(api: Any, store: ArtifactStore, keep_champions: int, champion_asset_name: str) -> PinReason:
    """Pins outside a task, from Airflow's REST API (``api``: an ``AirflowApi``)."""
    history = valid_promotions(api.asset_events_newest_first(champion_asset_name))
    champions = champion_pins(store, history, keep_champions)
    unfinished_by_dag: dict[str, dict[str, str]] = {}

    def unfinished_runs(dag_id: str) -> dict[str, str]:
        """Run segment -> state of the DAG's unfinished runs (listed once per DAG)."""
        if dag_id not in unfinished_by_dag:
            body = {"dag_ids": [dag_id], "states": UNFINISHED_STATES, "page_limit": 1000}
            runs = api.request("POST", "/dags/~/dagRuns/list", json=body)["dag_runs"]
            unfinished_by_dag[dag_id] = {
                run_segment: run["state"]
                for run in runs
                for _dag_segment, run_segment in run_segment_candidates(store, dag_id, run["dag_run_id"])
            }
        return unfinished_by_dag[dag_id]

    def pin_reason(run: StoredRun) -> str | None:
        if why := champions.get((run.dag_id_segment, run.run_id_segment)):
            return why
        if run.dag_id is None:
            return shortened_id_pin(run, lambda dag_id: True)
        state = unfinished_runs(run.dag_id).get(run.run_id_segment)
        return f"the run is {state} in Airflow" if state else None

    return pin_reason
