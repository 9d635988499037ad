"""s3: the three methods, each through the same boto3 client (the Airflow connection's) and the same bucket.

- ``handoff``: this project's ``save_model`` / ``load_model`` (joblib to a spool file through SHA-256,
  ``upload_file``; ``download_file`` to a private file, verify, deserialise).
- ``naive``: the blog recipe, verbatim: ``pickle.dump`` into a ``BytesIO``, ``upload_fileobj``;
  ``download_fileobj`` into a ``BytesIO``, ``pickle.load``. Its ``s3 = boto3.client('s3')  # Replace with your
  client`` is the project's client here.
- ``raw``: the arrays' own memory streamed to one object and back into preallocated arrays, with the store's
  transfer settings: no serialisation, no hashing, no spool file. The floor for this storage.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from airflow_model_handoff import RunScope, default_store
from airflow_model_handoff.s3 import S3Store

from .backends import every_size_fits, run_in_this_process
from .workload import arrays_of, as_bytes, empty_arrays, layout, on_tmpfs

NAME = "s3"
SCOPE = RunScope("handoff_benchmark", "benchmark", "save")
# The objects live in the server, not in this machine's page cache: one kind of load. Outside a task too.
LOAD_CACHES = (None,)
SCRIPT_LOADS = True
DEFAULT_SIZES = "1,64,256"
skip_reason, run_phase = every_size_fits, run_in_this_process


@contextmanager
def storage() -> Iterator[str]:
    """The configured connection, or a local S3 server for the whole run (its memory is not the phases')."""
    from airflow_model_handoff.local.s3 import s3_connection

    store = default_store()
    with s3_connection(store.bucket, store.conn_id) as where:
        yield f"bucket {store.bucket} via {where}"


def open_store() -> S3Store:
    store = default_store()
    store.client  # noqa: B018  create the client (and read the connection) before the phase starts
    return store


def object_key(store: S3Store, method: str) -> str:
    return store.object_key(f"{SCOPE.dag_id}/{method}/trained_model")


def save_naive(model: Any, store: S3Store) -> str:
    s3, bucket_name, s3_key = store.client, store.bucket, object_key(store, "naive")
    buffer = io.BytesIO()
    pickle.dump(model, buffer)
    buffer.seek(0)
    s3.upload_fileobj(buffer, bucket_name, s3_key)
    return s3_key


def load_naive(s3_key: str, store: S3Store) -> Any:
    s3, bucket_name = store.client, store.bucket
    buffer = io.BytesIO()
    s3.download_fileobj(bucket_name, s3_key, buffer)
    buffer.seek(0)
    return pickle.load(buffer)


class ArraysFile(io.RawIOBase):
    """The concatenated bytes of some arrays as one seekable file, read from or written to their own memory."""

    def __init__(self, arrays: list[np.ndarray]) -> None:
        self.views = [as_bytes(a) for a in arrays]
        self.starts = np.cumsum([0] + [len(v) for v in self.views]).tolist()
        self.size, self.position = self.starts[-1], 0

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self.position = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence] + offset
        return self.position

    def tell(self) -> int:
        return self.position

    def spans(self, length: int) -> Iterator[memoryview]:
        """The pieces of array memory covering ``length`` bytes from the current position; advances it."""
        end = min(self.position + length, self.size)
        for view, start in zip(self.views, self.starts, strict=False):
            lo, hi = max(self.position, start), min(end, start + len(view))
            if lo < hi:
                yield view[lo - start : hi - start]
        self.position = max(self.position, end)

    def readinto(self, buffer: Any) -> int:
        out, filled = memoryview(buffer).cast("B"), 0
        for span in self.spans(len(out)):
            out[filled : filled + len(span)] = span
            filled += len(span)
        return filled

    def write(self, data: Any) -> int:
        data, used = memoryview(data).cast("B"), 0
        for span in self.spans(len(data)):
            span[:] = data[used : used + len(span)]
            used += len(span)
        return used


def save_raw(model: Any, store: S3Store) -> dict:
    arrays, key = arrays_of(model), object_key(store, "raw")
    store.client.upload_fileobj(ArraysFile(arrays), store.bucket, key, Config=store.transfer_config)
    return {"key": key, "layout": layout(arrays)}


def load_raw(handle: dict, store: S3Store) -> list:
    arrays = empty_arrays(handle["layout"])
    store.client.download_fileobj(store.bucket, handle["key"], ArraysFile(arrays), Config=store.transfer_config)
    return arrays


SAVE = {
    "handoff": lambda model, store: store.save(model, scope=SCOPE),
    "naive": save_naive,
    "raw": save_raw,
}
LOAD = {
    "handoff": lambda ref, store: store.load(ref),
    "naive": load_naive,
    "raw": load_raw,
}


def spool_on_tmpfs(store: S3Store) -> Path | None:
    """The handoff's spool directory when it is on a tmpfs, where its files are memory (None on a disk)."""
    return store.spool_dir if on_tmpfs(store.spool_dir) else None


def discard(method: str, handle: Any, store: S3Store) -> None:
    """Delete the object the save stored (the local server keeps objects in its memory)."""
    if method == "handoff":
        store.delete((store.key_from_uri(handle["uri"]),))
    else:
        store.client.delete_object(Bucket=store.bucket, Key=handle if method == "naive" else handle["key"])
