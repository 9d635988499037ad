"""The champion: the model that scoring DAGs use, promoted through events on the project's champion Asset.

A promotion is one event on the asset whose ``extra`` is
``{"reference": <signed reference>, "holdout_accuracy": <float>}``.
Airflow keeps every event, so the asset's history is the champion's history: the newest event names the
current champion; the older ones name the champions a rollback can return to, which retention keeps.

Loading a champion loads another run's model on purpose. ``load_promoted`` is the one path that does it, and only
after checking that the reference comes from the run that promoted it and is the one that run's task recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..lifecycle import CHAMPION_ASSET_NAME as CHAMPION_ASSET_NAME  # re-exported for the library's users
from ..lifecycle import KEEP_CHAMPIONS, PROMOTE_MODES
from .errors import ForeignRunError, MalformedReferenceError, MisconfiguredError, SignatureError
from .fail_fast import fail_fast_in_task
from .reference import ArtifactRef
from .signing import configured_signing_keys

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Promotion:
    """One event on the champion asset: which model became the champion, how good it was, and who said so."""

    reference: ArtifactRef
    holdout_accuracy: float
    timestamp: datetime
    source_dag_id: str | None = None
    source_run_id: str | None = None

    @classmethod
    def from_event(cls, event: Any, signing_keys: tuple[bytes, ...] | None = None) -> Promotion:
        """From an asset event of the Task SDK (attributes) or of the REST API (a dict); refuses a malformed one
        and one whose reference no task of this deployment signed (``signing_keys``: from the environment)."""

        def field(name: str) -> Any:
            return event.get(name) if isinstance(event, dict) else getattr(event, name, None)

        extra = field("extra")
        if not isinstance(extra, dict) or "reference" not in extra:
            raise MalformedReferenceError(f"champion event {field('id')} carries no model reference: {extra!r}")
        accuracy = extra.get("holdout_accuracy")
        if type(accuracy) not in (int, float) or not 0 <= accuracy <= 1:
            raise MalformedReferenceError(
                f"champion event {field('id')} has no holdout_accuracy in [0, 1]: {accuracy!r}"
            )
        timestamp = field("timestamp")
        if isinstance(timestamp, str):
            timestamp = datetime.fromisoformat(timestamp)
        reference = ArtifactRef.from_dict(extra["reference"])
        reference.check_signature(configured_signing_keys() if signing_keys is None else signing_keys)
        return cls(
            reference,
            float(accuracy),
            timestamp,
            field("source_dag_id"),
            field("source_run_id"),
        )

    def describe(self) -> str:
        ref = self.reference
        return (
            f"run {ref.run_id!r} of DAG {ref.dag_id!r}: sha256 {ref.sha256}, holdout accuracy "
            f"{self.holdout_accuracy:.4f}, promoted {self.timestamp:%Y-%m-%d %H:%M:%S %Z}"
        )


def promotion_extra(model_ref: dict[str, Any], holdout_accuracy: float) -> dict[str, Any]:
    """The ``extra`` of a promotion event (DESIGN.md section 5)."""
    return {"reference": ArtifactRef.from_dict(model_ref).to_dict(), "holdout_accuracy": float(holdout_accuracy)}


def newest_promotion(events: Iterable[Any]) -> Promotion | None:
    """The newest of ``events`` (several can fold into one consumer run), or None when there is none."""
    return max((Promotion.from_event(event) for event in events), key=lambda p: p.timestamp, default=None)


def promotion_history(events: Iterable[Any]) -> list[Promotion]:
    """The well-formed promotions among ``events``, newest first; a malformed event is logged and left out."""
    promotions = []
    for event in events:
        try:
            promotions.append(Promotion.from_event(event))
        except (MalformedReferenceError, SignatureError) as exc:
            log.warning("ignoring a champion event that is malformed or not signed by this deployment: %s", exc)
    return sorted(promotions, key=lambda promotion: promotion.timestamp, reverse=True)


def pinned_promotions(history: list[Promotion], keep_champions: int = KEEP_CHAMPIONS) -> list[Promotion]:
    """The current champion and the ``keep_champions`` distinct champions before it (history newest first)."""
    if keep_champions < 0:
        raise MisconfiguredError(f"keep_champions must be 0 or more, got {keep_champions}")
    pinned: dict[str, Promotion] = {}
    for promotion in history:
        if len(pinned) > keep_champions:
            break
        pinned.setdefault(promotion.reference.uri, promotion)
    return list(pinned.values())


def retired_promotions(history: list[Promotion], keep_champions: int = KEEP_CHAMPIONS) -> list[Promotion]:
    """Champions that have dropped out of the pinned ones (history newest first), each model once."""
    pinned = {promotion.reference.uri for promotion in pinned_promotions(history, keep_champions)}
    retired: dict[str, Promotion] = {}
    for promotion in history:
        if promotion.reference.uri not in pinned:
            retired.setdefault(promotion.reference.uri, promotion)
    return list(retired.values())


def reason_not_to_promote(mode: str, holdout_accuracy: float, champion_accuracy: float | None) -> str | None:
    """Why a model that passed its quality gate is not promoted, or None to promote it.

    ``champion_accuracy`` is the current champion's accuracy on the same holdout (None: no champion yet).
    """
    if mode not in PROMOTE_MODES:
        raise MisconfiguredError(f"promote must be one of {', '.join(PROMOTE_MODES)}, got {mode!r}")
    if mode == "never":
        return "promote=never"
    if mode == "if_better" and champion_accuracy is not None and holdout_accuracy <= champion_accuracy:
        return (
            f"holdout accuracy {holdout_accuracy:.4f} does not beat the champion's {champion_accuracy:.4f} "
            "on the same holdout"
        )
    return None


def check_provenance(promotion: Promotion, recorded_reference: Any) -> ArtifactRef:
    """The promoted reference, once it is shown to come from where it claims to.

    - An event a run emitted must carry that run's own model (events created through the REST API,
      as ``promote --run-id`` does, name no source run).
    - The reference must be exactly the one its run's task returned, as Airflow recorded it (XCom).
    """
    ref = promotion.reference
    if promotion.source_run_id is not None and (promotion.source_dag_id, promotion.source_run_id) != (
        ref.dag_id,
        ref.run_id,
    ):
        raise ForeignRunError(
            f"the champion event was emitted by run {promotion.source_run_id!r} of DAG {promotion.source_dag_id!r} "
            f"but names a model of run {ref.run_id!r} of DAG {ref.dag_id!r}: refusing it"
        )
    if recorded_reference != ref.to_dict():
        raise ForeignRunError(
            f"the champion reference is not the one task {ref.task_id!r} of run {ref.run_id!r} (DAG {ref.dag_id!r}) "
            "recorded in Airflow: refusing it"
        )
    return ref


def load_promoted(promotion: Promotion, ti: Any) -> Any:
    """In a task (``ti``: its task instance), load the promoted model: provenance first, then size and SHA-256.
    A champion that fails either check fails the task at once: a retry would find the same."""
    from . import default_store

    with fail_fast_in_task():
        claimed = promotion.reference
        recorded = ti.xcom_pull(dag_id=claimed.dag_id, run_id=claimed.run_id, task_ids=claimed.task_id)
        ref = check_provenance(promotion, recorded)
        log.info("champion: %s", promotion.describe())
        return default_store().load(ref, allow_other_run=True)
