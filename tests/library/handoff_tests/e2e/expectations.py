"""What the e2e tests expect of a run: the log line of a verified load, and the predictions of a run's model."""

from __future__ import annotations

from typing import Any

from handoff_tests.project import project_module


def verified(ref: dict[str, Any]) -> str:
    """The line the handoff library logs once the stored bytes matched the reference."""
    return f"verified {ref['uri']} ({ref['size_bytes']} bytes, sha256 {ref['sha256']})"


def expected_predictions(seed: int, c: float) -> list[dict[str, Any]]:
    """What the run's model must predict: the same seed and c train the same model."""
    data, model = project_module("ml.data"), project_module("ml.model")
    splits = data.load_splits(seed)
    return model.score(model.train(splits.x_train, splits.y_train, c=c, seed=seed), splits.x_batch)
