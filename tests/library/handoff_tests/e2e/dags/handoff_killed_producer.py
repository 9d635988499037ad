"""Test-only DAG: the producer's first try is killed (SIGKILL, by the test) in the middle of saving its model.

The first try stalls once part of its model has reached storage, and says so in its log, so the test can kill
the process while the store is writing. A file store: the model carries 12 MB of padding, then an object whose
pickling stalls: the padding is in the temporary file. s3: the model carries 12 MB of padding, so it goes up in three
parts (5 MB, the smallest S3 accepts), one at a time; the try stalls once the server has answered the first request
that carried bytes: the first part. variables: the try stalls once its first Variable write has reached the metadata
DB (the store writes two: the task's index, then the artifact).
The retry saves a plain model.
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import dag, task

from handoff_tests.backend import BACKEND
from handoff_tests.project import START_DATE, project_module

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

SAVING_STARTED = "part of the model is stored; stalling until killed"


def stall(what: str) -> None:
    """Say what has been stored so far, then wait for the test's SIGKILL."""
    log.warning("%s: %s", what, SAVING_STARTED)
    time.sleep(300)


def padding() -> np.ndarray:
    """12 MB of random numbers, so that part of the model is in storage before the save stalls."""
    import numpy as np

    return np.random.default_rng(4).random(1_500_000)


class StallsWhilePickled:
    """Pickled after the padding, which joblib has by then written through to the file."""

    def __reduce__(self) -> Any:
        stall("the padding is written")
        return (StallsWhilePickled, ())


def stalling_once_s3_has_bytes() -> AbstractContextManager[Any]:
    """Every request that carries bytes to S3 (a whole object or a part) stalls once the server has answered it."""
    from unittest import mock

    from botocore.client import BaseClient

    make_api_call = BaseClient._make_api_call

    def make_api_call_then_stall(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        response = make_api_call(client, operation, params)
        if operation in ("PutObject", "UploadPart"):
            stall(f"the server stored {operation} {params.get('PartNumber', '')} of {params['Key']}")
        return response

    return mock.patch.object(BaseClient, "_make_api_call", make_api_call_then_stall)


def stalling_once_a_variable_is_written() -> AbstractContextManager[Any]:
    """Every Variable write stalls once the metadata DB has it."""
    from unittest import mock

    from airflow.sdk import Variable

    set_variable = Variable.set

    def set_then_stall(key: str, value: Any, description: str | None = None, serialize_json: bool = False) -> None:
        set_variable(key, value, description, serialize_json)
        stall(f"Variable {key} is written")

    return mock.patch.object(Variable, "set", set_then_stall)


@dag(
    dag_id="handoff_killed_producer",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=1)},
)
def handoff_killed_producer() -> None:
    @task(multiple_outputs=False)
    def produce(**context: Any) -> dict[str, Any]:
        from airflow_model_handoff import save_model

        splits = project_module("ml.data").load_splits(4)
        model = project_module("ml.model").train(splits.x_train, splits.y_train, c=1.0, seed=4)
        if context["ti"].try_number > 1:
            return save_model(model)
        if BACKEND == "shared_fs":
            return save_model({"model": model, "padding": padding(), "stall": StallsWhilePickled()})
        if BACKEND == "s3":
            # Three 5 MB parts, one at a time: the kill lands after the first has reached S3, before the others.
            os.environ.update(HANDOFF_S3_CHUNK_MB="5", HANDOFF_S3_MAX_CONCURRENCY="1")
            with stalling_once_s3_has_bytes():
                return save_model({"model": model, "padding": padding()})
        with stalling_once_a_variable_is_written():
            return save_model(model)

    @task(multiple_outputs=False)
    def consume(model_ref: dict[str, Any]) -> dict[str, Any]:
        from airflow_model_handoff import load_model

        predictions = load_model(model_ref).predict(project_module("ml.data").load_splits(4).x_batch)
        return {"model_sha256": model_ref["sha256"], "predictions": predictions.tolist()}

    model_ref = produce()
    consumed = consume(model_ref)
    if BACKEND == "variables":
        [model_ref, consumed] >> project_module("variables_teardown").delete_run_variables()


handoff_killed_producer()
