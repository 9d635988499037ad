"""The teardown every DAG on the variables backend ends with: Variables are global, so each run deletes its own.

The one exception is a model that is a champion (the current one or one of the ``KEEP_CHAMPIONS`` before it,
from the champion asset's history): it stays for `score_champion` and for a rollback, and the teardown of a
later run deletes it once it has dropped out of those.

A DAG whose tasks load what an earlier task saved pairs the teardown with that task as its setup
(``delete_run_variables().as_teardown(setups=model_ref)``): clearing a task between the two after the run
ended then runs the setup again, so the cleared task finds a model, and the teardown again after it.

Light on purpose: DAG files import it at parse time; the store is imported when the task runs.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

from airflow.sdk import XComArg, task, teardown

from .assets import CHAMPION

# Valid promotions read from the asset's history (invalid events are skipped, however many): each one retires at
# most one champion, and every run that promotes ends with this teardown, so the retired champions are always
# among the newest promotions.
HISTORY_PROMOTIONS = 100

log = logging.getLogger(__name__)


def delete_this_runs_variables(**context: Any) -> None:
    """Delete every Variable this run saved, but a champion's model; delete retired champions' models."""
    from airflow_model_handoff import default_store
    from airflow_model_handoff.champion import (
        KEEP_CHAMPIONS,
        history_in_task,
        pinned_promotions,
        retired_promotions,
        valid_promotions,
    )

    store = default_store()
    events = history_in_task(lambda: context["inlet_events"][CHAMPION])
    history = list(itertools.islice(valid_promotions(events), HISTORY_PROMOTIONS))
    champions = {promotion.reference.uri for promotion in pinned_promotions(history, KEEP_CHAMPIONS)}
    ti = context["ti"]
    deleted = store.delete_run_artifacts(ti.dag_id, ti.run_id, keep_uris=champions)
    retired = store.delete_references([p.reference for p in retired_promotions(history, KEEP_CHAMPIONS)])
    log.info("deleted %d Variables of run %s and %d of retired champions", len(deleted), ti.run_id, len(retired))


def delete_run_variables() -> XComArg:
    """Add to the DAG being defined the teardown task that deletes the run's Variables, success or failure.

    A new task per call, not one module-level ``@teardown`` function: Airflow 3.3's decorated teardown
    records its trigger rule on its first call and refuses a second, so it could serve only one DAG.
    """
    return teardown(task(delete_this_runs_variables, task_id="delete_run_variables", inlets=[CHAMPION]))()
