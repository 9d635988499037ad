"""
### Train, evaluate and score a model, handing it between tasks through {{ cookiecutter.storage_backend }}

`train_model` fits a scikit-learn classifier and saves it with the handoff
library, which returns a small reference (URI, SHA-256, size, run and task).
Only that reference travels through XCom. `evaluate_model` loads the model
from storage (verifying its SHA-256 first) and fails the run when the
held-out accuracy is below the quality gate: the deployment's
`MODEL_MIN_ACCURACY` (default 0.9), or the `min_accuracy` param when that is
higher. It returns the gate's outcome signed and bound to the model.
`promote_model` then makes it the champion, per the `promote` param
(`if_better`: only when it beats the current champion on the same holdout;
`always` skips that comparison, never the gate), with one event on the champion
asset that the `score_champion` DAG runs on; when it does not promote, it is
skipped and says why. `score_batch` loads the model again and scores a batch,
saving the predictions next to the model and returning their reference with a
short summary.
{%- if cookiecutter.storage_backend == "variables" %}
`delete_run_variables` (a teardown task, with `train_model` as its setup)
deletes the run's Variables when the run ends, whether it succeeded or failed.
Clearing a task after the run ended runs `train_model` again before it (the
teardown had deleted the model), then the teardown again.
{%- endif %}

Heavy imports (scikit-learn, the handoff backends) happen inside the tasks so
that this file parses fast.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import Param, dag, task
from airflow_model_handoff.champion import PROMOTE_MODES

from {{ cookiecutter.package_name }}.assets import CHAMPION
from {{ cookiecutter.package_name }}.dag_defaults import DEFAULT_ARGS, START_DATE
{%- if cookiecutter.storage_backend == "variables" %}
from {{ cookiecutter.package_name }}.variables_teardown import delete_run_variables
{%- endif %}

log = logging.getLogger(__name__)


@dag(
    dag_id="train_and_score",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    default_args=DEFAULT_ARGS,
    tags=["ml", "handoff", "{{ cookiecutter.storage_backend }}"],
    params={
        "seed": Param(
            42, type="integer", minimum=0, maximum=2**32 - 1, description="Seed for the data split and the model"
        ),
        "c": Param(1.0, type="number", exclusiveMinimum=0, description="Inverse regularisation strength"),
        "min_accuracy": Param(
            None,
            type=["null", "number"],
            minimum=0,
            maximum=1,
            description="Raise the quality gate on the holdout above MODEL_MIN_ACCURACY (null: that floor)",
        ),
        "promote": Param(
            "if_better",
            enum=list(PROMOTE_MODES),
            description="Make the model the champion: if it beats the current one on the same holdout, always, never",
        ),
    },
    doc_md=__doc__,
)
def train_and_score() -> None:
    @task(multiple_outputs=False)
    def train_model(params: dict[str, Any]) -> dict[str, Any]:
        """Fit the classifier and save it; return its signed reference."""
        from airflow_model_handoff import save_model

        from {{ cookiecutter.package_name }}.ml.data import load_splits
        from {{ cookiecutter.package_name }}.ml.model import train

        splits = load_splits(params["seed"])
        model = train(splits.x_train, splits.y_train, c=params["c"], seed=params["seed"])
        return save_model(model)

    @task(multiple_outputs=False)
    def evaluate_model(model_ref: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        """Score the model on the holdout and apply the quality gate; return the signed outcome."""
        from airflow.sdk.exceptions import AirflowFailException
        from airflow_model_handoff import load_model
        from airflow_model_handoff.evaluation import (
            gate_threshold,
            sign_evaluation,
        )

        from {{ cookiecutter.package_name }}.ml.data import load_splits
        from {{ cookiecutter.package_name }}.ml.model import accuracy

        splits = load_splits(params["seed"])
        holdout_accuracy = accuracy(load_model(model_ref), splits.x_holdout, splits.y_holdout)
        evaluation = sign_evaluation(model_ref, holdout_accuracy, gate_threshold(params["min_accuracy"]))
        log.info("holdout accuracy %.4f (gate %s) for %s", holdout_accuracy, evaluation["threshold"], model_ref["uri"])
        if not evaluation["passed"]:
            # Fail without retrying: a retry would train the same model again.
            raise AirflowFailException(
                f"accuracy {holdout_accuracy:.4f} is below the quality gate {evaluation['threshold']}"
            )
        return evaluation

    @task(inlets=[CHAMPION], outlets=[CHAMPION], multiple_outputs=False)
    def promote_model(
        model_ref: dict[str, Any], evaluation: dict[str, Any], params: dict[str, Any], **context: Any
    ) -> dict[str, Any]:
        """Make the model the champion (one event on the champion asset), or skip and say why not."""
        from airflow.sdk.exceptions import AirflowSkipException
        from airflow_model_handoff.champion import decide_promotion

        from {{ cookiecutter.package_name }}.ml.data import load_splits
        from {{ cookiecutter.package_name }}.ml.model import accuracy

        splits = load_splits(params["seed"])
        decision = decide_promotion(
            model_ref,
            evaluation,
            params["promote"],
            events_of_asset=lambda: context["inlet_events"][CHAMPION],
            holdout_score=lambda champion: accuracy(champion, splits.x_holdout, splits.y_holdout),
            ti=context["ti"],
        )
        if not decision.promote:  # skipped: no event, the champion stays
            log.info("not promoted: %s", decision.skip_reason)
            raise AirflowSkipException(f"not promoted: {decision.skip_reason}")
        extra = decision.extra
        context["outlet_events"][CHAMPION].extra = extra
        log.info(
            "promoted %s (sha256 %s, holdout accuracy %.4f)",
            model_ref["uri"],
            model_ref["sha256"],
            extra["holdout_accuracy"],
        )
        return {"sha256": model_ref["sha256"], "holdout_accuracy": extra["holdout_accuracy"]}

    @task(multiple_outputs=False)
    def score_batch(
        model_ref: dict[str, Any], evaluation: dict[str, Any], batch_date: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        """Score a batch with the model and save the predictions next to it."""
        from airflow_model_handoff import load_model, save_artifact

        from {{ cookiecutter.package_name }}.ml.data import load_splits
        from {{ cookiecutter.package_name }}.ml.model import score

        splits = load_splits(params["seed"])
        predictions = score(load_model(model_ref), splits.x_batch)
        positives = sum(p["prediction"] for p in predictions)
        log.info("scored batch %s: %d rows, %d predicted benign", batch_date, len(predictions), positives)
        predictions_ref = save_artifact(
            {
                "batch_date": batch_date,
                "model_sha256": model_ref["sha256"],
                "holdout_accuracy": evaluation["value"],
                "predictions": predictions,
            },
            "predictions",
        )
        return {
            "predictions": predictions_ref,
            "model_sha256": model_ref["sha256"],
            "rows": len(predictions),
            "predicted_benign": positives,
        }

    model_ref = train_model()
    evaluation = evaluate_model(model_ref)
    {% if cookiecutter.storage_backend == "variables" %}promoted = {% endif %}promote_model(model_ref, evaluation)
    {% if cookiecutter.storage_backend == "variables" %}scored = {% endif %}score_batch(model_ref, evaluation, batch_date="{% raw %}{{ dag_run.run_after | ds }}{% endraw %}")
{%- if cookiecutter.storage_backend == "variables" %}
    [promoted, scored] >> delete_run_variables().as_teardown(setups=model_ref)
{%- endif %}


train_and_score()
