"""``make profile``: where each method's save and load spend their time, function by function.

Every phase runs as ``make bench`` runs it (a fresh process, a task's conditions, the load from the disk where the
backend has a page cache to evict), with cProfile on the measured block only. For each method and phase it prints
the median time under the profiler and the functions with the most time of their own (C calls such as SHA-256,
``write`` or ``fsync`` included), averaged over the runs. cProfile sees the thread it runs in: time a phase spends
waiting for a transfer's worker threads shows as that wait (``acquire`` of a lock). Nothing is written to
``results.json``: the figures of record come from ``make bench``, which runs without a profiler.

Settings (environment): the largest size of ``BENCH_SIZES_MB`` (the same default as ``make bench``),
``BENCH_REPEATS`` (default 5), ``BENCH_PROFILE_TOP`` (functions shown per phase, default 8).
"""

from __future__ import annotations

import os
import pstats
import statistics
import sys
import tempfile
from pathlib import Path

from airflow_model_handoff import default_store

from .backends import current_backend
from .report import METHODS
from .runs import count_from_env, prepare_load, run_phase, sizes_from_env

backend = current_backend()  # the configured store's (HANDOFF_STORAGE)

PHASES = ("save", "load")


def profile_method(method: str, size_mb: float, repeats: int, workdir: Path, store: object) -> dict[str, list]:
    """``repeats`` saves, each followed by its first load (the one ``make bench`` reports), all profiled: per
    phase, the list of (seconds, stats file) of its runs."""
    handle_file, size = workdir / "handle.json", str(size_mb)
    runs: dict[str, list] = {phase: [] for phase in PHASES}
    for repeat in range(repeats):
        for phase in PHASES:
            if phase == "load":
                prepare_load(method, backend.LOAD_CACHES[0], handle_file, store)
            else:
                os.sync()
            stats_file = workdir / f"{method}-{phase}-{repeat}.prof"
            keep = "keep" if phase == "save" else "discard"
            args = (method, phase, size, str(handle_file), "task", keep)
            runs[phase].append((run_phase(workdir, *args, profile_file=stats_file)["seconds"], stats_file))
    return runs


def own_times(stats_files: list[Path], top: int) -> list[tuple[float, str]]:
    """The ``top`` functions by time of their own (not counting what they call), averaged over the runs."""
    stats = pstats.Stats(*map(str, stats_files))
    rows = []
    for (filename, line, name), (_primitive_calls, _calls, own, _cumulative, _callers) in stats.stats.items():
        rows.append((own / len(stats_files), function_label(filename, line, name)))
    return sorted(rows, reverse=True)[:top]


def function_label(filename: str, line: int, name: str) -> str:
    """``package/module.py:LINE name`` for Python code, the C function's own name for built-ins."""
    if filename == "~":
        return name
    parts = Path(filename).parts
    return f"{'/'.join(parts[-2:])}:{line} {name}"


def main() -> int:
    size_mb = max(sizes_from_env())
    repeats = count_from_env("BENCH_REPEATS", 5)
    top = count_from_env("BENCH_PROFILE_TOP", 8)
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as workdir, backend.storage() as where:
        store = default_store()
        print(f"{backend.NAME}: {where}; {size_mb} MiB, {repeats} runs of each phase, cProfile on the measured block")
        for method in METHODS:
            for phase, runs in profile_method(method, size_mb, repeats, Path(workdir), store).items():
                seconds = statistics.median(s for s, _ in runs)
                print(f"\n{method} {phase}: {seconds:.3f} s (median under the profiler); own time, mean of the runs:")
                for own, label in own_times([f for _, f in runs], top):
                    print(f"  {own:7.3f} s  {label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
