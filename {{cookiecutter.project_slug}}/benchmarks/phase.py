"""One phase (save or load) of one method, measured in this fresh process as one Airflow task would run it.

``python -m benchmarks.phase METHOD PHASE SIZE_MB HANDLE_FILE RESULT_FILE`` (``make bench`` runs it).
A save leaves what a load needs (the reference, or its equivalent) in HANDLE_FILE; a load reads it, uses the
model once, checks it got the model that was saved, and deletes what the save stored.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from . import {{ cookiecutter.storage_backend }} as backend
from .workload import build_model, peak_rss_mb, reset_peak_rss, use


def measure(method: str, phase: str, size_mb: float, handle_file: str) -> dict:
    """Time ``phase`` alone; its memory is the peak over the RSS just before it (the baseline)."""
    handle_path = Path(handle_file)
    if phase == "save":
        model = build_model(size_mb)
        checksum = use(model)
        store = backend.open_store()
        reset_peak_rss()
        baseline, start = peak_rss_mb(), time.perf_counter()
        handle = backend.SAVE[method](model, store)
        seconds, peak = time.perf_counter() - start, peak_rss_mb()
        handle_path.write_text(json.dumps({"handle": handle, "checksum": checksum}))
    else:
        import sklearn.neighbors  # noqa: F401  the model's own module is imported before the baseline

        saved = json.loads(handle_path.read_text())
        store = backend.open_store()
        reset_peak_rss()
        baseline, start = peak_rss_mb(), time.perf_counter()
        checksum = use(backend.LOAD[method](saved["handle"], store))
        seconds, peak = time.perf_counter() - start, peak_rss_mb()
        backend.discard(method, saved["handle"], store)
        if checksum != saved["checksum"]:
            raise RuntimeError(f"{method} loaded a different model than it saved ({checksum} != {saved['checksum']})")
    return {
        "backend": backend.NAME,
        "method": method,
        "phase": phase,
        "model_mb": size_mb,
        "seconds": round(seconds, 4),
        "peak_rss_mb": round(peak, 1),
        "baseline_rss_mb": round(baseline, 1),
    }


def measure_and_write(method: str, phase: str, size_mb: float, handle_file: str, result_file: str) -> None:
    result = measure(method, phase, size_mb, handle_file)
    Path(result_file).write_text(json.dumps(result))


def main(argv: list[str]) -> int:
    method, phase, size_mb, handle_file, result_file = argv
    args = {"method": method, "phase": phase, "size_mb": float(size_mb)}
{%- if cookiecutter.storage_backend == "variables" %}
    backend.run_in_task({**args, "handle_file": handle_file, "result_file": result_file})
{%- else %}
    measure_and_write(**args, handle_file=handle_file, result_file=result_file)
{%- endif %}
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
