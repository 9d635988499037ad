"""Champion events as Airflow hands them over, made the way the gate task and ``promote_model`` make them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow_model_handoff.champion import promotion_extra
from airflow_model_handoff.evaluation import Evaluation
from airflow_model_handoff.reference import ArtifactRef
from airflow_model_handoff.settings import HandoffSettings


def evaluation_for(model_ref: dict[str, Any], value: float = 0.95, threshold: float = 0.9) -> dict[str, Any]:
    """The signed evaluation the gate task would return for ``model_ref`` (passed when value >= threshold)."""
    keys = HandoffSettings.from_env().signing_keys
    return Evaluation.create(ArtifactRef.from_dict(model_ref), "holdout_accuracy", value, threshold, keys).to_dict()


def promotion_event(
    event_id: int, model_ref: dict[str, Any], timestamp: datetime, source_run_id: str | None, value: float = 0.95
) -> dict[str, Any]:
    """An event as the REST API lists it: a task's names its run (``source_run_id``), an API-made one names none."""
    return {
        "id": event_id,
        "extra": promotion_extra(model_ref, evaluation_for(model_ref, value)),
        "timestamp": timestamp.isoformat(),
        "source_dag_id": None if source_run_id is None else model_ref["dag_id"],
        "source_run_id": source_run_id,
    }
