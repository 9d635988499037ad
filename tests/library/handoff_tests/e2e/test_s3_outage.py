"""S3 goes away in the middle of a transfer and comes back, under the scheduler: Airflow's retry recovers.

The outage DAG's tasks reach S3 through a relay (tests/s3_relay.py) that stops relaying after some bytes
and refuses new connections, then comes back on the same port with the data intact, as a restarted S3
server does. First the producer's upload is cut, then the consumer's download; each time the test waits
for the try to fail and brings S3 back before Airflow starts the retry.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
from airflow_model_handoff.airflow_api import AirflowApi
from botocore.exceptions import ClientError

from handoff_tests.e2e.dags.handoff_s3_outage import SEED, C, padding
from handoff_tests.e2e.expectations import expected_predictions, verified
from handoff_tests.e2e.metadata import MetadataDb
from handoff_tests.s3_relay import Relay

DAG_ID = "handoff_s3_outage"
CUT_AFTER = 8 * 2**20  # bytes into a 24 MB transfer
RETRYABLE = "; the task can be retried"

pytestmark = pytest.mark.usefixtures("stack_storage")


@pytest.fixture
def relay(s3_relay: Relay) -> Iterator[Relay]:
    """The stack's relay, back up and disarmed whatever the test did."""
    yield s3_relay
    s3_relay.restore()


def wait_for_retry(db: MetadataDb, run_id: str, task_id: str, timeout: float = 300) -> None:
    """Poll until the task's first try has failed and Airflow has scheduled its retry."""
    deadline = time.monotonic() + timeout
    while (ti := db.task_instances(DAG_ID, run_id).get(task_id, {})).get("state") != "up_for_retry":
        assert ti.get("state") not in ("success", "failed"), f"{task_id} try {ti['try_number']} ended {ti['state']}"
        assert time.monotonic() < deadline, f"{task_id} did not fail within {timeout:.0f} s: {ti}"
        time.sleep(0.5)
    assert ti["try_number"] == 1


def restore_before_retry(relay: Relay, db: MetadataDb, run_id: str, task_id: str) -> None:
    """Bring S3 back, and make sure the retry had not started yet (else retry_delay is too short)."""
    assert not relay.up, f"{task_id} failed, but not because of the outage"
    relay.restore()
    ti = db.task_instances(DAG_ID, run_id)[task_id]
    assert (ti["state"], ti["try_number"]) == ("up_for_retry", 1), f"the retry started before S3 was back: {ti}"


def test_an_s3_outage_fails_the_try_clearly_and_the_airflow_retry_succeeds(
    relay: Relay, local_api: AirflowApi, local_db: MetadataDb, backdoor: Any
) -> None:
    local_api.wait_for_dag(DAG_ID)
    relay.cut_after(CUT_AFTER, "upload")
    run_id = local_api.trigger(DAG_ID)
    wait_for_retry(local_db, run_id, "produce")
    restore_before_retry(relay, local_db, run_id, "produce")
    relay.cut_after(CUT_AFTER, "download")  # the producer's retry receives far fewer bytes than that
    wait_for_retry(local_db, run_id, "consume")
    restore_before_retry(relay, local_db, run_id, "consume")
    assert local_api.wait_for_runs(DAG_ID, [run_id]) == {run_id: "success"}

    task_instances = local_db.task_instances(DAG_ID, run_id)
    assert [task_instances[task_id]["try_number"] for task_id in ("produce", "consume")] == [2, 2]
    model_ref = local_db.xcom(DAG_ID, run_id, "produce")
    assert model_ref["try_number"] == 2
    failed_upload = model_ref["uri"].replace("/produce/2/", "/produce/1/")
    produce_log = local_api.log(DAG_ID, run_id, "produce", 1)
    assert f"cannot reach S3 for {failed_upload}: " in produce_log and RETRYABLE in produce_log
    with pytest.raises(ClientError, match="NoSuchKey"):
        backdoor.read({"uri": failed_upload})  # the failed upload left no object, partial or whole

    consume_log = local_api.log(DAG_ID, run_id, "consume", 1)
    assert f"cannot reach S3 for {model_ref['uri']}: " in consume_log and RETRYABLE in consume_log
    assert "verified " not in consume_log and "deserialising" not in consume_log, "a partial download was read"
    assert verified(model_ref) in local_api.log(DAG_ID, run_id, "consume", 2)
    consumed = local_db.xcom(DAG_ID, run_id, "consume")
    assert consumed["model_sha256"] == model_ref["sha256"]
    assert consumed["predictions"] == [p["prediction"] for p in expected_predictions(seed=SEED, c=C)]
    assert consumed["padding_sha256"] == hashlib.sha256(padding(SEED).tobytes()).hexdigest()
