"""Running one benchmark phase in a fresh Python process, and reading the benchmark's settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .backends import current_backend
from .workload import drop_from_page_cache

backend = current_backend()  # the configured store's (HANDOFF_STORAGE)

# numpy asks for transparent huge pages on large arrays; with the kernel's default "madvise" defrag, the first
# such allocation in a fresh process can stall for up to a second compacting memory, depending on what else the
# machine did. Every phase is a fresh process, so that noise would swamp the methods' differences: turn it off.
PHASE_ENV = {"NUMPY_MADVISE_HUGEPAGE": "0"}


def sizes_from_env() -> list[float]:
    text = os.environ.get("BENCH_SIZES_MB") or backend.DEFAULT_SIZES
    try:
        sizes = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SystemExit(f"BENCH_SIZES_MB={text!r}: expected comma-separated numbers, e.g. 1,64,256") from None
    if not sizes or min(sizes) <= 0:
        raise SystemExit(f"BENCH_SIZES_MB={text!r}: expected positive sizes")
    return sorted({int(s) if s.is_integer() else s for s in sizes})


def count_from_env(name: str, default: int, minimum: int = 1) -> int:
    text = os.environ.get(name) or str(default)
    if not text.isdigit() or int(text) < minimum:
        raise SystemExit(f"{name}={text!r}: expected a whole number of at least {minimum}")
    return int(text)


def run_phase(workdir: Path, *args: str, profile_file: Path | None = None) -> dict:
    """``python -m airflow_model_handoff.benchmark.phase ARGS... RESULT_FILE`` in a fresh Python process; returns
    its measurement.
    With ``profile_file``, the phase also writes the cProfile stats of its measured block there."""
    result = workdir / "result.json"
    command = [sys.executable, "-m", f"{__package__}.phase", *args, str(result)]
    env = {**os.environ, **PHASE_ENV} | ({"BENCH_PROFILE": str(profile_file)} if profile_file else {})
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        output = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
        raise SystemExit(f"benchmark phase {' '.join(args)} failed (exit {done.returncode}):\n{output}")
    return json.loads(result.read_text())


def prepare_load(method: str, cache: str | None, handle_file: Path, store: object) -> None:
    """Before a load, write everything back (no phase pays for another's writes); before a ``cold`` one, also evict
    the files the save stored from the page cache, so it reads the disk, as on another machine."""
    if cache == "cold":
        handle = json.loads(handle_file.read_text())["handle"]
        drop_from_page_cache(backend.stored_files(method, handle, store))
    else:
        os.sync()
