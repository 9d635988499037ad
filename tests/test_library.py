"""Slow: the handoff library's own suite (tests/library: store contract, hostile references, retention, attacks,
runs through the scheduler and Celery workers, the soak), run on each backend inside a generated project, whose
interpreter has the library and Airflow installed and whose DAGs the runs use. The library's tests live here, with
the library, and not in every project."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from .helpers import BACKENDS, REPO_ROOT, TAIL_LINES, bake_into, clean_environment, make_ok, project_processes

LIBRARY_TESTS = REPO_ROOT / "tests" / "library"
# Outside /tmp: the Celery tests give each worker an empty private /tmp.
SUITE_DIR = REPO_ROOT / "build" / "library-tests"
SOAK_DIR = REPO_ROOT / "build" / "soak-tests"
# The soak (60 runs through the scheduler) for variables and one backend that stores files.
SOAK_BACKENDS = ("variables", "shared_fs")


def storage_url(project: Path, backend: str) -> str:
    """The store the suite tests, as the project's Makefile names it (each test then takes a place of its own)."""
    urls = {"shared_fs": (project / ".data" / "models").as_uri(), "s3": "s3://models/handoff"}
    return urls.get(backend, "variables://handoff")


def run_suite(project: Path, backend: str, *args: str) -> str:
    """The library's suite (or ``args``: options and tests) with the project's interpreter, in the project's folder;
    return its output."""
    command = [str(project / ".venv" / "bin" / "python"), "-m", "pytest", "-c", str(LIBRARY_TESTS / "pytest.ini")]
    command += ["--rootdir", str(LIBRARY_TESTS), *(args or [str(LIBRARY_TESTS)])]
    env = clean_environment(HANDOFF_STORAGE=storage_url(project, backend), PYTHONPATH=str(LIBRARY_TESTS))
    done = subprocess.run(
        command, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=3600
    )
    tail = "\n".join(done.stdout.splitlines()[-TAIL_LINES:])
    assert done.returncode == 0, f"the library's suite failed on {backend} (exit {done.returncode}):\n{tail}"
    print(f"library suite ({backend}): {done.stdout.splitlines()[-1]}")
    return done.stdout


# Defined first so that xdist starts the two soaks, the longest tests, as soon as workers are free.
@pytest.mark.slow
@pytest.mark.soak
@pytest.mark.parametrize("backend", SOAK_BACKENDS)
def test_the_library_survives_the_soak(backend: str) -> None:
    """10 concurrent and 50 sequential runs, no cross-run mismatch, storage left as the policy says."""
    project = bake_into(SOAK_DIR / backend, backend)
    make_ok(project, "setup")
    soak = LIBRARY_TESTS / "handoff_tests" / "e2e" / "test_soak.py"
    output = run_suite(project, backend, "-m", "soak", "-rP", str(soak))
    assert re.search(r"\b[1-9] passed", output) and "soak: 10 concurrent runs in" in output
    print("\n".join(line for line in output.splitlines() if line.startswith("soak: ")))
    assert project_processes(project) == [], "the soak's stack left processes behind"


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_library_keeps_its_promises_on_each_store(backend: str) -> None:
    project = bake_into(SUITE_DIR / backend, backend)
    make_ok(project, "setup")
    run_suite(project, backend)
    assert project_processes(project) == [], "the suite's stacks left processes behind"
