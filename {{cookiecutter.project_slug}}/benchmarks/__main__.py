"""``make bench``: save and load a model of each size with each method, every phase in a fresh process.

Methods: ``handoff`` (this project), ``naive`` (the recipe users copy from blog posts) and ``raw`` (the same
array bytes moved with no serialisation or hashing: the floor). Writes ``benchmarks/results.json`` and
``benchmarks/results.png``, and prints a table. Settings (environment):

- ``BENCH_SIZES_MB``: model sizes in MiB, comma-separated (default ``{{ "0.01,0.04" if cookiecutter.storage_backend == "variables" else "1,64,256" }}``{% if cookiecutter.storage_backend == "variables" %}: the
  variables backend refuses models over ``HANDOFF_VARIABLES_MAX_BYTES``, 48 KiB by default, and sizes over it
  are skipped{% endif %}).
- ``BENCH_REPEATS``: runs of every phase; each figure is the run with the median time (default 5).
- ``BENCH_PARSE_RUNS``: fresh processes timing the DAG file's parse (default 5).

It also times the main DAG file's parse, beyond ``import airflow.sdk`` alone (the DAG processor re-parses it
all the time).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from . import {{ cookiecutter.storage_backend }} as backend
from .plot import plot

PROJECT = Path(__file__).resolve().parents[1]
RESULTS = PROJECT / "benchmarks" / "results.json"
PLOT = PROJECT / "benchmarks" / "results.png"
DAG_FILE = PROJECT / "dags" / "train_and_score.py"
METHODS = ("handoff", "naive", "raw")
PHASES = ("save", "load")
DEFAULT_SIZES = "{{ "0.01,0.04" if cookiecutter.storage_backend == "variables" else "1,64,256" }}"
# numpy asks for transparent huge pages on large arrays; with the kernel's default "madvise" defrag, the first
# such allocation in a fresh process can stall for up to a second compacting memory, depending on what else the
# machine did. Every phase is a fresh process, so that noise would swamp the methods' differences: turn it off.
PHASE_ENV = {"NUMPY_MADVISE_HUGEPAGE": "0"}


def sizes_from_env() -> list[float]:
    text = os.environ.get("BENCH_SIZES_MB") or DEFAULT_SIZES
    try:
        sizes = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SystemExit(f"BENCH_SIZES_MB={text!r}: expected comma-separated numbers, e.g. 1,64,256") from None
    if not sizes or min(sizes) <= 0:
        raise SystemExit(f"BENCH_SIZES_MB={text!r}: expected positive sizes")
    return sorted({int(s) if s.is_integer() else s for s in sizes})


def count_from_env(name: str, default: int) -> int:
    text = os.environ.get(name) or str(default)
    if not text.isdigit() or int(text) < 1:
        raise SystemExit(f"{name}={text!r}: expected a positive whole number")
    return int(text)


def run_phase(method: str, phase: str, size_mb: float, workdir: Path) -> dict:
    """One phase in a fresh Python process; returns its measurement."""
    handle, result = workdir / f"{method}-{size_mb}.handle.json", workdir / f"{method}-{size_mb}.{phase}.json"
    command = [sys.executable, "-m", "benchmarks.phase", method, phase, str(size_mb), str(handle), str(result)]
    env = {**os.environ, **PHASE_ENV}
    done = subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        output = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
        raise SystemExit(f"{method} {phase} of a {size_mb} MB model failed (exit {done.returncode}):\n{output}")
    measurement = json.loads(result.read_text())
    measurement["model_mb"] = size_mb
    return measurement


def median_run(runs: list[dict]) -> dict:
    """The run with the median time (the lower middle one for an even count): a real run, not a blend."""
    return sorted(runs, key=lambda r: r["seconds"])[(len(runs) - 1) // 2]


# The smallest TaskFlow DAG: what any DAG file costs beyond ``import airflow.sdk`` (Airflow loads its DAG and task
# machinery lazily, on first use).
MINIMAL_DAG = """
from airflow.sdk import dag, task


@dag(schedule=None)
def minimal():
    @task
    def one() -> int:
        return 1

    one()


minimal()
"""
PARSE_CODE = """
import runpy, sys, time
start = time.perf_counter(); import airflow.sdk; times = [time.perf_counter() - start]
for path in sys.argv[1:]:
    start = time.perf_counter(); runpy.run_path(path); times.append(time.perf_counter() - start)
print(*times)
"""


def dag_parse_cost(runs: int) -> dict:
    """Milliseconds to execute the main DAG file after ``import airflow.sdk``, median of fresh processes.

    Also: the smallest TaskFlow DAG's cost, and the main DAG's cost once that one was parsed (its own share).
    """
    with tempfile.TemporaryDirectory(prefix="bench-parse-") as workdir:
        minimal = Path(workdir) / "minimal_dag.py"
        minimal.write_text(MINIMAL_DAG)
        alone, after_minimal = [], []
        for _ in range(runs):
            for files, timings in (([DAG_FILE], alone), ([minimal, DAG_FILE], after_minimal)):
                command = [sys.executable, "-c", PARSE_CODE, *map(str, files)]
                out = subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()
                timings.append([float(v) * 1000 for v in out[-len(files) - 1 :]])

    def median(timings: list[list[float]], column: int) -> float:
        return round(statistics.median(t[column] for t in timings), 1)

    return {
        "file": DAG_FILE.relative_to(PROJECT).as_posix(),
        "import_airflow_sdk_ms": median(alone, 0),
        "parse_beyond_sdk_ms": median(alone, 1),
        "minimal_taskflow_dag_ms": median(after_minimal, 1),
        "parse_beyond_minimal_dag_ms": median(after_minimal, 2),
        "runs": runs,
    }


def table(results: list[dict]) -> str:
    rows = ["  model MB  method    save s  load s  total s  save +MB  load +MB"]
    by_key = {(r["model_mb"], r["method"], r["phase"]): r for r in results}
    for size_mb, method in dict.fromkeys((r["model_mb"], r["method"]) for r in results):
        save, load = by_key[(size_mb, method, "save")], by_key[(size_mb, method, "load")]
        extra = [r["peak_rss_mb"] - r["baseline_rss_mb"] for r in (save, load)]
        total = save["seconds"] + load["seconds"]
        rows.append(
            f"  {size_mb:>8}  {method:<8} {save['seconds']:7.3f} {load['seconds']:7.3f} {total:8.3f}"
            f" {extra[0]:9.1f} {extra[1]:9.1f}"
        )
    return "\n".join(rows)


def main() -> int:
    sizes = sizes_from_env()
    repeats = count_from_env("BENCH_REPEATS", 5)
    skipped = []
{%- if cookiecutter.storage_backend == "variables" %}
    for size_mb in sizes:
        if reason := backend.skip_reason(size_mb):
            print(f"skipping {size_mb} MB: {reason}")
            skipped.append({"backend": backend.NAME, "model_mb": size_mb, "reason": reason})
    sizes = [s for s in sizes if s not in {skip["model_mb"] for skip in skipped}]
{%- endif %}
    runs: dict[tuple, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-") as workdir, backend.storage() as where:
        print(f"{backend.NAME}: {where}; sizes {sizes} MB, {repeats} runs each, every phase in a fresh process")
        for repeat in range(1, repeats + 1):
            for size_mb in sizes:
                for method in METHODS:
                    for phase in PHASES:
                        run = run_phase(method, phase, size_mb, Path(workdir))
                        runs.setdefault((size_mb, method, phase), []).append(run)
                        extra = run["peak_rss_mb"] - run["baseline_rss_mb"]
                        print(f"  run {repeat}: {size_mb} MB {method} {phase}: {run['seconds']:.3f} s, +{extra:.0f} MB")
    results = [median_run(r) for r in runs.values()]
    parse = dag_parse_cost(count_from_env("BENCH_PARSE_RUNS", 5))
    document = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "results": results,
        "skipped": skipped,
        "repeats": repeats,
        "dag_parse": parse,
    }
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    if results:
        plot(results, PLOT, backend.NAME)
    print(f"\n{backend.NAME}, median of {repeats} runs (extra = peak RSS over the phase's baseline, MiB):")
    print(table(results))
    print(
        f"\nparse of {parse['file']} beyond import airflow.sdk ({parse['import_airflow_sdk_ms']} ms):"
        f" {parse['parse_beyond_sdk_ms']} ms; the smallest TaskFlow DAG: {parse['minimal_taskflow_dag_ms']} ms,"
        f" this file after it: {parse['parse_beyond_minimal_dag_ms']} ms (medians of {parse['runs']} processes)"
    )
    print(f"wrote {RESULTS.relative_to(PROJECT)}" + (f" and {PLOT.relative_to(PROJECT)}" if results else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
