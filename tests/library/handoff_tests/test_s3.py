"""s3 specifics against a real S3 server over HTTP: clear errors, credentials never printed, private spool files
that a killed process does not leave behind for good, encryption and the expected bucket owner on every request."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import stat
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from airflow_model_handoff import (
    ArtifactNotFoundError,
    HandoffError,
    MisconfiguredError,
    RunScope,
    StorageFullError,
    default_store,
)
from airflow_model_handoff.keys import artifact_key
from airflow_model_handoff.local.s3 import ACCESS_KEY, REGION, SECRET_KEY, connection_json, local_s3_server

from handoff_tests.project import PROJECT
from handoff_tests.s3_relay import Relay
from handoff_tests.stores import BUCKET, s3_store

SCOPE = RunScope("dag", "run", "task", 1)
MOTO_ACCOUNT = "123456789012"  # the account the local server runs as
# Shaped like a real secret access key (AWS's documentation example): it must never be printed.
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_large_artifacts_go_up_in_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    monkeypatch.setenv("HANDOFF_S3_CHUNK_MB", "5")
    store = default_store()
    array = np.arange(3_000_000, dtype=np.float64)  # 24 MB: five parts
    ref = store.save(array, scope=SCOPE)
    head = store.client.head_object(Bucket=store.bucket, Key=store.object_key(store.key_from_uri(ref["uri"])))
    assert "-" in head["ETag"], "a multipart upload has an ETag of the form <md5>-<parts>"
    np.testing.assert_array_equal(store.load(ref), array)


def test_missing_bucket_is_a_clear_error() -> None:
    with pytest.raises(MisconfiguredError, match="bucket 'no-such-bucket' does not exist"):
        s3_store(bucket="no-such-bucket").save({"a": 1}, fmt="json", scope=SCOPE)


def test_missing_object_is_a_clear_error() -> None:
    store = default_store()
    ref = store.save({"a": 1}, fmt="json", scope=SCOPE)
    store.client.delete_object(Bucket=store.bucket, Key=store.object_key(store.key_from_uri(ref["uri"])))
    with pytest.raises(ArtifactNotFoundError, match="not found"):
        store.load(ref)


def connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, endpoint: str, **credentials: str) -> str:
    """Define the Airflow connection ``conn_id`` to ``endpoint`` with the given login and password."""
    extra = {"endpoint_url": endpoint, "region_name": REGION}
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "aws", **credentials, "extra": extra})
    )
    return conn_id


@pytest.fixture
def every_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Captures log records of every level. Airflow replaces the root logger's handlers when it is first imported,
    which would end the capture: it is imported first."""
    import airflow  # noqa: F401

    caplog.set_level(logging.DEBUG)
    return caplog


def assert_printed_nowhere(
    secret: str, raised: pytest.ExceptionInfo, logs: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """``secret`` is in no exception of the chain (message, repr, traceback), no log record, and not on stdout or
    stderr."""
    chain, exc = [], raised.value
    while exc is not None and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    for exc in chain:
        assert secret not in f"{exc} {exc!r} {exc.args!r}", f"the secret is in {type(exc).__name__}"
    assert secret not in "".join(traceback.format_exception(raised.value)), "the secret is in the traceback"
    assert secret not in logs.text, "the secret is in the log"
    out, err = capfd.readouterr()
    assert secret not in out + err, "the secret was printed"


def test_missing_credentials_are_a_clear_error_that_prints_none(
    s3_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
    every_log: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The connection holds a secret but no access key id: the error says what to set, and the secret is nowhere."""
    conn_id = connection(monkeypatch, "no_key_id", s3_endpoint, password=SECRET)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(MisconfiguredError, match=r"no AWS credentials for s3://.*'no_key_id'") as raised:
        s3_store(conn_id=conn_id).save({"a": 1}, fmt="json", scope=SCOPE)
    assert_printed_nowhere(SECRET, raised, every_log, capfd)


@dataclass(frozen=True)
class CheckingServer:
    """A local S3 server that checks signatures and IAM policies, and the access key of a user it knows."""

    endpoint: str
    key_id: str
    secret: str


# The user's policy: everything on the bucket, except writing under denied/.
USER_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{BUCKET}/denied/*"},
    ],
}


@pytest.fixture(scope="module")
def checking_server() -> Iterator[CheckingServer]:
    """A server of its own: moto checks credentials and IAM policies once told to (``/moto-api/reset-auth``), as
    S3 does. (moto enforces a bucket policy's Deny too, but answers it with a bare 403, where S3 says AccessDenied;
    an IAM policy's Deny gets the AccessDenied that S3 gives for both.)"""
    with local_s3_server(BUCKET) as endpoint:
        iam = boto3.client(
            "iam",
            endpoint_url=endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )
        iam.create_user(UserName="handoff")
        iam.put_user_policy(UserName="handoff", PolicyName="handoff", PolicyDocument=json.dumps(USER_POLICY))
        key = iam.create_access_key(UserName="handoff")["AccessKey"]
        enforce = urllib.request.Request(f"{endpoint}/moto-api/reset-auth", b"0", {"Content-Type": "text/plain"})
        urllib.request.urlopen(enforce).close()  # checks from the first request on
        yield CheckingServer(endpoint, key["AccessKeyId"], key["SecretAccessKey"])


def test_a_policy_denial_names_the_action_and_the_policy_not_the_credentials(
    checking_server: CheckingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HANDOFF_S3_EXPECTED_BUCKET_OWNER", MOTO_ACCOUNT)
    conn_id = connection(
        monkeypatch, "checked", checking_server.endpoint, login=checking_server.key_id, password=checking_server.secret
    )
    denied = s3_store(prefix="denied", conn_id=conn_id)
    with pytest.raises(MisconfiguredError) as raised:
        denied.save({"a": 1}, fmt="json", scope=SCOPE)
    message = str(raised.value)
    assert message.startswith(f"s3:PutObject on {denied.uri_for(artifact_key(SCOPE, 'model'))} was denied by a ")
    assert "bucket or IAM policy" in message and "check that the policy allows s3:PutObject there" in message
    assert f"or the bucket is not owned by account {MOTO_ACCOUNT}" in message
    assert "credential" not in message
    s3_store(prefix="allowed", conn_id=conn_id).save({"a": 1}, fmt="json", scope=SCOPE)  # where the policy allows


@pytest.mark.parametrize(
    ("whose_key", "code"), [("an unknown", "InvalidAccessKeyId"), ("the user's", "SignatureDoesNotMatch")]
)
def test_credentials_that_s3_refuses_are_named_and_never_printed(
    checking_server: CheckingServer,
    monkeypatch: pytest.MonkeyPatch,
    every_log: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    whose_key: str,
    code: str,
) -> None:
    """A real-looking secret that is not the key's: the error blames the connection's credentials, not a policy."""
    key_id = "AKIAIOSFODNN7EXAMPLE" if whose_key == "an unknown" else checking_server.key_id
    conn_id = connection(monkeypatch, "wrong_secret", checking_server.endpoint, login=key_id, password=SECRET)
    with pytest.raises(MisconfiguredError) as raised:
        s3_store(prefix="allowed", conn_id=conn_id).save({"a": 1}, fmt="json", scope=SCOPE)
    assert str(raised.value).startswith(f"S3 refused the credentials of the Airflow connection 'wrong_secret' ({code})")
    assert "policy" not in str(raised.value)
    assert_printed_nowhere(SECRET, raised, every_log, capfd)


def test_a_refusal_without_a_reason_names_both_possible_causes(
    checking_server: CheckingServer,
    monkeypatch: pytest.MonkeyPatch,
    every_log: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """S3 answers a HEAD request it refuses with a bare 403, whether a policy or the credentials are to blame."""
    good = connection(
        monkeypatch, "checked", checking_server.endpoint, login=checking_server.key_id, password=checking_server.secret
    )
    ref = s3_store(prefix="allowed", conn_id=good).save({"a": 1}, fmt="json", scope=SCOPE)
    bad = connection(
        monkeypatch, "wrong_secret", checking_server.endpoint, login=checking_server.key_id, password=SECRET
    )
    with pytest.raises(MisconfiguredError) as raised:
        s3_store(prefix="allowed", conn_id=bad).load(ref)
    assert str(raised.value) == (
        f"S3 refused s3:GetObject on {ref['uri']} without a reason (403): a bucket or IAM policy denies it, "
        "or the credentials of the Airflow connection 'wrong_secret' are not valid"
    )
    assert_printed_nowhere(SECRET, raised, every_log, capfd)


@pytest.mark.parametrize(
    ("sse", "kms_key_id"), [("AES256", None), ("aws:kms", f"arn:aws:kms:{REGION}:{MOTO_ACCOUNT}:key/x")]
)
def test_server_side_encryption_is_requested_for_every_upload(
    monkeypatch: pytest.MonkeyPatch, sse: str, kms_key_id: str | None
) -> None:
    import numpy as np

    monkeypatch.setenv("HANDOFF_S3_SSE", sse)
    if kms_key_id:
        monkeypatch.setenv("HANDOFF_S3_KMS_KEY_ID", kms_key_id)
    monkeypatch.setenv("HANDOFF_S3_CHUNK_MB", "5")
    store = default_store()
    whole = store.save({"a": 1}, fmt="json", scope=RunScope("dag", "run", "task", 1))
    in_parts = store.save(np.zeros(1_500_000), scope=RunScope("dag", "run", "task", 2))  # 12 MB: three parts
    for ref in (whole, in_parts):
        head = store.client.head_object(Bucket=store.bucket, Key=store.object_key(store.key_from_uri(ref["uri"])))
        assert (head.get("ServerSideEncryption"), head.get("SSEKMSKeyId")) == (sse, kms_key_id)
    assert store.load(in_parts).shape == (1_500_000,)


def test_the_expected_bucket_owner_goes_with_every_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request the store makes carries it (S3 then refuses a bucket another account owns; the local server
    ignores it, so what the client sends is what is checked)."""
    import numpy as np

    monkeypatch.setenv("HANDOFF_S3_EXPECTED_BUCKET_OWNER", MOTO_ACCOUNT)
    monkeypatch.setenv("HANDOFF_S3_CHUNK_MB", "5")
    store = default_store()
    sent: dict[str, set[str | None]] = {}

    def record(model, params: dict, **_: object) -> None:
        sent.setdefault(model.name, set()).add(params["headers"].get("x-amz-expected-bucket-owner"))

    store.client.meta.events.register("before-call.s3", record)
    store.load(store.save(np.zeros(1_500_000), scope=RunScope("dag", "run", "task", 1)))  # in three parts
    store.load(store.save({"a": 1}, fmt="json", scope=RunScope("dag", "run", "task", 2)))
    killed = store.object_key(artifact_key(RunScope("dag", "killed", "task", 1), "model"))
    default_store().client.create_multipart_upload(Bucket=store.bucket, Key=killed)  # as a killed save leaves
    inventory = store.inventory()
    store.discard_unfinished(inventory.unfinished)
    store.delete([key for run in inventory.runs for key in run.keys])

    assert set(sent) == {
        "PutObject",
        "CreateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
        "HeadObject",
        "GetObject",
        "ListObjectsV2",
        "ListMultipartUploads",
        "AbortMultipartUpload",
        "DeleteObjects",
    }
    assert all(owners == {MOTO_ACCOUNT} for owners in sent.values()), sent


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("HANDOFF_S3_SSE", "aes256", "HANDOFF_S3_SSE='aes256' is not one of AES256, aws:kms"),
        ("HANDOFF_S3_SSE", "aws:kms:dsse", "HANDOFF_S3_SSE='aws:kms:dsse' is not one of AES256, aws:kms"),
        ("HANDOFF_S3_KMS_KEY_ID", "alias/handoff", "a KMS key needs HANDOFF_S3_SSE=aws:kms"),
        ("HANDOFF_S3_EXPECTED_BUCKET_OWNER", "12345678901", "is not an AWS account id"),
        ("HANDOFF_S3_EXPECTED_BUCKET_OWNER", "my-company", "is not an AWS account id"),
    ],
)
def test_invalid_encryption_and_owner_settings_are_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(MisconfiguredError, match=re.escape(message)):
        default_store()


def test_one_client_serves_every_call_of_a_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each client costs a connection lookup, a session and its own connection pool."""
    import botocore.session

    created: list[str] = []
    create_client = botocore.session.Session.create_client

    def counting_create_client(session: botocore.session.Session, service_name: str, *args, **kwargs):
        created.append(service_name)
        return create_client(session, service_name, *args, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "create_client", counting_create_client)
    store = default_store()
    ref = store.save({"a": 1}, fmt="json", scope=SCOPE)
    store.load(ref)
    store.verify_stored(ref)
    store.inventory()
    assert created == ["s3"]


# --- spool files -------------------------------------------------------------------------------------------------
SAVE_IN_ANOTHER_PROCESS = """
import numpy as np
from airflow_model_handoff import RunScope, default_store
default_store().save(np.zeros(1_000_000), scope=RunScope("dag", "run", "killed", 1))  # 8 MB
"""


def spools(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.spool"))


def written_ago(path: Path, seconds: float) -> None:
    """Set the file's modification time ``seconds`` in the past."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def test_a_killed_save_leaves_a_spool_that_a_later_save_removes_once_its_process_is_gone(
    s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool_dir = tmp_path / "spool"
    monkeypatch.setenv("HANDOFF_SPOOL_DIR", str(spool_dir))
    relay = Relay(int(s3_endpoint.rsplit(":", 1)[1]))
    relay.stall_after(2**20, "upload")  # the other process's upload hangs after 1 MiB, so it is killed mid-upload
    env = {**os.environ, "AIRFLOW_CONN_AWS_DEFAULT": connection_json(relay.url)}
    output = tmp_path / "saver.log"
    with output.open("wb") as log:
        saver = subprocess.Popen(
            [sys.executable, "-c", SAVE_IN_ANOTHER_PROCESS], cwd=PROJECT, env=env, stdout=log, stderr=log
        )
    try:
        wait_until(lambda: relay.stalled or saver.poll() is not None, "the other process is uploading")
        assert saver.poll() is None, output.read_text()
        [spool] = spools(spool_dir)
        assert spool.name.startswith(f"{saver.pid}-") and spool.stat().st_size > 8_000_000

        written_ago(spool, 3600)
        default_store().save({"a": 1}, fmt="json", scope=RunScope("dag", "run", "task", 1))
        assert spools(spool_dir) == [spool], "the spool of a live process is never removed"

        saver.kill()  # SIGKILL, as the OOM killer sends: no clean-up runs
        saver.wait()
    finally:
        saver.kill()
        saver.wait()
        relay.restore()
    assert spools(spool_dir) == [spool]

    written_ago(spool, 0)  # killed right after writing it: too fresh to judge
    default_store().save({"a": 1}, fmt="json", scope=RunScope("dag", "run", "task", 2))
    assert spools(spool_dir) == [spool]

    written_ago(spool, 60)
    default_store().save({"a": 1}, fmt="json", scope=RunScope("dag", "run", "task", 3))
    assert spools(spool_dir) == []


def process_that_is_gone() -> int:
    gone = subprocess.Popen(["true"])
    gone.wait()
    return gone.pid


@pytest.mark.parametrize(
    ("owner", "locked"),
    [
        # a process in another PID namespace (a container sharing the directory): its id means nothing here
        (process_that_is_gone, True),
        # a live process that has not locked its spool yet, or a file system that ignores locks
        (os.getpid, False),
    ],
)
def test_an_old_spool_is_kept_while_its_process_lives_or_holds_its_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, owner: Callable[[], int], locked: bool
) -> None:
    spool_dir = tmp_path / "spool"
    monkeypatch.setenv("HANDOFF_SPOOL_DIR", str(spool_dir))
    store = default_store()
    store.save({"a": 1}, fmt="json", scope=RunScope("dag", "run", "task", 1))
    spool = spool_dir / f"{owner()}-elsewhere.spool"
    with spool.open("wb") as held:
        if locked:
            fcntl.flock(held, fcntl.LOCK_EX)
        written_ago(spool, 3600)
        store.save({"a": 1}, fmt="json", scope=RunScope("dag", "run", "task", 2))
        assert spools(spool_dir) == [spool]
    if locked:  # released: its process is gone
        store.save({"a": 1}, fmt="json", scope=RunScope("dag", "run", "task", 3))
        assert spools(spool_dir) == []


def test_the_default_spool_directory_is_private_and_left_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the system temp directory, for this test
    for setting in ("HANDOFF_SPOOL_DIR", "HANDOFF_S3_SPOOL_DIR"):
        monkeypatch.delenv(setting, raising=False)
    store = default_store()
    store.load(store.save({"a": 1}, fmt="json", scope=SCOPE))
    assert store.spool_dir == tmp_path / f"handoff-spool-{os.getuid()}"
    assert stat.S_IMODE(store.spool_dir.stat().st_mode) == 0o700
    assert list(store.spool_dir.iterdir()) == []


def symlink_to_own_directory(path: Path) -> None:
    target = path.with_name("real")
    target.mkdir(mode=0o700)
    path.symlink_to(target)


def writable_by_all(path: Path) -> None:
    path.mkdir()
    path.chmod(0o777)


def owned_by_nobody(path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("giving a directory to another user needs root")
    path.mkdir(mode=0o700)
    os.chown(path, 65534, 65534)


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (symlink_to_own_directory, "is a symlink"),
        (writable_by_all, "is writable by other users (mode drwxrwxrwx)"),
        (owned_by_nobody, "is owned by user id 65534"),
    ],
)
def test_a_spool_directory_others_could_control_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: Callable[[Path], None], problem: str
) -> None:
    spool_dir = tmp_path / "spool"
    make(spool_dir)
    monkeypatch.setenv("HANDOFF_SPOOL_DIR", str(spool_dir))
    with pytest.raises(MisconfiguredError, match=re.escape(f"spool directory {spool_dir} {problem}")):
        default_store().save({"a": 1}, fmt="json", scope=SCOPE)
    assert spools(spool_dir.resolve()) == []


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (mounting one needs root: skipped otherwise)."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mount_point)]
    mounted = subprocess.run(command, capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs for the spool (needs root): {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_a_full_spool_disk_is_a_storage_full_error_naming_the_directory(
    small_disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    big = np.zeros(300_000)  # 2.4 MB, the disk holds 1 MiB
    stored = default_store().save(big, scope=RunScope("dag", "run", "task", 1))  # spooled in the default directory
    monkeypatch.setenv("HANDOFF_SPOOL_DIR", str(small_disk))
    store = default_store()
    full = re.escape(f"no space left in the spool directory {small_disk} (")

    with pytest.raises(StorageFullError, match=rf"{full}\d+ bytes free after removing the partial file\) for s3://"):
        store.save(big, scope=RunScope("dag", "run", "task", 2))
    assert "Contents" not in store.client.list_objects_v2(
        Bucket=store.bucket, Prefix=store.object_key("dag/run/task/2")
    )
    with pytest.raises(StorageFullError, match=full):
        store.load(stored)
    assert spools(small_disk) == []
    assert store.load(store.save({"a": 1}, fmt="json", scope=RunScope("dag", "run", "task", 3))) == {"a": 1}


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
        default_store().save(model, scope=RunScope("dag", "run", "task", 1))
    relay.restore()
    ref = default_store().save(model, scope=RunScope("dag", "run", "task", 2))  # what Airflow's retry does

    store = default_store()
    listed = store.client.list_objects_v2(Bucket=store.bucket, Prefix=store.object_key("dag/run/task"))
    assert [item["Key"].rsplit("/", 2)[-2] for item in listed["Contents"]] == ["2"], "no object of the failed try"

    relay.cut_after(8 * 2**20, "download")  # and again in the middle of the download
    with pytest.raises(HandoffError, match=r"cannot reach S3 for s3://.*/task/2/model: .*the task can be retried"):
        default_store().load(ref)
    relay.restore()
    np.testing.assert_array_equal(default_store().load(ref), model)
