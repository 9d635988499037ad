"""One phase (save or load) of one method, measured in this fresh process as one Airflow task would run it.

``python -m airflow_model_handoff.benchmark.phase METHOD PHASE SIZE_MB HANDLE_FILE CONDITIONS KEEP RESULT_FILE``.
A save leaves what a load needs (the reference, or its equivalent) in HANDLE_FILE; a load reads it, uses the
model once, checks it got the model that was saved, and deletes what the save stored unless KEEP is ``keep``
(another load of it follows). CONDITIONS is ``task`` (what a task has imported, ``airflow.sdk`` and the model's
module, is imported before the baseline) or ``script`` (nothing is: a notebook or script loading a model).
``... phase sha256 SIZE_MB RESULT_FILE`` times two SHA-256 passes over the model's bytes.
With ``BENCH_PROFILE`` set to a file name, the measured block is also profiled (cProfile) into that file
(``make profile`` does this).
"""

from __future__ import annotations

import cProfile
import hashlib
import importlib
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .backends import current_backend
from .workload import MIB, arrays_of, as_bytes, build_model, peak_folder_mb, peak_rss_mb, reset_peak_rss, use

backend = current_backend()  # the configured store's (HANDOFF_STORAGE)

# What an Airflow task process has imported before the task's code runs: the Task SDK, and, in a load, the
# module of the model it loads (its save built the model, so it has that already).
TASK_IMPORTS = ("airflow.sdk", "sklearn.neighbors")


def measure(method: str, phase: str, size_mb: float, handle_file: str, conditions: str, keep: bool) -> dict:
    """Time ``phase`` alone; its memory is the peak over the RSS just before it (the baseline), plus the peak of
    the temporary files it keeps on a tmpfs, which are memory too."""
    if conditions == "task":
        for module in TASK_IMPORTS:
            importlib.import_module(module)
    handle_path = Path(handle_file)
    store = backend.open_store()
    if phase == "save":
        model = build_model(size_mb)
        checksum = use(model)
        with measured(store) as figures:
            handle = backend.SAVE[method](model, store)
        handle_path.write_text(json.dumps({"handle": handle, "checksum": checksum}))
    else:
        saved = json.loads(handle_path.read_text())
        with measured(store) as figures:
            checksum = use(backend.LOAD[method](saved["handle"], store))
        if not keep:
            backend.discard(method, saved["handle"], store)
        if checksum != saved["checksum"]:
            raise RuntimeError(f"{method} loaded a different model than it saved ({checksum} != {saved['checksum']})")
    return {"backend": backend.NAME, "method": method, "phase": phase, "model_mb": size_mb, **figures}


@contextmanager
def measured(store: object) -> Iterator[dict]:
    """The figures of the block it wraps, filled in when it ends: seconds, peak and baseline RSS, and the peak of
    the spool files it kept on a tmpfs (0 when the spool is on a disk)."""
    figures: dict = {}
    with peak_folder_mb(backend.spool_on_tmpfs(store)) as spool_peak:
        reset_peak_rss()
        baseline, start = peak_rss_mb(), time.perf_counter()
        with profiled(os.environ.get("BENCH_PROFILE")):
            yield figures
        seconds, peak = time.perf_counter() - start, peak_rss_mb()
    figures.update(
        seconds=round(seconds, 4),
        peak_rss_mb=round(peak, 1),
        baseline_rss_mb=round(baseline, 1),
        spool_mb=round(spool_peak[0], 1),
    )


@contextmanager
def profiled(stats_file: str | None) -> Iterator[None]:
    """Profile the block with cProfile into ``stats_file``; no profiler at all when it is None (the figures of
    record are never taken under a profiler)."""
    if stats_file is None:
        yield
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        profiler.dump_stats(stats_file)


def hash_twice(size_mb: float) -> dict:
    """Two SHA-256 passes over the model's array bytes in the store's chunk size: the hashing a verified handoff
    cannot avoid (one as the save writes, one before the load deserialises), timed like a phase."""
    from airflow_model_handoff.store import CHUNK_BYTES

    views = [as_bytes(array) for array in arrays_of(build_model(size_mb))]
    start = time.perf_counter()
    for _ in range(2):
        digest = hashlib.sha256()
        for view in views:
            for offset in range(0, len(view), CHUNK_BYTES):
                digest.update(view[offset : offset + CHUNK_BYTES])
    seconds = time.perf_counter() - start
    return {"model_mb": size_mb, "seconds": round(seconds, 4), "bytes": sum(map(len, views)) / MIB}


def main(argv: list[str]) -> int:
    *args, result_file = argv
    if args[0] == "sha256":
        Path(result_file).write_text(json.dumps(hash_twice(float(args[1]))))
        return 0
    method, phase, size_mb, handle_file, conditions, keep = args
    phase_args = {"method": method, "phase": phase, "size_mb": float(size_mb), "handle_file": handle_file}
    phase_args |= {"conditions": conditions, "keep": keep == "keep", "result_file": result_file}
    backend.run_phase(phase_args)
    return 0


def measure_and_write(
    method: str, phase: str, size_mb: float, handle_file: str, conditions: str, keep: bool, result_file: str
) -> None:

    Path(result_file).write_text(json.dumps(measure(method, phase, size_mb, handle_file, conditions, keep)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
