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
    from {{ cookiecutter.package_name }}.ml.data import load_splits
    from {{ cookiecutter.package_name }}.ml.model import train

    splits = load_splits(3)
    return train(splits.x_train, splits.y_train), splits.x_batch


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


class PicklesSlowly:
    """Pickling this announces itself on stdout, then blocks: lets a test kill a save midway."""

    def __reduce__(self) -> tuple[Any, ...]:
        print("midway", flush=True)
        time.sleep(600)
        return (PicklesSlowly, ())
