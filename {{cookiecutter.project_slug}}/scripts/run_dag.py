"""Run a DAG of this project once, end to end, and report where the model went and how it scored.

Usage: python scripts/run_dag.py [DAG_ID] [--conf JSON]. Exits non-zero if the run fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))


@contextlib.contextmanager
def storage() -> Iterator[str]:
{%- if cookiecutter.storage_backend == "s3" %}
    from {{ cookiecutter.package_name }}.handoff import default_store

    from scripts.local_s3 import s3_connection

    with s3_connection(default_store().bucket) as where:
        yield where
{%- elif cookiecutter.storage_backend == "shared_fs" %}
    from {{ cookiecutter.package_name }}.handoff import default_store

    yield f"directory {default_store().root}"
{%- else %}
    yield "Airflow Variables (deleted by the run's teardown)"
{%- endif %}


def xcom_value(dag_run: Any, task_id: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id, key="return_value")
        ).first()
        return None if row is None else XComModel.deserialize_value(row)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dag_id", nargs="?", default="train_and_score")
    parser.add_argument("--conf", default="{}", help="run conf as JSON, e.g. '{\"seed\": 7}'")
    args = parser.parse_args()

    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT / "dags"))
    if bag.import_errors or args.dag_id not in bag.dags:
        print(f"cannot load DAG {args.dag_id!r}: {bag.import_errors}", file=sys.stderr)
        return 1
    with storage() as where:
        print(f"storage: {where}")
        dag_run = bag.dags[args.dag_id].test(run_conf=json.loads(args.conf))
        state = str(dag_run.state)
        model_ref = xcom_value(dag_run, "train_model")
        accuracy = xcom_value(dag_run, "evaluate_model")
        scored = xcom_value(dag_run, "score_batch")
    print(f"\nrun {dag_run.run_id}: {state}")
    if model_ref:
        print(f"model:       {model_ref['uri']}")
        print(f"             sha256 {model_ref['sha256']}, {model_ref['size_bytes']} bytes")
    if accuracy is not None:
        print(f"accuracy:    {accuracy:.4f} on the held-out split")
    if scored:
        print(f"predictions: {scored['predictions']['uri']} ({scored['rows']} rows)")
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
