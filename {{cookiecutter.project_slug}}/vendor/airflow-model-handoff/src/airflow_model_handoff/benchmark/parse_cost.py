"""What each DAG file costs the DAG processor, which parses it again and again: milliseconds beyond
``import airflow.sdk``, medians of fresh processes."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

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


def dag_parse_cost(dag_file: Path, project: Path, runs: int) -> dict:
    """Milliseconds to execute ``dag_file`` after ``import airflow.sdk``, median of ``runs`` fresh processes.

    Also: the smallest TaskFlow DAG's cost, and the file's cost once that one was parsed (its own share).
    """
    with tempfile.TemporaryDirectory(prefix="bench-parse-") as workdir:
        minimal = Path(workdir) / "minimal_dag.py"
        minimal.write_text(MINIMAL_DAG)
        alone, after_minimal = [], []
        for _ in range(runs):
            for files, timings in (([dag_file], alone), ([minimal, dag_file], after_minimal)):
                command = [sys.executable, "-c", PARSE_CODE, *map(str, files)]
                out = subprocess.run(command, cwd=project, capture_output=True, text=True, check=True).stdout.split()
                timings.append([float(v) * 1000 for v in out[-len(files) - 1 :]])

    def median(timings: list[list[float]], column: int) -> float:
        return round(statistics.median(t[column] for t in timings), 1)

    return {
        "file": Path(os.path.relpath(dag_file, project)).as_posix(),
        "import_airflow_sdk_ms": median(alone, 0),
        "parse_beyond_sdk_ms": median(alone, 1),
        "minimal_taskflow_dag_ms": median(after_minimal, 1),
        "parse_beyond_minimal_dag_ms": median(after_minimal, 2),
        "runs": runs,
    }
