"""What every benchmark phase moves and measures: a numpy-heavy model, its arrays, and the process's memory.

The model is a fitted k-nearest-neighbours classifier: its size is its training data (numpy arrays), so a
model of N MB can be built exactly, and it is a real estimator that pickles, joblibs and predicts.
"""

from __future__ import annotations

import contextlib
import resource
import sys
from pathlib import Path
from typing import Any

import numpy as np

MIB = 1024 * 1024
FEATURES = 30
NEIGHBOURS = 5
BYTES_PER_ROW = 8 * FEATURES + 8  # one float64 row of _fit_X plus its int64 label in _y


def build_model(size_mb: float) -> Any:
    """A fitted KNeighborsClassifier whose arrays hold ``size_mb`` MiB (deterministic: seeded)."""
    from sklearn.neighbors import KNeighborsClassifier

    rows = max(round(size_mb * MIB / BYTES_PER_ROW), NEIGHBOURS)
    rng = np.random.default_rng(0)
    x, y = rng.random((rows, FEATURES)), rng.integers(0, 2, rows)
    return KNeighborsClassifier(n_neighbors=NEIGHBOURS, algorithm="brute").fit(x, y)


def arrays_of(model: Any) -> list[np.ndarray]:
    """The model's numpy arrays in a fixed order: what ``raw`` moves, without the Python object around them."""
    return [value for _name, value in sorted(vars(model).items()) if isinstance(value, np.ndarray)]


def layout(arrays: list[np.ndarray]) -> list[tuple[list[int], str]]:
    """Shapes and dtypes: all a ``raw`` reader needs to rebuild the arrays (it travels like a reference)."""
    return [(list(a.shape), a.dtype.str) for a in arrays]


def empty_arrays(shapes: list[tuple[list[int], str]]) -> list[np.ndarray]:
    return [np.empty(shape, dtype=dtype) for shape, dtype in shapes]


def as_bytes(array: np.ndarray) -> memoryview:
    """The array's own memory as bytes, without a copy."""
    return memoryview(np.ascontiguousarray(array)).cast("B")


def use(loaded: Any) -> float:
    """Use the loaded model once: one pass over every array, so lazy loading cannot hide any cost.

    Returns a checksum that must equal the one taken before saving.
    """
    arrays = loaded if isinstance(loaded, list) else arrays_of(loaded)
    return sum(float(np.sum(a, dtype=np.float64)) for a in arrays)


def reset_peak_rss() -> None:
    """Make the process's peak RSS its current RSS (Linux), so a phase's peak is its own."""
    with contextlib.suppress(OSError):  # not Linux, or not allowed: the peak then includes what came before
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb() -> float:
    """The process's peak resident set size in MiB: Linux's VmHWM, which reset_peak_rss resets; elsewhere (macOS)
    getrusage's peak since the process started."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # bytes on macOS, KiB elsewhere
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024
