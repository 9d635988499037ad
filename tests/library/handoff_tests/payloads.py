"""Objects the handoff tests save: a fitted model, a malicious pickle, and one that pickles slowly."""

from __future__ import annotations

import io
import pickle
import time
from pathlib import Path
from typing import Any

import joblib


def fitted_model() -> tuple[Any, Any]:
    """A fitted scikit-learn pipeline and the rows to predict with it."""
    from handoff_tests.project import project_module

    splits = project_module("ml.data").load_splits(3)
    return project_module("ml.model").train(splits.x_train, splits.y_train), splits.x_batch


class CreatesFileWhenUnpickled:
    """Unpickling this runs ``open(marker, "w")``: proof of code execution if the marker appears."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.marker, "w"))


def malicious_pickle(marker: Path) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(CreatesFileWhenUnpickled(marker), buffer)
    assert pickle.loads(buffer.getvalue()) is not None and marker.exists()  # it really is malicious
    marker.unlink()
    return buffer.getvalue()


def padded_malicious_pickle(marker: Path, size: int) -> bytes:
    """A joblib file that runs code when loaded, padded to ``size`` bytes (unpickling stops at its STOP opcode), to
    be written in place of a genuine artifact of that size."""
    forged = malicious_pickle(marker)
    assert len(forged) <= size, "the payload must fit in the genuine artifact's size"
    forged = forged.ljust(size, b"\0")
    joblib.load(io.BytesIO(forged))  # the padded bytes still run the code when deserialised
    assert marker.exists()
    marker.unlink()
    return forged


class PicklesSlowly:
    """Pickling this announces itself on stdout, then blocks: lets a test kill a save midway."""

    def __reduce__(self) -> tuple[Any, ...]:
        print("midway", flush=True)
        time.sleep(600)
        return (PicklesSlowly, ())
