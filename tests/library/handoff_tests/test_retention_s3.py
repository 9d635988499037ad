"""s3 retention only ever deletes keys of the grammar under its own prefix, says which deletions failed, and
aborts the multipart uploads killed saves left behind. Against a real S3 server over HTTP; ``now`` is injected.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from airflow_model_handoff import (
    HandoffError,
    MisconfiguredError,
    RunScope,
    default_store,
)
from airflow_model_handoff.keys import artifact_key
from airflow_model_handoff.retention import (
    RetentionPolicy,
    apply_retention,
)
from airflow_model_handoff.s3 import S3Store

from handoff_tests.stores import BUCKET, s3_store

POLICY = RetentionPolicy(older_than_days=30, keep_last=20)  # the README's example
LATER = datetime.now(UTC) + timedelta(days=60)  # every object saved by these tests is older than 30 days by then


def no_pins(run: object) -> None:
    return None


def keys_in(store: S3Store, prefix: str) -> list[str]:
    listed = store.client.list_objects_v2(Bucket=store.bucket, Prefix=prefix)
    return sorted(obj["Key"] for obj in listed.get("Contents", []))


def put(store: S3Store, key: str) -> str:
    store.client.put_object(Bucket=store.bucket, Key=key, Body=b"not the store's")
    return key


def save(store: S3Store, run_id: str) -> str:
    """Save one artifact of ``run_id``; return its object key."""
    ref = store.save({"run": run_id}, fmt="json", scope=RunScope("dag", run_id, "train", 1))
    return store.object_key(store.key_from_uri(ref["uri"]))


def test_foreign_keys_under_the_prefix_and_other_prefixes_are_left_alone(s3_prefix: str) -> None:
    store = default_store()
    expired = save(store, "old-run")
    foreign = [
        put(store, f"{s3_prefix}/README"),
        put(store, f"{s3_prefix}/dag/old-run/train/01/model"),  # a try is never written 01
        put(store, f"{s3_prefix}/dag/old-run/train/1/model/extra"),
        put(store, f"{s3_prefix}/dag/r%2e%2e/train/1/model"),
        put(store, f"{s3_prefix}/dag/old run/train/1/model"),
    ]
    neighbour = put(store, f"{s3_prefix}-neighbour/dag/run/train/1/model")  # same string prefix, not under it

    report = apply_retention(store, POLICY, pin_reason=no_pins, now=LATER, dry_run=False)

    assert [run.run_id for run in report.expired] == ["old-run"]
    assert keys_in(store, s3_prefix) == sorted([*foreign, neighbour])
    assert expired not in keys_in(store, s3_prefix)
    assert sorted(s.where for s in report.skipped) == sorted(f"s3://{store.bucket}/{key}" for key in foreign)
    assert all(s.why.startswith("a foreign name") for s in report.skipped)


def test_an_empty_prefix_is_refused(s3_prefix: str) -> None:
    """Without a prefix the whole bucket would be listed: whatever else lives there is not the store's to clean."""
    bystander = put(default_store(), f"{s3_prefix}/dag/run/train/1/model")
    with pytest.raises(MisconfiguredError, match="retention needs a prefix"):
        apply_retention(s3_store(prefix=""), POLICY, pin_reason=no_pins, now=LATER, dry_run=False)
    assert keys_in(default_store(), s3_prefix) == [bystander]


@pytest.fixture
def bucket_refusing_one_delete(s3_endpoint: str, s3_prefix: str) -> Iterator[tuple[S3Store, str]]:
    """A bucket of its own whose policy denies deleting one artifact's key; removed afterwards."""
    store = s3_store(bucket=f"retention-{uuid.uuid4().hex[:12]}")
    store.client.create_bucket(Bucket=store.bucket)
    protected = store.object_key(artifact_key(RunScope("dag", "run-protected", "train", 1), "model"))
    deny = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:DeleteObject",
        "Resource": f"arn:aws:s3:::{store.bucket}/{protected}",
    }
    store.client.put_bucket_policy(Bucket=store.bucket, Policy=json.dumps({"Statement": [deny]}))
    yield store, protected
    store.client.delete_bucket_policy(Bucket=store.bucket)
    for key in keys_in(store, ""):
        store.client.delete_object(Bucket=store.bucket, Key=key)
    store.client.delete_bucket(Bucket=store.bucket)


def test_a_failed_delete_raises_naming_the_key(bucket_refusing_one_delete: tuple[S3Store, str]) -> None:
    """DeleteObjects answers 200 and lists the keys it did not delete in ``Errors``: they must not pass unseen.

    The failure is real: the server's bucket policy denies that one key (an object-lock legal hold would not do:
    a DeleteObjects without version ids only adds a delete marker, which succeeds, on S3 as on this server)."""
    store, protected = bucket_refusing_one_delete
    save(store, "run-protected")
    deletable = save(store, "run-other")

    with pytest.raises(HandoffError, match="1 of 2 expired runs were not deleted") as raised:
        apply_retention(store, POLICY, pin_reason=no_pins, now=LATER, dry_run=False)

    assert f"S3 did not delete 1 objects: s3://{store.bucket}/{protected} (AccessDenied" in str(raised.value)
    assert keys_in(store, "") == [protected], f"the other run is deleted all the same, not {deletable}"


def test_stale_multipart_uploads_are_aborted_fresh_ones_are_not(s3_prefix: str) -> None:
    """A killed save leaves an incomplete multipart upload: after a day it is aborted, not before.

    This server reports the same ``Initiated`` time for every upload, so the clock is set from what it reports."""
    store = default_store()
    client, bucket = store.client, store.bucket
    key = store.object_key(artifact_key(RunScope("dag", "killed-run", "train", 1), "model"))
    ours = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    foreign_key, elsewhere_key = f"{s3_prefix}/not a key", f"{s3_prefix}-neighbour/d/r/t/1/model"
    foreign = client.create_multipart_upload(Bucket=bucket, Key=foreign_key)["UploadId"]
    elsewhere = client.create_multipart_upload(Bucket=bucket, Key=elsewhere_key)["UploadId"]

    def pending() -> set[str]:
        listed = client.list_multipart_uploads(Bucket=bucket, Prefix=s3_prefix)
        return {upload["UploadId"] for upload in listed.get("Uploads", [])}

    [initiated] = {u["Initiated"] for u in client.list_multipart_uploads(Bucket=bucket, Prefix=key)["Uploads"]}

    fresh = apply_retention(store, POLICY, pin_reason=no_pins, now=initiated + timedelta(hours=23), dry_run=False)
    assert fresh.discarded == () and pending() == {ours, foreign, elsewhere}

    dry = apply_retention(store, POLICY, pin_reason=no_pins, now=initiated + timedelta(hours=25))
    assert [u.handle for u in dry.discarded] == [ours] and pending() == {ours, foreign, elsewhere}

    stale = apply_retention(store, POLICY, pin_reason=no_pins, now=initiated + timedelta(hours=25), dry_run=False)
    assert [(u.key, u.handle) for u in stale.discarded] == [(key.removeprefix(f"{s3_prefix}/"), ours)]
    assert pending() == {foreign, elsewhere}
    assert [s.why for s in stale.skipped] == ["an incomplete upload of a foreign name: not a key this store makes"]
    for upload_id, upload_key in [(foreign, foreign_key), (elsewhere, elsewhere_key)]:
        client.abort_multipart_upload(Bucket=bucket, Key=upload_key, UploadId=upload_id)


def test_the_local_bucket_aborts_incomplete_uploads_after_a_day() -> None:
    store = default_store()
    [rule] = store.client.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert rule["Status"] == "Enabled" and rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
