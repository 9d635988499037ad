"""``s3``: artifacts in S3-compatible object storage (AWS S3, MinIO, a local test server).

Credentials and endpoint come from an Airflow connection (``HANDOFF_AWS_CONN_ID``,
default ``aws_default``; put ``endpoint_url`` in its extras for MinIO), never
from code. Saving serialises to a local spool file while hashing, then uploads
it with boto3's transfer manager (multipart, concurrent, memory bounded by
chunk size x concurrency). S3 makes an object visible only when the upload
completes, so a killed upload leaves nothing at the key. Loading downloads to
a private temporary file, verifies it, then deserialises from it.
Retention lists and deletes only keys of the key grammar under ``<prefix>/``,
and aborts the multipart uploads that a killed save left there.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO

from .errors import ArtifactNotFoundError, HandoffError, IntegrityError, MisconfiguredError
from .keys import parse_key
from .reference import ArtifactRef
from .settings import HandoffSettings, env_int
from .store import ArtifactStore, Inventory, PendingUpload, Skipped, StoredRun, verify

DEFAULT_BUCKET = "{{ cookiecutter.s3_bucket }}"
MIB = 1024 * 1024
FOREIGN = "a foreign name: not a key this store makes"


class S3Store(ArtifactStore):
    def __init__(
        self,
        bucket: str | None = None,
        prefix: str | None = None,
        conn_id: str | None = None,
        settings: HandoffSettings | None = None,
    ) -> None:
        super().__init__(settings)
        self.bucket = bucket or os.environ.get("HANDOFF_S3_BUCKET") or DEFAULT_BUCKET
        self.prefix = (prefix if prefix is not None else os.environ.get("HANDOFF_S3_PREFIX", "handoff")).strip("/")
        self.conn_id = conn_id or os.environ.get("HANDOFF_AWS_CONN_ID") or "aws_default"
        self.chunk_bytes = env_int("HANDOFF_S3_CHUNK_MB", 16) * MIB
        self.max_concurrency = env_int("HANDOFF_S3_MAX_CONCURRENCY", 4)

    @cached_property
    def client(self) -> Any:
        """A boto3 S3 client from the Airflow connection, with botocore's ``standard`` retries."""
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

    def object_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri_for(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.object_key(key)}"

    @contextmanager
    def open_for_write(self, key: str) -> Iterator[BinaryIO]:
        with tempfile.TemporaryDirectory(prefix="handoff-") as spool_dir:
            spool = Path(spool_dir) / "artifact"
            with spool.open("wb") as sink:
                yield sink
            with self.s3_errors(key):
                self.client.upload_file(str(spool), self.bucket, self.object_key(key), Config=self.transfer_config)

    @contextmanager
    def open_verified(self, key: str, ref: ArtifactRef) -> Iterator[BinaryIO]:
        with self.s3_errors(key):
            size = self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))["ContentLength"]
        if size != ref.size_bytes:  # refuse before downloading anything
            raise IntegrityError(
                f"artifact at {self.uri_for(key)} is {size} bytes, its reference says {ref.size_bytes}: refusing it"
            )
        with tempfile.TemporaryDirectory(prefix="handoff-") as spool_dir:
            spool = Path(spool_dir) / "artifact"
            with self.s3_errors(key):
                self.client.download_file(self.bucket, self.object_key(key), str(spool), Config=self.transfer_config)
            with spool.open("rb") as source:
                verify(source, ref, self.uri_for(key))
                yield source

    def inventory(self) -> Inventory:
        """The runs under ``<prefix>/`` whose keys match the grammar, the rest as skipped, and pending uploads."""
        if not self.prefix:
            raise MisconfiguredError(
                f"retention needs a prefix (HANDOFF_S3_PREFIX): without one it would list the whole bucket "
                f"{self.bucket!r}, which is not this store's to clean"
            )
        base = self.object_key("")
        by_run: dict[tuple[str, str], list[dict]] = {}
        skipped: list[Skipped] = []
        for obj in self._list("list_objects_v2", "Contents", base):
            if (parts := parse_key(obj["Key"][len(base) :], self.key_component_chars)) is None:
                skipped.append(Skipped(self._uri(obj["Key"]), FOREIGN))
            else:
                by_run.setdefault((parts.dag, parts.run), []).append(obj)
        uploads: list[PendingUpload] = []
        for upload in self._list("list_multipart_uploads", "Uploads", base):
            key = upload["Key"][len(base) :]
            if parse_key(key, self.key_component_chars) is None:
                skipped.append(Skipped(self._uri(upload["Key"]), f"an incomplete upload of {FOREIGN}"))
            else:
                uploads.append(PendingUpload(key, upload["UploadId"], upload["Initiated"]))
        runs = tuple(
            StoredRun(dag, run, max(o["LastModified"] for o in objects), tuple(o["Key"][len(base) :] for o in objects))
            for (dag, run), objects in sorted(by_run.items())
        )
        return Inventory(runs, tuple(skipped), tuple(uploads))

    def _list(self, operation: str, field: str, prefix: str) -> Iterator[dict]:
        with self.s3_errors(""):
            for page in self.client.get_paginator(operation).paginate(Bucket=self.bucket, Prefix=prefix):
                yield from page.get(field, [])

    def _uri(self, object_key: str) -> str:
        return f"s3://{self.bucket}/{object_key}"

    def delete(self, keys: Sequence[str]) -> tuple[Skipped, ...]:
        """Delete the keys' objects; raise naming every key S3 did not delete (DeleteObjects reports them per key)."""
        forged = [k for k in keys if parse_key(k, self.key_component_chars) is None]
        if forged:
            raise IntegrityError(f"refusing to delete keys this store does not make: {forged}")
        failed = []
        for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
            batch = [{"Key": self.object_key(k)} for k in keys[start : start + 1000]]
            with self.s3_errors(""):
                response = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            failed += [f"{self._uri(e['Key'])} ({e['Code']}: {e.get('Message')})" for e in response.get("Errors", ())]
        if failed:
            raise HandoffError(f"S3 did not delete {len(failed)} objects: {'; '.join(failed)}; they are still stored")
        return ()

    def abort_uploads(self, uploads: Sequence[PendingUpload]) -> None:
        from botocore.exceptions import ClientError

        for upload in uploads:
            with self.s3_errors(upload.key):
                try:
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=self.object_key(upload.key), UploadId=upload.upload_id
                    )
                except ClientError as exc:
                    if exc.response["Error"].get("Code") != "NoSuchUpload":  # else: completed or aborted since
                        raise

    @contextmanager
    def s3_errors(self, key: str) -> Iterator[None]:
        """Turn botocore's errors into the library's, with what to do. Credentials are never printed."""
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        where = self.uri_for(key)
        try:
            yield
        except NoCredentialsError:
            raise MisconfiguredError(
                f"no AWS credentials for {where}: set them in the Airflow connection {self.conn_id!r}"
            ) from None
        except (ClientError, S3UploadFailedError) as exc:
            code = exc.response["Error"].get("Code", "") if isinstance(exc, ClientError) else str(exc)
            if "NoSuchBucket" in code:
                raise MisconfiguredError(
                    f"bucket {self.bucket!r} does not exist: create it or set HANDOFF_S3_BUCKET "
                    f"(connection {self.conn_id!r})"
                ) from None
            if code in ("404", "NoSuchKey", "NotFound"):
                raise ArtifactNotFoundError(f"artifact not found at {where}: was it deleted by retention?") from None
            if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch") or "AccessDenied" in code:
                raise MisconfiguredError(
                    f"access denied to {where}: check the credentials in the Airflow connection {self.conn_id!r}"
                ) from None
            raise HandoffError(f"S3 request for {where} failed: {code}") from exc
        except BotoCoreError as exc:
            raise HandoffError(f"cannot reach S3 for {where}: {exc}; the task can be retried") from exc
