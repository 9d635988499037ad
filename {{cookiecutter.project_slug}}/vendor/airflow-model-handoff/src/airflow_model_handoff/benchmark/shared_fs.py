"""shared_fs: the three methods, each writing to and reading from the configured HANDOFF_ROOT.

- ``handoff``: this project's ``save_model`` / ``load_model`` (joblib streamed through SHA-256, fsync, rename;
  the load copies the file into a private spool file as it hashes it, then deserialises that copy).
- ``naive``: the blog recipe, verbatim: ``pickle.dump`` to a fixed path, ``pickle.load`` from it.
- ``raw``: the arrays' bytes written through the store's own atomic, durable file commit and read back into
  preallocated arrays: no serialisation, no hashing. The floor for this storage.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from airflow_model_handoff import RunScope, default_store
from airflow_model_handoff.keys import artifact_key
from airflow_model_handoff.shared_fs import SharedFsStore

from .backends import every_size_fits, run_in_this_process
from .workload import arrays_of, as_bytes, empty_arrays, layout, on_tmpfs

NAME = "shared_fs"
SCOPE = RunScope("handoff_benchmark", "benchmark", "save")
# Loads read a local file: each is measured from the disk (its pages evicted first, as on another machine) and
# again from the page cache (``stored_files`` names what to evict). Outside a task too (a notebook loading a model).
LOAD_CACHES = ("cold", "warm")
SCRIPT_LOADS = True
DEFAULT_SIZES = "1,64,256"
skip_reason, run_phase = every_size_fits, run_in_this_process


@contextmanager
def storage() -> Iterator[str]:
    store = default_store()
    store.check_root()
    yield f"directory {store.root}"


def open_store() -> SharedFsStore:
    return default_store()


def naive_path(store: SharedFsStore) -> Path:
    path = store.root / SCOPE.dag_id / "trained_model.pkl"
    path.parent.mkdir(exist_ok=True)
    return path


def save_naive(model: Any, store: SharedFsStore) -> str:
    model_path = naive_path(store)
    with open(model_path, "wb") as f:
        pickle.dump(model, f)
    return str(model_path)


def load_naive(model_path: str, store: SharedFsStore) -> Any:
    with open(model_path, "rb") as f:
        return pickle.load(f)


def save_raw(model: Any, store: SharedFsStore) -> dict:
    arrays = arrays_of(model)
    key = artifact_key(SCOPE, "raw")
    with store.open_for_write(key) as sink:
        for array in arrays:
            sink.write(as_bytes(array))
    return {"path": str(store.path_for(key)), "layout": layout(arrays)}


def load_raw(handle: dict, store: SharedFsStore) -> list:
    arrays = empty_arrays(handle["layout"])
    with open(handle["path"], "rb") as source:
        for array in arrays:
            source.readinto(as_bytes(array))
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


def stored_files(method: str, handle: Any, store: SharedFsStore) -> list[Path]:
    """The files the save stored: what a cold load must find evicted from the page cache."""
    if method == "handoff":
        return [store.path_for(store.key_from_uri(handle["uri"]))]
    return [Path(handle if method == "naive" else handle["path"])]


def spool_on_tmpfs(store: SharedFsStore) -> Path | None:
    """The handoff's spool directory (its loads' private copies) when it is on a tmpfs, where its files are memory
    (None on a disk)."""
    return store.spool_dir if on_tmpfs(store.spool_dir) else None


def discard(method: str, handle: Any, store: SharedFsStore) -> None:
    """Delete what the save stored, so runs do not accumulate in the root."""
    if method == "handoff":
        store.delete((store.key_from_uri(handle["uri"]),))
    else:
        Path(handle if method == "naive" else handle["path"]).unlink()
