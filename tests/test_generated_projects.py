"""Slow: bake each backend and run the generated project's own make targets, as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from .helpers import BACKENDS, Bake

TARGETS = ("setup", "lint", "test", "run", "bench")
TAIL_LINES = 60
# Settings of the make (and venv) that started pytest must not leak into the project's make.
LEAKY_ENV = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "VIRTUAL_ENV")
# `make bench` once, small: it must work, not measure (the full run is `make bench` itself, see docs/benchmarks.md).
# variables only takes models under its limit (48 KiB by default).
BENCH_ENV = {"BENCH_REPEATS": "1", "BENCH_PARSE_RUNS": "1"}
BENCH_SIZE_MB = {"shared_fs": 1, "s3": 1, "variables": 0.01}
BENCH_RECORD_KEYS = {"backend", "method", "phase", "model_mb", "seconds", "peak_rss_mb", "baseline_rss_mb"}


def make(project: Path, target: str, env: dict[str, str] | None = None) -> tuple[int, str, float]:
    """Run `make <target>` in the project; return its exit status, combined output and duration."""
    env = {key: value for key, value in os.environ.items() if key not in LEAKY_ENV} | (env or {})
    start = time.perf_counter()
    result = subprocess.run(
        ["make", target],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=1200,
    )
    return result.returncode, result.stdout, time.perf_counter() - start


def check_bench_outputs(project: Path, backend: str) -> None:
    """results.json has DESIGN.md's shape: every method and phase at the size asked for; the plot is a PNG."""
    document = json.loads((project / "benchmarks/results.json").read_text())
    assert {"created_at", "python", "results"} <= document.keys()
    records = document["results"]
    assert all(record.keys() == BENCH_RECORD_KEYS for record in records)
    runs = {(r["backend"], r["method"], r["phase"], r["model_mb"]) for r in records}
    size = BENCH_SIZE_MB[backend]
    assert runs == {(backend, m, p, size) for m in ("handoff", "naive", "raw") for p in ("save", "load")}
    for record in records:
        assert record["seconds"] > 0 and record["peak_rss_mb"] >= record["baseline_rss_mb"] > 0
    assert document["dag_parse"]["parse_beyond_sdk_ms"] > 0
    assert (project / "benchmarks/results.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_make_targets(bake: Bake, backend: str) -> None:
    project = bake(storage_backend=backend)
    for target in TARGETS:
        env = {**BENCH_ENV, "BENCH_SIZES_MB": str(BENCH_SIZE_MB[backend])} if target == "bench" else None
        status, output, seconds = make(project, target, env)
        tail = "\n".join(output.splitlines()[-TAIL_LINES:])
        assert status == 0, f"`make {target}` ({backend}) exited {status} after {seconds:.0f} s; last lines:\n{tail}"
        print(f"make {target} ({backend}): {seconds:.1f} s")
    check_bench_outputs(project, backend)
