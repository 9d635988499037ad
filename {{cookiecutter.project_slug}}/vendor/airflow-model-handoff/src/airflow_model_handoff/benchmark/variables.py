"""variables: the three methods, each through Airflow Variables from inside a running task.

Variables are reachable only from a running task (the Task SDK), so every phase runs as the one task of the
``handoff_benchmark`` DAG, through ``dag.test()`` in the phase's own process. ``dag.test()`` serves the
Execution API in that same process, so the figures include the API server's share of each Variable write and
read (JSON, Fernet encryption, the metadata DB), which a deployment spreads over two processes.

- ``handoff``: this project's ``save_model`` / ``load_model`` (joblib through SHA-256, base64 in a Variable).
- ``naive``: the blog recipe, verbatim: ``Variable.set('model_params', json.dumps(model_params))`` and
  ``json.loads(Variable.get('model_params'))``; JSON holds a k-NN model's parameters only as lists.
- ``raw``: the arrays' bytes, base64-encoded (Variables hold text), in one Variable: the floor for this storage.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

import numpy as np
from airflow.sdk import DAG, Variable, task

# Absolute imports: DagBag loads this file as a top-level module.
from airflow_model_handoff.benchmark.workload import MIB, arrays_of, as_bytes, layout

if TYPE_CHECKING:
    from airflow_model_handoff.variables import VariablesStore

NAME = "variables"
DAG_ID = "handoff_benchmark"
# Variables live in the metadata DB and are reachable from inside a task only: one kind of load, in a task.
LOAD_CACHES = (None,)
SCRIPT_LOADS = False
# The store refuses models over HANDOFF_VARIABLES_MAX_BYTES (48 KiB by default): larger sizes are skipped.
DEFAULT_SIZES = "0.01,0.04"
RAW_KEY = f"{DAG_ID}/raw/trained_model"
# Room for joblib's framing around the arrays, so a model under the limit also serialises under it.
SERIALISATION_MARGIN = 4096


@contextmanager
def storage() -> Iterator[str]:
    """Variables in the project's metadata DB; the benchmark DAG's runs are deleted afterwards."""
    from airflow.configuration import conf

    try:
        yield f"Airflow Variables in {conf.get('database', 'sql_alchemy_conn')}"
    finally:
        from airflow.api.common.delete_dag import delete_dag
        from airflow.exceptions import DagNotFound

        with suppress(DagNotFound):
            delete_dag(DAG_ID)


def skip_reason(size_mb: float) -> str | None:
    limit = open_store().max_bytes
    if size_mb * MIB + SERIALISATION_MARGIN > limit:
        return f"over the variables backend's limit ({limit} bytes, HANDOFF_VARIABLES_MAX_BYTES): it refuses it"
    return None


def run_phase(args: dict) -> None:
    """Run the phase as the benchmark DAG's task, in this process."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    bag = DagBag(dag_folder=__file__)
    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(bag, "dags-folder", None)  # dag.test() runs only serialized DAGs
    dag_run = bag.get_dag(DAG_ID).test(run_conf=args)
    if dag_run.state != "success":
        raise SystemExit(f"the benchmark task ended {dag_run.state}; its log is above")


with DAG(DAG_ID, schedule=None, default_args={"owner": "benchmark", "retries": 0}, tags=["benchmark"]) as dag:

    @task
    def phase(**context: Any) -> None:
        from airflow_model_handoff.benchmark.phase import measure_and_write

        measure_and_write(**context["dag_run"].conf)

    phase()


def open_store() -> VariablesStore:
    from airflow_model_handoff import default_store

    return default_store()


def save_naive(model: Any, store: VariablesStore) -> str:
    model_params = {"params": model.get_params(), "X": model._fit_X.tolist(), "y": model.classes_[model._y].tolist()}
    Variable.set("model_params", json.dumps(model_params))  # serialize to JSON for ease
    return "model_params"


def load_naive(key: str, store: VariablesStore) -> Any:
    from sklearn.neighbors import KNeighborsClassifier

    stored_params = Variable.get("model_params")
    params = json.loads(stored_params)
    return KNeighborsClassifier(**params["params"]).fit(np.array(params["X"]), np.array(params["y"]))


def save_raw(model: Any, store: VariablesStore) -> dict:
    arrays = arrays_of(model)
    Variable.set(RAW_KEY, ",".join(base64.b64encode(as_bytes(a)).decode("ascii") for a in arrays))
    return {"key": RAW_KEY, "layout": layout(arrays)}


def load_raw(handle: dict, store: VariablesStore) -> list:
    encoded = Variable.get(handle["key"]).split(",")
    return [
        np.frombuffer(base64.b64decode(text), dtype=dtype).reshape(shape)
        for text, (shape, dtype) in zip(encoded, handle["layout"], strict=True)
    ]


SAVE = {"handoff": lambda model, store: store.save(model), "naive": save_naive, "raw": save_raw}
# Save and load run in two DAG runs (fresh processes), so the load names the saving run on purpose.
LOAD = {"handoff": lambda ref, store: store.load(ref, allow_other_run=True), "naive": load_naive, "raw": load_raw}


def spool_on_tmpfs(store: VariablesStore) -> None:
    """No method keeps temporary files here."""
    return None


def discard(method: str, handle: Any, store: VariablesStore) -> None:
    """Delete the Variables the save wrote (the handoff's run teardown does the same in the main DAG)."""
    if method == "handoff":
        store.delete_run_artifacts(handle["dag_id"], handle["run_id"])
    else:
        Variable.delete(handle if method == "naive" else handle["key"])
