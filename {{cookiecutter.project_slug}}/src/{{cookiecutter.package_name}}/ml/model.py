"""The model: standardised features into a logistic regression, small enough for every backend."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler


def train(x: np.ndarray, y: np.ndarray, *, c: float = 1.0, seed: int = 42) -> Pipeline:
    """Fit the classifier; ``c`` is the inverse regularisation strength."""
    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=1000, random_state=seed))
    return model.fit(x, y)


def accuracy(model: Pipeline, x: np.ndarray, y: np.ndarray) -> float:
    return float(accuracy_score(y, model.predict(x)))


def score(model: Pipeline, x: np.ndarray) -> list[dict[str, float | int]]:
    """One record per row: the predicted class and the probability of class 1 (malignant=0, benign=1)."""
    probabilities = model.predict_proba(x)[:, 1]
    return [{"prediction": int(p >= 0.5), "probability": round(float(p), 6)} for p in probabilities]
