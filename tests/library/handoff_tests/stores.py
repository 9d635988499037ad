"""The store this run of the suite tests: its bucket, the tests that only apply to some backends, and ways to reach
stored bytes behind the library's back."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from airflow_model_handoff import default_store
from airflow_model_handoff.s3 import S3Store
from airflow_model_handoff.storage import configured_location

from handoff_tests.backend import BACKEND, STARTED_WITH

BUCKET = STARTED_WITH.container  # s3 only


def only_on(*backends: str) -> pytest.MarkDecorator:
    """Skip the test (or module) unless this run tests one of ``backends``, saying so."""
    return pytest.mark.skipif(
        BACKEND not in backends, reason=f"a test of the {' and '.join(backends)} store; this run tests {BACKEND}"
    )


def s3_store(**changes: str) -> S3Store:
    """The store HANDOFF_STORAGE names, with another ``bucket``, ``prefix`` or ``conn_id``."""
    location = configured_location()
    return S3Store(**{"bucket": location.container, "prefix": location.path, "conn_id": location.conn_id} | changes)


class FileBackdoor:
    """Reads and overwrites stored bytes behind the library's back, as an attacker with write access could."""

    def path(self, ref: dict) -> Path:
        store = default_store()
        return store.path_for(store.key_from_uri(ref["uri"]))

    def read(self, ref: dict) -> bytes:
        return self.path(ref).read_bytes()

    def write(self, ref: dict, data: bytes) -> None:
        path = self.path(ref)
        path.chmod(0o600)
        path.write_bytes(data)

    def write_in_place(self, ref: dict, data: bytes) -> None:
        """Overwrite the stored file's bytes from its start (``pwrite``): same inode, no rename, no truncation."""
        fd = os.open(self.path(ref), os.O_WRONLY)
        try:
            os.pwrite(fd, data, 0)
        finally:
            os.close(fd)


class S3Backdoor:
    """Reads and overwrites stored objects behind the library's back, as an attacker with write access could."""

    def locate(self, ref: dict) -> tuple[Any, str]:
        store = default_store()
        return store, store.object_key(store.key_from_uri(ref["uri"]))

    def read(self, ref: dict) -> bytes:
        store, key = self.locate(ref)
        return store.client.get_object(Bucket=store.bucket, Key=key)["Body"].read()

    def write(self, ref: dict, data: bytes) -> None:
        store, key = self.locate(ref)
        store.client.put_object(Bucket=store.bucket, Key=key, Body=data)

    def write_in_place(self, ref: dict, data: bytes) -> None:
        """S3 cannot change an object in place: a new object replaces it at the key."""
        self.write(ref, data)


Backdoor = FileBackdoor | S3Backdoor
BACKDOORS = {"shared_fs": FileBackdoor, "s3": S3Backdoor}
