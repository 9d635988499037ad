"""The ML code on its own, without Airflow."""

from __future__ import annotations

import numpy as np

from {{ cookiecutter.package_name }}.ml.data import load_splits
from {{ cookiecutter.package_name }}.ml.model import accuracy, score, train


def test_splits_are_deterministic_and_disjoint() -> None:
    first, again, other = load_splits(1), load_splits(1), load_splits(2)
    np.testing.assert_array_equal(first.x_batch, again.x_batch)
    assert not np.array_equal(first.x_batch, other.x_batch)
    sizes = (len(first.x_train), len(first.x_holdout), len(first.x_batch))
    assert sum(sizes) == 569 and min(sizes) > 100


def test_model_beats_the_quality_gate_on_the_holdout() -> None:
    splits = load_splits(42)
    model = train(splits.x_train, splits.y_train, c=1.0, seed=42)
    assert accuracy(model, splits.x_holdout, splits.y_holdout) >= 0.9


def test_score_returns_one_record_per_row_consistent_with_predict() -> None:
    splits = load_splits(42)
    model = train(splits.x_train, splits.y_train)
    records = score(model, splits.x_batch)
    assert len(records) == len(splits.x_batch)
    assert [r["prediction"] for r in records] == model.predict(splits.x_batch).tolist()
    assert all(0.0 <= r["probability"] <= 1.0 for r in records)
