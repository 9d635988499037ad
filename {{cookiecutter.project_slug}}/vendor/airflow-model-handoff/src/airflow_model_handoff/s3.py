"""``s3``: artifacts in S3-compatible object storage (AWS S3, MinIO, a local test server).

The store is ``HANDOFF_STORAGE=s3://[conn_id@]bucket/prefix``. Credentials and endpoint come from that Airflow
connection (else ``HANDOFF_STORAGE_CONN_ID``, else ``aws_default``; put ``endpoint_url`` in its extras for MinIO), never
from code. Saving serialises to a local spool file while hashing, then uploads
it with boto3's transfer manager (multipart, concurrent, memory bounded by
chunk size x concurrency). S3 makes an object visible only when the upload
completes, so a killed upload leaves nothing at the key. Loading downloads to
a spool file, verifies it, then deserialises from it: the bytes deserialised
are the bytes verified, in a file only this user can write.
Spool files live in one private directory (``spool.py``: ``HANDOFF_SPOOL_DIR``);
a killed process cannot remove its own, so the next save or load removes spools
whose process is gone.
Retention lists and deletes only keys of the key grammar under ``<prefix>/``,
and aborts the multipart uploads that a killed save left there.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

from .errors import (
    ArtifactNotFoundError,
    ForeignLocationError,
    HandoffError,
    MisconfiguredError,
    TamperedArtifactError,
)
from .keys import parse_key
from .reference import ArtifactRef
from .settings import HandoffSettings, env_int
from .spool import configured_spool_dir, spool_file
from .store import ArtifactStore, Inventory, Skipped, StoredRun, UnfinishedWrite, verify

log = logging.getLogger(__name__)

DEFAULT_CONN_ID = "aws_default"  # the Amazon provider's
MIB = 1024 * 1024
FOREIGN = "a foreign name: not a key this store makes"
SSE_MODES = ("AES256", "aws:kms")
# Names botocore accepts (any other is refused before a request): today's rules, plus capitals and '_' of old buckets.
BUCKET_NAME_RE = re.compile(r"[a-zA-Z0-9._-]{3,255}")
# Error codes by which S3 refuses the credentials themselves (any other refusal is a policy's).
CREDENTIAL_ERRORS = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"})
# The IAM action a policy must allow for each S3 operation this store makes.
POLICY_ACTIONS = {
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "HeadObject": "s3:GetObject",
    "GetObject": "s3:GetObject",
    "ListObjectsV2": "s3:ListBucket",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "DeleteObjects": "s3:DeleteObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
}


class S3Store(ArtifactStore):
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        conn_id: str | None = None,
        settings: HandoffSettings | None = None,
    ) -> None:
        super().__init__(settings)
        self.bucket = checked_bucket(bucket)
        self.prefix = checked_prefix(prefix)
        self.conn_id = conn_id or DEFAULT_CONN_ID
        self.chunk_bytes = env_int("HANDOFF_S3_CHUNK_MB", 16) * MIB
        self.max_concurrency = env_int("HANDOFF_S3_MAX_CONCURRENCY", 4)
        self.owner_args = bucket_owner_args()
        self.upload_args = {**encryption_args(), **self.owner_args}

    @cached_property
    def client(self) -> Any:
        """A boto3 S3 client from the Airflow connection, with botocore's ``standard`` retries; one per store."""
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
        from botocore.config import Config

        config = Config(retries={"mode": "standard", "max_attempts": 5})
        return AwsBaseHook(aws_conn_id=self.conn_id, client_type="s3").get_client_type(config=config)

    @cached_property
    def transfer_config(self) -> Any:
        from boto3.s3.transfer import TransferConfig

        return TransferConfig(
            multipart_threshold=self.chunk_bytes,
            multipart_chunksize=self.chunk_bytes,
            max_concurrency=self.max_concurrency,
            max_io_queue=self.max_concurrency * 2,
        )

    @cached_property
    def spool_dir(self) -> Path:
        """The private directory for spool files (``HANDOFF_SPOOL_DIR``), created on first use."""
        return configured_spool_dir()

    def preflight(self) -> None:
        """Also: the directory of the spool files is private (made 0700 if missing; a link, or one another user can
        write to, is refused)."""
        super().preflight()
        self.spool_dir  # noqa: B018

    def object_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri_for(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.object_key(key)}"

    @contextmanager
    def open_for_write(self, key: str) -> Iterator[BinaryIO]:
        with spool_file(self.spool_dir, self.uri_for(key)) as (spool, sink):
            yield sink
            sink.flush()
            with self.s3_errors(key):
                self.client.upload_file(
                    str(spool),
                    self.bucket,
                    self.object_key(key),
                    ExtraArgs=self.upload_args,
                    Config=self.transfer_config,
                )

    @contextmanager
    def open_verified(self, key: str, ref: ArtifactRef) -> Iterator[BinaryIO]:
        with self.s3_errors(key):
            head = self.client.head_object(Bucket=self.bucket, Key=self.object_key(key), **self.owner_args)
        if (size := head["ContentLength"]) != ref.size_bytes:  # refuse before downloading anything
            raise TamperedArtifactError(
                f"artifact at {self.uri_for(key)} is {size} bytes, its reference says {ref.size_bytes}: refusing it"
            )
        with spool_file(self.spool_dir, self.uri_for(key)) as (_, source):
            with self.s3_errors(key):
                self.client.download_fileobj(
                    self.bucket, self.object_key(key), source, ExtraArgs=self.owner_args, Config=self.transfer_config
                )
            source.flush()
            source.seek(0)
            verify(source, ref, self.uri_for(key))
            yield source

    def inventory(self) -> Inventory:
        """The runs under ``<prefix>/`` whose keys match the grammar, the rest as skipped, and pending uploads."""
        if not self.prefix:
            raise MisconfiguredError(
                "retention needs a prefix (HANDOFF_STORAGE=s3://bucket/prefix): without one it would list the whole "
                f"bucket {self.bucket!r}, which is not this store's to clean"
            )
        base = self.object_key("")
        by_run: dict[tuple[str, str], list[dict]] = {}
        skipped: list[Skipped] = []
        for obj in self._list("list_objects_v2", "Contents", base):
            if (parts := parse_key(obj["Key"][len(base) :], self.key_component_chars)) is None:
                skipped.append(Skipped(self._uri(obj["Key"]), FOREIGN))
            else:
                by_run.setdefault((parts.dag, parts.run), []).append(obj)
        uploads: list[UnfinishedWrite] = []
        for upload in self._list("list_multipart_uploads", "Uploads", base):
            key = upload["Key"][len(base) :]
            if parse_key(key, self.key_component_chars) is None:
                skipped.append(Skipped(self._uri(upload["Key"]), f"an incomplete upload of {FOREIGN}"))
            else:
                uploads.append(UnfinishedWrite(key, upload["UploadId"], upload["Initiated"]))
        runs = tuple(
            StoredRun(dag, run, max(o["LastModified"] for o in objects), tuple(o["Key"][len(base) :] for o in objects))
            for (dag, run), objects in sorted(by_run.items())
        )
        return Inventory(runs, tuple(skipped), tuple(uploads))

    def _list(self, operation: str, field: str, prefix: str) -> Iterator[dict]:
        with self.s3_errors(""):
            for page in self.client.get_paginator(operation).paginate(
                Bucket=self.bucket, Prefix=prefix, **self.owner_args
            ):
                yield from page.get(field, [])

    def _uri(self, object_key: str) -> str:
        return f"s3://{self.bucket}/{object_key}"

    def delete(self, keys: Sequence[str]) -> tuple[Skipped, ...]:
        """Delete the keys' objects; raise naming every key S3 did not delete (DeleteObjects reports them per key)."""
        forged = [k for k in keys if parse_key(k, self.key_component_chars) is None]
        if forged:
            raise ForeignLocationError(f"refusing to delete keys this store does not make: {forged}")
        failed = []
        for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
            batch = [{"Key": self.object_key(k)} for k in keys[start : start + 1000]]
            with self.s3_errors(""):
                response = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}, **self.owner_args
                )
            failed += [f"{self._uri(e['Key'])} ({e['Code']}: {e.get('Message')})" for e in response.get("Errors", ())]
        if failed:
            raise HandoffError(f"S3 did not delete {len(failed)} objects: {'; '.join(failed)}; they are still stored")
        return ()

    def discard_unfinished(self, uploads: Sequence[UnfinishedWrite]) -> None:
        from botocore.exceptions import ClientError

        for upload in uploads:
            with self.s3_errors(upload.key):
                try:
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket,
                        Key=self.object_key(upload.key),
                        UploadId=upload.handle,
                        **self.owner_args,
                    )
                except ClientError as exc:
                    if exc.response["Error"].get("Code") != "NoSuchUpload":  # else: completed or aborted since
                        raise

    @contextmanager
    def s3_errors(self, key: str) -> Iterator[None]:
        """Turn botocore's errors into the library's, with what to do. Credentials are never printed."""
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

        where = self.uri_for(key)
        try:
            yield
        except (NoCredentialsError, PartialCredentialsError):
            raise MisconfiguredError(
                f"no AWS credentials for {where}: set an access key id and its secret in the Airflow connection "
                f"{self.conn_id!r} (login and password)"
            ) from None
        except (ClientError, S3UploadFailedError) as exc:
            error = exc.__context__ if isinstance(exc, S3UploadFailedError) else exc  # boto3 wraps upload errors
            if not isinstance(error, ClientError):
                raise HandoffError(f"S3 request for {where} failed: {exc}") from exc
            self.raise_client_error(error, where)
        except BotoCoreError as exc:
            raise HandoffError(f"cannot reach S3 for {where}: {exc}; the task can be retried") from exc

    def raise_client_error(self, error: Any, where: str) -> NoReturn:
        """Raise the library's error for an error response of S3, saying whether credentials or a policy refused."""
        code, reason = error.response["Error"].get("Code", ""), error.response["Error"].get("Message", "")
        action = POLICY_ACTIONS.get(error.operation_name, f"s3:{error.operation_name}")
        owner = self.owner_args.get("ExpectedBucketOwner")
        or_owner = (
            f", or the bucket is not owned by account {owner} (HANDOFF_S3_EXPECTED_BUCKET_OWNER)" if owner else ""
        )
        if code == "NoSuchBucket":
            raise MisconfiguredError(
                f"bucket {self.bucket!r} does not exist: create it or name another in HANDOFF_STORAGE "
                f"(connection {self.conn_id!r})"
            ) from None
        if code in ("404", "NoSuchKey", "NotFound"):
            raise ArtifactNotFoundError(f"artifact not found at {where}: was it deleted by retention?") from None
        if code in CREDENTIAL_ERRORS:
            raise MisconfiguredError(
                f"S3 refused the credentials of the Airflow connection {self.conn_id!r} ({code}) for {where}: "
                "check its access key id, secret and session token"
            ) from None
        if code == "AccessDenied":
            raise MisconfiguredError(
                f"{action} on {where} was denied by a bucket or IAM policy ({reason}){or_owner}: "
                f"check that the policy allows {action} there"
            ) from None
        if code == "403":  # a HEAD request's refusal has no body: S3 gives no reason
            raise MisconfiguredError(
                f"S3 refused {action} on {where} without a reason (403): a bucket or IAM policy denies it{or_owner}, "
                f"or the credentials of the Airflow connection {self.conn_id!r} are not valid"
            ) from None
        raise HandoffError(f"S3 request for {where} failed: {code} {reason}") from error


def checked_bucket(name: str) -> str:
    """``name``, if S3 can address a bucket by it (botocore refuses any other name before sending a request)."""
    if not BUCKET_NAME_RE.fullmatch(name):
        raise MisconfiguredError(
            f"{name!r} (HANDOFF_STORAGE's bucket) is not a bucket name S3 can address: 3-255 letters, digits, '.', "
            "'-' and '_' (buckets made today: 3-63 lowercase letters, digits, '.' and '-')"
        )
    return name


def checked_prefix(prefix: str) -> str:
    """``prefix`` without its outer slashes; each part between slashes a name, not empty, '.' or '..', as MinIO
    refuses keys that hold those."""
    stripped = prefix.strip("/")
    if stripped and any(part in ("", ".", "..") for part in stripped.split("/")):
        raise MisconfiguredError(
            f"the prefix {prefix!r} of HANDOFF_STORAGE holds an empty, '.' or '..' part: use names separated by '/' "
            "(e.g. handoff)"
        )
    return stripped


def encryption_args() -> dict[str, str]:
    """Upload arguments from ``HANDOFF_S3_SSE`` and ``HANDOFF_S3_KMS_KEY_ID``; none means the bucket's default."""
    sse, key_id = os.environ.get("HANDOFF_S3_SSE", ""), os.environ.get("HANDOFF_S3_KMS_KEY_ID", "")
    if sse and sse not in SSE_MODES:
        raise MisconfiguredError(
            f"HANDOFF_S3_SSE={sse!r} is not one of {', '.join(SSE_MODES)} (empty: the bucket's default encryption)"
        )
    if key_id and sse != "aws:kms":
        raise MisconfiguredError(
            f"HANDOFF_S3_KMS_KEY_ID is set but HANDOFF_S3_SSE is {sse!r}: a KMS key needs HANDOFF_S3_SSE=aws:kms"
        )
    args = {"ServerSideEncryption": sse} if sse else {}
    if key_id:
        args["SSEKMSKeyId"] = key_id
    return args


def bucket_owner_args() -> dict[str, str]:
    """``ExpectedBucketOwner`` from ``HANDOFF_S3_EXPECTED_BUCKET_OWNER``: S3 refuses a bucket another account owns."""
    owner = os.environ.get("HANDOFF_S3_EXPECTED_BUCKET_OWNER", "")
    if owner and not re.fullmatch(r"[0-9]{12}", owner):
        raise MisconfiguredError(f"HANDOFF_S3_EXPECTED_BUCKET_OWNER={owner!r} is not an AWS account id (12 digits)")
    return {"ExpectedBucketOwner": owner} if owner else {}
