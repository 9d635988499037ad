"""
### Delete the handoff artifacts of old runs

Runs daily and removes the artifacts of runs older than `older_than_days`,
or beyond the newest `keep_last` runs of each DAG (null switches a rule off;
0 deletes every run, so it needs `force`). Only files or objects the store
made are deleted; the log lists what was left alone and why. Whatever their
age, it keeps the runs Airflow has not finished and the runs holding the
current champion and the `keep_champions` before it.
{%- if cookiecutter.storage_backend == "variables" %}
Each run's teardown already deletes its Variables: this collects those of
runs that never reached it (killed, or stopped by hand).
{%- else %}
The same policy is available from the command line (dry run unless `--apply`):
`python -m {{ cookiecutter.package_name }}.handoff retention --keep-last 20`.
{%- endif %}
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import Param, dag, task
from airflow_model_handoff.champion import KEEP_CHAMPIONS

from {{ cookiecutter.package_name }}.assets import CHAMPION
from {{ cookiecutter.package_name }}.dag_defaults import DEFAULT_ARGS, START_DATE

log = logging.getLogger(__name__)


@dag(
    dag_id="handoff_retention",
    schedule="@daily",
    start_date=START_DATE,
    catchup=False,
    default_args=DEFAULT_ARGS,
    tags=["maintenance", "handoff"],
    params={
        "older_than_days": Param(
            30, type=["null", "number"], minimum=0, description="Delete runs older than this (null: off)"
        ),
        "keep_last": Param(
            20, type=["null", "integer"], minimum=0, description="Always delete beyond the newest K runs (null: off)"
        ),
        "force": Param(False, type="boolean", description="Accept 0 for either rule: deletes every run"),
        "keep_champions": Param(
            KEEP_CHAMPIONS, type="integer", minimum=0, description="Earlier champions kept besides the current one"
        ),
        "dry_run": Param(False, type="boolean", description="Only list what would be deleted"),
    },
    doc_md=__doc__,
)
def handoff_retention() -> None:
    @task(inlets=[CHAMPION])
    def delete_expired_artifacts(params: dict[str, Any], **context: Any) -> int:
        from airflow_model_handoff import default_store
        from airflow_model_handoff.pins import pins_in_task
        from airflow_model_handoff.retention import (
            RetentionPolicy,
            apply_retention,
        )

        policy = RetentionPolicy(params["older_than_days"], params["keep_last"], force=params["force"])
        store = default_store()
        pin_reason = pins_in_task(context, store, params["keep_champions"], CHAMPION)
        report = apply_retention(store, policy, pin_reason=pin_reason, dry_run=params["dry_run"])
        for run in report.expired:
            log.info("expired %s: %d artifacts", run.label, len(run.keys))
        for run, reason in report.pinned:
            log.info("kept %s: %s", run.label, reason)
        for skipped in report.skipped:
            log.warning("left alone %s: %s", skipped.where, skipped.why)
        for write in report.discarded:
            verb = "would discard" if report.dry_run else "discarded"
            log.info("%s the unfinished write of %s, started %s", verb, write.key, write.started)
        return len(report.expired)

    delete_expired_artifacts()


handoff_retention()
