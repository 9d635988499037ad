"""
### Score a batch with the champion model

Runs on every promotion: each event on the champion asset names the model
`train_and_score` promoted. When several promotions fold into one run, the
newest valid one wins; triggered by hand, the run uses the current champion
(the asset's newest valid promotion). An event without a signed reference and
a signed evaluation that passed the gate is skipped with a warning naming its
id; a run that only such events triggered is skipped.

`score_with_champion` loads another run's model on purpose, so it first checks
that the model comes from the run that promoted it and is the reference that
run recorded, then verifies its size and SHA-256 as every load does, scores a
batch and saves the predictions under this run.
{%- if cookiecutter.storage_backend == "variables" %}
`delete_run_variables` (a teardown task) deletes this run's Variables.
{%- endif %}
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import Param, dag, task

from {{ cookiecutter.package_name }}.assets import CHAMPION
from {{ cookiecutter.package_name }}.dag_defaults import DEFAULT_ARGS, START_DATE
{%- if cookiecutter.storage_backend == "variables" %}
from {{ cookiecutter.package_name }}.variables_teardown import delete_run_variables
{%- endif %}

log = logging.getLogger(__name__)


@dag(
    dag_id="score_champion",
    schedule=[CHAMPION],
    start_date=START_DATE,
    catchup=False,
    default_args=DEFAULT_ARGS,
    tags=["ml", "handoff", "{{ cookiecutter.storage_backend }}"],
    params={"seed": Param(42, type="integer", minimum=0, maximum=2**32 - 1, description="Seed of the batch to score")},
    doc_md=__doc__,
)
def score_champion() -> None:
    @task(inlets=[CHAMPION], multiple_outputs=False)
    def score_with_champion(batch_date: str, params: dict[str, Any], **context: Any) -> dict[str, Any]:
        """Score a batch with the newest valid champion and save the predictions under this run."""
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
        from airflow_model_handoff import save_artifact
        from airflow_model_handoff.champion import (
            current_champion,
            history_in_task,
            load_promoted,
            newest_promotion,
        )

        from {{ cookiecutter.package_name }}.ml.data import load_splits
        from {{ cookiecutter.package_name }}.ml.model import score

        triggering = context["triggering_asset_events"].get(CHAMPION, [])
        if triggering:
            champion = newest_promotion(triggering)
            if champion is None:
                raise AirflowSkipException(f"none of the {len(triggering)} triggering events is a valid promotion")
        else:
            champion = current_champion(history_in_task(lambda: context["inlet_events"][CHAMPION]))
            if champion is None:
                raise AirflowFailException("no model has been promoted yet: run train_and_score first")
        predictions = score(load_promoted(champion, context["ti"]), load_splits(params["seed"]).x_batch)
        positives = sum(p["prediction"] for p in predictions)
        log.info(
            "scored batch %s with the champion: %d rows, %d predicted benign", batch_date, len(predictions), positives
        )
        champion_ref = champion.reference
        predictions_ref = save_artifact(
            {"batch_date": batch_date, "model_sha256": champion_ref.sha256, "predictions": predictions},
            "predictions",
        )
        return {
            "predictions": predictions_ref,
            "champion_run_id": champion_ref.run_id,
            "model_sha256": champion_ref.sha256,
            "holdout_accuracy": champion.holdout_accuracy,
            "rows": len(predictions),
            "predicted_benign": positives,
        }

    {% if cookiecutter.storage_backend == "variables" %}scored = {% endif %}score_with_champion(batch_date="{% raw %}{{ dag_run.run_after | ds }}{% endraw %}")
{%- if cookiecutter.storage_backend == "variables" %}
    scored >> delete_run_variables()
{%- endif %}


score_champion()
