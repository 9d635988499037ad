"""The quality gate's outcome, signed like a reference and bound to the model it judged (DESIGN.md section 5).

``evaluate_model`` makes one with ``sign_evaluation``; a promotion carries it beside the model's reference, and
nothing becomes the champion without a valid one that passed. The signature is the one that signs references
(``HANDOFF_SIGNING_KEY``), so someone who can edit XComs or post asset events cannot make, alter or move one: an
evaluation names the model's SHA-256, URI and run, and is refused beside any other model.

The gate's floor is a deployment setting, ``MODEL_MIN_ACCURACY`` (default 0.9): a run may raise the threshold,
never lower it, so a param passed with a trigger cannot let a useless model through.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from .errors import GateNotPassedError, MalformedReferenceError, MisconfiguredError
from .reference import ArtifactRef
from .signing import check_signature, signature_for, signed_record_fields

MIN_ACCURACY_VARIABLE = "MODEL_MIN_ACCURACY"
DEFAULT_MIN_ACCURACY = 0.9
METRIC = "holdout_accuracy"


def min_accuracy_floor() -> float:
    """``MODEL_MIN_ACCURACY``, the gate's floor for every run of this deployment; a bad value is an error."""
    raw = os.environ.get(MIN_ACCURACY_VARIABLE, "")
    if not raw.strip():
        return DEFAULT_MIN_ACCURACY
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:  # NaN fails too
        raise MisconfiguredError(f"{MIN_ACCURACY_VARIABLE}={raw!r} is not a number between 0 and 1")
    return value


def gate_threshold(requested: float | None = None) -> float:
    """The threshold a run applies: the deployment's floor, or the run's ``min_accuracy`` if that is higher."""
    floor = min_accuracy_floor()
    return floor if requested is None else max(floor, float(requested))


@dataclass(frozen=True)
class Evaluation:
    model_sha256: str
    model_uri: str
    metric: str
    value: float
    threshold: float
    passed: bool
    dag_id: str
    run_id: str
    created_at: str
    signature: str | None  # None only for one someone stripped: ``check_signature`` refuses it

    @classmethod
    def create(
        cls, model_ref: ArtifactRef, metric: str, value: float, threshold: float, signing_keys: tuple[bytes, ...]
    ) -> Evaluation:
        """The signed outcome of the gate for ``model_ref``: passed when ``value`` reaches ``threshold``."""
        created_at = datetime.now(UTC).isoformat(timespec="seconds")
        value, threshold = float(value), float(threshold)
        model = (model_ref.sha256, model_ref.uri)
        outcome = (metric, value, threshold, value >= threshold)
        unsigned = cls(*model, *outcome, model_ref.dag_id, model_ref.run_id, created_at, None)
        return cls(**{**asdict(unsigned), "signature": signature_for(unsigned.signed_fields(), signing_keys)})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def signed_fields(self) -> dict[str, Any]:
        return {name: value for name, value in asdict(self).items() if name != "signature"}

    @classmethod
    def from_dict(cls, data: Any) -> Evaluation:
        """Validate and build an evaluation; any deviation from its exact shape raises ``MalformedReferenceError``."""
        if isinstance(data, cls):
            return data
        data = signed_record_fields(cls, data, "evaluation")
        if not all(math.isfinite(data[name]) for name in ("value", "threshold")):
            raise MalformedReferenceError("malformed evaluation: value and threshold must be finite numbers")
        return cls(**data)

    def check_signature(self, signing_keys: tuple[bytes, ...]) -> None:
        check_signature(self.signed_fields(), self.signature, signing_keys, f"the evaluation of {self.model_uri!r}")

    def check_passed_for(self, model_ref: ArtifactRef) -> None:
        """Refuse unless this evaluation judged exactly ``model_ref`` (same bytes, place and run) and it passed."""
        judged = (self.model_sha256, self.model_uri, self.dag_id, self.run_id)
        if judged != (model_ref.sha256, model_ref.uri, model_ref.dag_id, model_ref.run_id):
            raise GateNotPassedError(
                f"the evaluation judged {self.model_uri!r} (run {self.run_id!r}, sha256 {self.model_sha256[:12]}...), "
                f"not the model {model_ref.uri!r} it came with: refusing it"
            )
        if not self.passed or self.value < self.threshold:
            raise GateNotPassedError(
                f"the model {model_ref.uri!r} failed its quality gate ({self.metric} {self.value:.4f} below "
                f"{self.threshold}): it cannot become the champion"
            )


def sign_evaluation(model_ref: Any, value: float, threshold: float, metric: str = METRIC) -> dict[str, Any]:
    """In the gate task: the signed evaluation of ``model_ref`` (a checked reference), ready to return (XCom)."""
    from .settings import HandoffSettings

    keys = HandoffSettings.from_env().signing_keys
    ref = ArtifactRef.from_dict(model_ref)
    ref.check_signature(keys)
    return Evaluation.create(ref, metric, value, threshold, keys).to_dict()


def passed_evaluation(
    model_ref: Any, evaluation: Any, signing_keys: tuple[bytes, ...]
) -> tuple[ArtifactRef, Evaluation]:
    """The model's reference and its evaluation, once both are shown signed by this deployment, bound to each
    other, and the gate passed; raises the library's errors otherwise (nothing is read from storage)."""
    ref = ArtifactRef.from_dict(model_ref)
    ref.check_signature(signing_keys)
    checked = Evaluation.from_dict(evaluation)
    checked.check_signature(signing_keys)
    checked.check_passed_for(ref)
    return ref, checked
