"""Test-only DAG: S3 goes away in the middle of the producer's upload, then of the consumer's download.

Its tasks reach S3 through a relay (tests/s3_relay.py) that the test cuts and restores; no other DAG uses
that connection, so an outage cannot touch another run. The model carries 24 MB of padding: with the test
stack's 5 MB parts, the upload and the download go in parts and the cut falls in the middle of them.
`retry_delay` gives the test time to bring S3 back before the retry starts.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import dag, task

from handoff_tests.project import START_DATE, project_module

if TYPE_CHECKING:
    import numpy as np

OUTAGE_CONN_ID = "aws_s3_outage"
SEED, C = 5, 1.0


def padding(seed: int) -> np.ndarray:
    """24 MB of random numbers: five 5 MB parts."""
    import numpy as np

    return np.random.default_rng(seed).random(3_000_000)


def outage_store() -> Any:
    """The configured store, reached through the relay's connection."""
    from dataclasses import replace

    from airflow_model_handoff.storage import configured_location, open_store

    return open_store(replace(configured_location(), conn_id=OUTAGE_CONN_ID))


@dag(
    dag_id="handoff_s3_outage",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=10)},
)
def handoff_s3_outage() -> None:
    @task(multiple_outputs=False)
    def produce() -> dict[str, Any]:
        splits = project_module("ml.data").load_splits(SEED)
        model = project_module("ml.model").train(splits.x_train, splits.y_train, c=C, seed=SEED)
        return outage_store().save({"model": model, "padding": padding(SEED)})

    @task(multiple_outputs=False)
    def consume(model_ref: dict[str, Any]) -> dict[str, Any]:
        import hashlib

        loaded = outage_store().load(model_ref)
        return {
            "model_sha256": model_ref["sha256"],
            "predictions": loaded["model"].predict(project_module("ml.data").load_splits(SEED).x_batch).tolist(),
            "padding_sha256": hashlib.sha256(loaded["padding"].tobytes()).hexdigest(),
        }

    consume(produce())


handoff_s3_outage()
