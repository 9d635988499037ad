"""The dataset: scikit-learn's bundled breast-cancer data, so nothing is downloaded at run time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split


@dataclass(frozen=True)
class Splits:
    """Train, held-out evaluation and a "new" batch to score, all from one seeded shuffle."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_holdout: np.ndarray
    y_holdout: np.ndarray
    x_batch: np.ndarray
    y_batch: np.ndarray


def load_splits(seed: int) -> Splits:
    """Deterministic for a seed, so each task re-derives its split instead of passing data around."""
    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_rest, y_train, y_rest = train_test_split(x, y, test_size=0.4, random_state=seed, stratify=y)
    x_holdout, x_batch, y_holdout, y_batch = train_test_split(
        x_rest, y_rest, test_size=0.5, random_state=seed, stratify=y_rest
    )
    return Splits(x_train, y_train, x_holdout, y_holdout, x_batch, y_batch)
