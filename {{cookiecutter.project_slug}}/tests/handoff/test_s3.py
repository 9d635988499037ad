"""s3 specifics against a real S3 server over HTTP: clear errors, credentials never printed."""

from __future__ import annotations

import json

import pytest

from {{ cookiecutter.package_name }}.handoff import (
    ArtifactNotFoundError,
    HandoffError,
    MisconfiguredError,
    RunScope,
)
from {{ cookiecutter.package_name }}.handoff.s3 import S3Store

from scripts.local_s3 import connection_json
from tests.s3_relay import Relay

SCOPE = RunScope("dag", "run", "task", 1)


def test_large_artifacts_go_up_in_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    monkeypatch.setenv("HANDOFF_S3_CHUNK_MB", "5")
    store = S3Store()
    array = np.arange(3_000_000, dtype=np.float64)  # 24 MB: five parts
    ref = store.save(array, scope=SCOPE)
    head = store.client.head_object(Bucket=store.bucket, Key=store.object_key(store.key_from_uri(ref["uri"])))
    assert "-" in head["ETag"], "a multipart upload has an ETag of the form <md5>-<parts>"
    np.testing.assert_array_equal(store.load(ref), array)


def test_missing_bucket_is_a_clear_error() -> None:
    with pytest.raises(MisconfiguredError, match="bucket 'no-such-bucket' does not exist"):
        S3Store(bucket="no-such-bucket").save({"a": 1}, fmt="json", scope=SCOPE)


def test_missing_object_is_a_clear_error() -> None:
    store = S3Store()
    ref = store.save({"a": 1}, fmt="json", scope=SCOPE)
    store.client.delete_object(Bucket=store.bucket, Key=store.object_key(store.key_from_uri(ref["uri"])))
    with pytest.raises(ArtifactNotFoundError, match="not found"):
        store.load(ref)


def test_missing_credentials_are_a_clear_error_that_prints_none(monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = json.loads(monkeypatch.delenv("AIRFLOW_CONN_AWS_DEFAULT", raising=False) or "{}")
    monkeypatch.setenv("AIRFLOW_CONN_NO_CREDS", json.dumps({"conn_type": "aws", "extra": endpoint.get("extra", {})}))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(MisconfiguredError, match="no AWS credentials") as raised:
        S3Store(conn_id="no_creds").save({"a": 1}, fmt="json", scope=SCOPE)
    assert "local-secret" not in str(raised.value)


def test_an_outage_during_upload_or_download_fails_clearly_and_a_retry_succeeds(
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    relay = Relay(int(s3_endpoint.rsplit(":", 1)[1]))
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", connection_json(relay.url))
    monkeypatch.setenv("HANDOFF_S3_CHUNK_MB", "5")
    model = np.random.default_rng(0).random(3_000_000)  # 24 MB: five parts

    relay.cut_after(8 * 2**20, "upload")  # the server goes away in the middle of the upload
    with pytest.raises(HandoffError, match=r"cannot reach S3 for s3://.*/task/1/model: .*the task can be retried"):
        S3Store().save(model, scope=RunScope("dag", "run", "task", 1))
    relay.restore()
    ref = S3Store().save(model, scope=RunScope("dag", "run", "task", 2))  # what Airflow's retry does

    store = S3Store()
    listed = store.client.list_objects_v2(Bucket=store.bucket, Prefix=store.object_key("dag/run/task"))
    assert [item["Key"].rsplit("/", 2)[-2] for item in listed["Contents"]] == ["2"], "no object of the failed try"

    relay.cut_after(8 * 2**20, "download")  # and again in the middle of the download
    with pytest.raises(HandoffError, match=r"cannot reach S3 for s3://.*/task/2/model: .*the task can be retried"):
        S3Store().load(ref)
    relay.restore()
    np.testing.assert_array_equal(S3Store().load(ref), model)
