"""What every benchmark phase moves and measures: a numpy-heavy model, its arrays, and the process's memory.

The model is a fitted k-nearest-neighbours classifier: its size is its training data (numpy arrays), so a
model of N MB can be built exactly, and it is a real estimator that pickles, joblibs and predicts.
"""

from __future__ import annotations

import contextlib
import os
import resource
import sys
import threading
from collections.abc import Iterable, Iterator
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


def drop_from_page_cache(paths: Iterable[Path]) -> None:
    """Write every dirty page back (``os.sync``), then evict ``paths`` from the page cache, so the next read comes
    from the disk as on another machine. Where the system cannot evict (no ``posix_fadvise``: macOS), only the
    write-back happens."""
    os.sync()
    if not hasattr(os, "posix_fadvise"):
        return
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            descriptor = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(descriptor)


def on_tmpfs(path: Path) -> bool:
    """Whether ``path`` lives on a tmpfs (memory), by the longest mount point above it (Linux; False elsewhere)."""
    try:
        mounts = [line.split()[1:3] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return False
    resolved = path.resolve()
    above = [(Path(point), kind) for point, kind in mounts if resolved.is_relative_to(point)]
    return bool(above) and max(above, key=lambda mount: len(mount[0].parts))[1] == "tmpfs"


@contextlib.contextmanager
def peak_folder_mb(folder: Path | None, every_s: float = 0.005) -> Iterator[list[float]]:
    """While the block runs, sample the total size of the files in ``folder`` (None: nothing to watch); the list
    it yields holds the peak in MiB once the block ends. Sampling can miss a peak shorter than ``every_s``."""
    peak, done = [0.0], threading.Event()
    if folder is None:
        yield peak
        return

    def sample() -> None:
        while not done.wait(every_s):
            sizes = []
            for entry in os.scandir(folder):
                with contextlib.suppress(FileNotFoundError):
                    sizes.append(entry.stat().st_size)
            peak[0] = max(peak[0], sum(sizes) / MIB)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    try:
        yield peak
    finally:
        done.set()
        watcher.join()
