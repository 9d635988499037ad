"""``python -m airflow_model_handoff.benchmark`` (a project's ``make bench``): save and load a model of each size with
each method, every phase in a fresh process, on the store ``HANDOFF_STORAGE`` names.

Methods: ``handoff`` (this library), ``naive`` (the recipe users copy from blog posts) and ``raw`` (the same array
bytes moved with no serialisation or hashing: the floor). Writes ``benchmarks/results.json`` and
``benchmarks/results.png`` under the working directory (``BENCH_OUTPUT_DIR`` to write elsewhere), and prints a
table and the targets. Settings (environment):

- ``BENCH_SIZES_MB``: model sizes in MiB, comma-separated (default ``1,64,256``; ``0.01,0.04`` for ``variables://``,
  which refuses models over ``HANDOFF_VARIABLES_MAX_BYTES``, 48 KiB by default: larger sizes are skipped).
- ``BENCH_REPEATS``: runs of every phase; each figure is the run with the median time (default 5).
- ``BENCH_SEED``: seeds the method order, shuffled in every repeat and recorded (default 0).
- ``BENCH_PARSE_RUNS``: fresh processes timing each DAG file's parse (default 5).

Every phase runs under a task's conditions (``airflow.sdk`` and the model's module imported before its
baseline). Where a script can load (not from Variables), loads are also measured as a script runs them (nothing
imported). Before a load from a local disk (``cold``) the stored file is written back and evicted from the page
cache; a ``warm`` load follows it. Between phases everything dirty is written back (``os.sync``), so no phase pays
for another's writes. It also times each DAG file's parse beyond ``import airflow.sdk`` (the DAG processor
re-parses them all the time): the files of ``AIRFLOW__CORE__DAGS_FOLDER``, else of ``./dags``.
"""

from __future__ import annotations

import json
import os
import platform
import random
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from airflow_model_handoff import default_store

from .backends import current_backend
from .parse_cost import dag_parse_cost
from .plot import plot
from .report import METHODS, is_main, median_runs, table, targets
from .runs import count_from_env, prepare_load, run_phase, sizes_from_env
from .sources import handoff_sources_sha256

backend = current_backend()  # the configured store's (HANDOFF_STORAGE)

OUTPUT = Path(os.environ.get("BENCH_OUTPUT_DIR") or "benchmarks")
RESULTS, PLOT = OUTPUT / "results.json", OUTPUT / "results.png"
# The library's sources (this package's parent), whose digest the results record.
HANDOFF_SOURCES = Path(__file__).resolve().parents[1]
# How a cold load's file leaves the page cache; without posix_fadvise (macOS) it cannot, and cold loads are warm.
EVICTION = "os.sync, then posix_fadvise(POSIX_FADV_DONTNEED)" if hasattr(os, "posix_fadvise") else None
CONDITIONS = {
    "task": "airflow.sdk and the model's module imported before the baseline, as in an Airflow task",
    "script": "nothing imported before the baseline, as in a notebook or script",
}


def loads_of_one_save() -> list[tuple[str, str | None]]:
    """(conditions, cache) of each load that follows a save, in order: a warm load right after a cold one."""
    loads = [("task", cache) for cache in backend.LOAD_CACHES]
    if backend.SCRIPT_LOADS:
        loads.append(("script", backend.LOAD_CACHES[0]))
    return loads


def run_method(method: str, size_mb: float, workdir: Path, store: object) -> list[dict]:
    """A save, then each load of it (the last one deletes what the save stored)."""
    handle_file, size = workdir / "handle.json", str(size_mb)
    same = {"model_mb": size_mb, "conditions": "task"}  # the size as asked (1, not 1.0)
    runs = [run_phase(workdir, method, "save", size, str(handle_file), "task", "keep") | same]
    loads = loads_of_one_save()
    for number, (conditions, cache) in enumerate(loads, start=1):
        prepare_load(method, cache, handle_file, store)
        keep = "keep" if number < len(loads) else "discard"
        run = run_phase(workdir, method, "load", size, str(handle_file), conditions, keep)
        runs.append(run | same | {"conditions": conditions} | ({"cache": cache} if cache else {}))
    os.sync()
    return runs


def main() -> int:
    sizes = sizes_from_env()
    repeats = count_from_env("BENCH_REPEATS", 5)
    seed = count_from_env("BENCH_SEED", 0, minimum=0)
    skipped = []
    for size_mb in sizes:
        if reason := backend.skip_reason(size_mb):
            print(f"skipping {size_mb} MB: {reason}")
            skipped.append({"backend": backend.NAME, "model_mb": size_mb, "reason": reason})
    sizes = [s for s in sizes if s not in {skip["model_mb"] for skip in skipped}]
    runs, hashing, orders = [], [], []
    with tempfile.TemporaryDirectory(prefix="bench-") as workdir, backend.storage() as where:
        store = default_store()
        print(f"{backend.NAME}: {where}; sizes {sizes} MB, {repeats} runs each, every phase in a fresh process")
        for repeat in range(1, repeats + 1):
            for size_mb in sizes:
                order = list(METHODS)
                random.Random(f"{seed}/{repeat}/{size_mb}").shuffle(order)
                orders.append({"repeat": repeat, "model_mb": size_mb, "methods": order})
                for method in order:
                    for run in run_method(method, size_mb, Path(workdir), store):
                        runs.append(run)
                        label = " ".join(filter(None, (run["phase"], run["conditions"], run.get("cache"))))
                        extra = run["peak_rss_mb"] - run["baseline_rss_mb"] + run["spool_mb"]
                        print(f"  run {repeat}: {size_mb} MB {method} {label}: {run['seconds']:.3f} s, +{extra:.0f} MB")
                hashing.append(run_phase(Path(workdir), "sha256", str(size_mb)) | {"model_mb": size_mb})
    results = median_runs(runs)
    parse_runs = count_from_env("BENCH_PARSE_RUNS", 5)
    dags = Path(os.environ.get("AIRFLOW__CORE__DAGS_FOLDER") or "dags").resolve()
    parse = [dag_parse_cost(path, Path.cwd(), parse_runs) for path in sorted(dags.glob("*.py"))]
    goals = targets(results, backend.NAME, hashing)
    document = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "handoff_sources_sha256": handoff_sources_sha256(HANDOFF_SOURCES),
        "results": results,
        "skipped": skipped,
        "repeats": repeats,
        "seed": seed,
        "orders": orders,
        "conditions": CONDITIONS,
        "cache_eviction": EVICTION if "cold" in backend.LOAD_CACHES else None,
        "spool_on_tmpfs": str(spool) if (spool := backend.spool_on_tmpfs(store)) else None,
        "sha256_two_passes": hashing,
        "targets": goals,
        "dag_parse": parse,
    }
    OUTPUT.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    if results:
        plot([r for r in results if is_main(r)], PLOT, backend.NAME)
    print(f"\n{backend.NAME}, median of {repeats} runs (extra: peak RSS over the baseline + tmpfs spool, MiB):")
    print(table(results))
    for goal in goals:
        print("  " + ", ".join(f"{key} {value}" for key, value in goal.items()))
    for cost in parse:
        print(
            f"parse of {cost['file']} beyond import airflow.sdk ({cost['import_airflow_sdk_ms']} ms):"
            f" {cost['parse_beyond_sdk_ms']} ms; after the smallest TaskFlow DAG"
            f" ({cost['minimal_taskflow_dag_ms']} ms): {cost['parse_beyond_minimal_dag_ms']} ms"
            f" (medians of {cost['runs']} processes)"
        )
    print(f"wrote {RESULTS}" + (f" and {PLOT}" if results else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
