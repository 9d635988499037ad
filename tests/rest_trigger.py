"""Run by a generated project's own Python, from its folder, for the template's slow test: trigger the main DAG through
Airflow's REST API as an outside client would, with the project's own API client, and print (as the last line, JSON)
what the test checks: the run's state, the model's reference, the consuming task's log and, where storage can be read
outside a task, the type of the model loaded from that reference.

Usage: python rest_trigger.py URL USERNAME PASSWORD SEED BACKEND
"""

from __future__ import annotations

import json
import sys

from airflow_model_handoff.airflow_api import AirflowApi

# The library under the project's name: what DAGs written before the library had its own still import.
from model_pipeline.handoff import load_model

MAIN = "train_and_score"


def main() -> None:
    url, username, password, seed, backend = sys.argv[1:]
    api = AirflowApi(url, username, password)
    api.wait_for_dag(MAIN)
    run_id = api.trigger(MAIN, conf={"seed": int(seed)})
    state = api.wait_for_runs(MAIN, [run_id], timeout=300)[run_id]
    model_ref = api.xcom(MAIN, run_id, "train_model")
    # Variables are readable inside tasks only (and the run's teardown deleted them).
    readable = model_ref is not None and backend != "variables"
    report = {
        "run_id": run_id,
        "state": state,
        "model_ref": model_ref,
        "consumer_log": api.log(MAIN, run_id, "score_batch", 1),
        "loaded_type": type(load_model(model_ref)).__name__ if readable else None,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
