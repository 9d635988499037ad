"""Slow: bake each backend and run the generated project's own make targets, as a user would."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from .helpers import BACKENDS, Bake

TARGETS = ("setup", "lint", "test", "run")
TAIL_LINES = 60
# Settings of the make (and venv) that started pytest must not leak into the project's make.
LEAKY_ENV = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "VIRTUAL_ENV")


def make(project: Path, target: str) -> tuple[int, str, float]:
    """Run `make <target>` in the project; return its exit status, combined output and duration."""
    env = {key: value for key, value in os.environ.items() if key not in LEAKY_ENV}
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


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_make_targets(bake: Bake, backend: str) -> None:
    project = bake(storage_backend=backend)
    for target in TARGETS:
        status, output, seconds = make(project, target)
        tail = "\n".join(output.splitlines()[-TAIL_LINES:])
        assert status == 0, f"`make {target}` ({backend}) exited {status} after {seconds:.0f} s; last lines:\n{tail}"
        print(f"make {target} ({backend}): {seconds:.1f} s")
