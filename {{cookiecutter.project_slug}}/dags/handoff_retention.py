"""
### Delete the handoff artifacts of old runs

Runs daily and removes the artifacts of runs older than `older_than_days`,
or beyond the newest `keep_last` runs of each DAG. The same policy is
available from the command line (dry run unless `--apply`):
`python -m {{ cookiecutter.package_name }}.handoff retention --keep-last 20`.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param, dag, task

from {{ cookiecutter.package_name }}.dag_defaults import DEFAULT_ARGS, START_DATE


@dag(
    dag_id="handoff_retention",
    schedule="@daily",
    start_date=START_DATE,
    catchup=False,
    default_args=DEFAULT_ARGS,
    tags=["maintenance", "handoff"],
    params={
        "older_than_days": Param(30, type="number", minimum=0, description="Delete runs older than this"),
        "keep_last": Param(20, type="integer", minimum=0, description="Always delete beyond the newest K runs"),
        "dry_run": Param(False, type="boolean", description="Only list what would be deleted"),
    },
    doc_md=__doc__,
)
def handoff_retention() -> None:
    @task
    def delete_expired_artifacts(params: dict[str, Any]) -> int:
        from {{ cookiecutter.package_name }}.handoff import default_store
        from {{ cookiecutter.package_name }}.handoff.retention import apply_retention

        expired = apply_retention(
            default_store(),
            older_than_days=params["older_than_days"],
            keep_last=params["keep_last"],
            dry_run=params["dry_run"],
        )
        for run in expired:
            print(f"expired {run.dag_id_segment}/{run.run_id_segment}: {len(run.keys)} artifacts")
        return len(expired)

    delete_expired_artifacts()


handoff_retention()
