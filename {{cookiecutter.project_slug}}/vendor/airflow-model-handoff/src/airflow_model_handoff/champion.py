"""The champion: the model that scoring DAGs use, promoted through events on the project's champion Asset (the
project names it; the command line reads its name from ``HANDOFF_CHAMPION_ASSET``).

A promotion is one event on the asset whose ``extra`` is
``{"reference": <signed reference>, "evaluation": <signed evaluation>, "holdout_accuracy": <float>}``
(the plain accuracy is for people; only the signed evaluation counts). Airflow keeps every event, so the asset's
history is the champion's history. Anyone allowed to post asset events through the REST API can add events, so
an event is a *valid* promotion only when its reference and its evaluation are both signed by this deployment,
judge the same model, and the gate passed (``evaluation.passed_evaluation``). The current champion is the newest
valid promotion; invalid events are skipped with a warning naming their id, never an error, and however many
follow it, the history is read (a page at a time) until enough valid ones are found.

Loading a champion loads another run's model on purpose. ``load_promoted`` is the one path that does it, and only
after checking that the reference comes from the run that promoted it and is the one that run's task recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .errors import (
    ArtifactNotFoundError,
    ForeignRunError,
    MalformedReferenceError,
    MisconfiguredError,
    ReferenceRefusedError,
)
from .evaluation import Evaluation, passed_evaluation
from .fail_fast import fail_fast_in_task
from .reference import ArtifactRef
from .signing import configured_signing_keys
from .storage import default_store

log = logging.getLogger(__name__)

# Besides the current champion, how many earlier champions stay stored for a rollback.
KEEP_CHAMPIONS = 2
# A run's choice (the ``promote`` param): only when it beats the champion, whenever the gate passed, or not at all.
PROMOTE_MODES = ("if_better", "always", "never")
# Events read from the asset's history per request, while looking for valid promotions.
EVENTS_PAGE = 100
# How much of a refused event's extra a warning shows: an attacker chooses it, and it may be huge.
SHOWN_CHARS = 200


@dataclass(frozen=True)
class Promotion:
    """One valid event on the champion asset: which model became the champion, its signed evaluation, and who
    said so."""

    reference: ArtifactRef
    evaluation: Evaluation
    timestamp: datetime
    event_id: int | None = None
    source_dag_id: str | None = None
    source_run_id: str | None = None

    @property
    def holdout_accuracy(self) -> float:
        """The signed accuracy the gate measured (never the event's plain ``holdout_accuracy``)."""
        return self.evaluation.value

    @classmethod
    def from_event(cls, event: Any, signing_keys: tuple[bytes, ...] | None = None) -> Promotion:
        """From an asset event of the Task SDK (attributes) or of the REST API (a dict); refuses one that is not a
        valid promotion (``signing_keys``: from the environment)."""
        extra = event_field(event, "extra")
        if not isinstance(extra, dict) or not {"reference", "evaluation"} <= extra.keys():
            shown = repr(extra)[:SHOWN_CHARS]
            raise MalformedReferenceError(f"it carries no signed model reference and evaluation: {shown}")
        keys = configured_signing_keys() if signing_keys is None else signing_keys
        reference, evaluation = passed_evaluation(extra["reference"], extra["evaluation"], keys)
        timestamp = event_field(event, "timestamp")
        try:
            timestamp = datetime.fromisoformat(timestamp) if isinstance(timestamp, str) else timestamp
        except ValueError:
            raise MalformedReferenceError(f"its timestamp is not a date: {timestamp!r}") from None
        if not isinstance(timestamp, datetime):
            raise MalformedReferenceError(f"its timestamp is not a date: {timestamp!r}")
        source = (event_field(event, "source_dag_id"), event_field(event, "source_run_id"))
        return cls(reference, evaluation, timestamp, event_field(event, "id"), *source)

    def describe(self) -> str:
        ref = self.reference
        return (
            f"run {ref.run_id!r} of DAG {ref.dag_id!r}: sha256 {ref.sha256}, holdout accuracy "
            f"{self.holdout_accuracy:.4f}, promoted {self.timestamp:%Y-%m-%d %H:%M:%S %Z}"
        )


def event_field(event: Any, name: str) -> Any:
    """A field of an asset event, whether the Task SDK's (attributes) or the REST API's (a dict)."""
    return event.get(name) if isinstance(event, dict) else getattr(event, name, None)


def event_label(event: Any) -> str:
    """How a log names an event: its id, or its time where Airflow hands over none (a run's triggering events)."""
    event_id = event_field(event, "id")
    return f"id {event_id}" if event_id is not None else f"of {event_field(event, 'timestamp')}"


def promotion_extra(model_ref: Any, evaluation: Any) -> dict[str, Any]:
    """The ``extra`` of a promotion event (DESIGN.md section 5), once the reference and its evaluation are shown
    signed, bound to each other and passed: a model that failed its gate raises ``GateNotPassedError``."""
    ref, checked = passed_evaluation(model_ref, evaluation, configured_signing_keys())
    return {"reference": ref.to_dict(), "evaluation": checked.to_dict(), "holdout_accuracy": checked.value}


def valid_promotions(events: Iterable[Any], signing_keys: tuple[bytes, ...] | None = None) -> Iterator[Promotion]:
    """The valid promotions among ``events``, in their order, read lazily; each invalid one is logged with its id
    and skipped (a missing signing key is not skipped: it is the deployment's error, and raised)."""
    keys = configured_signing_keys() if signing_keys is None else signing_keys
    for event in events:
        try:
            yield Promotion.from_event(event, keys)
        except (MalformedReferenceError, ReferenceRefusedError) as exc:
            log.warning("ignoring champion event %s, not a valid promotion: %s", event_label(event), exc)


def newest_promotion(events: Iterable[Any]) -> Promotion | None:
    """The newest valid promotion among ``events`` in any order (several can fold into one consumer run)."""
    return max(valid_promotions(events), key=lambda p: p.timestamp, default=None)


def promotion_history(events: Iterable[Any]) -> list[Promotion]:
    """The valid promotions among ``events``, newest first (each invalid one logged and left out)."""
    return sorted(valid_promotions(events), key=lambda promotion: promotion.timestamp, reverse=True)


def current_champion(events_newest_first: Iterable[Any]) -> Promotion | None:
    """The current champion: the first valid promotion of the asset's history, newest first; None if none."""
    return next(valid_promotions(events_newest_first), None)


def history_in_task(events_of_asset: Callable[[], Any], page: int = EVENTS_PAGE) -> Iterator[Any]:
    """The asset's events newest first, as a task reads them (``lambda: context["inlet_events"][ASSET]``), a page
    of ``page`` at a time and only as far as they are consumed. Pages step back by timestamp (Airflow's
    ``before`` is inclusive: events seen already are dropped by id)."""
    seen: set[int] = set()
    before: datetime | None = None
    while True:
        accessor = events_of_asset().ascending(False).limit(page)
        batch = list(accessor if before is None else accessor.before(before))
        fresh = [event for event in batch if event.id not in seen]
        yield from fresh
        if len(batch) < page or not fresh:
            return
        seen.update(event.id for event in fresh)
        before = fresh[-1].timestamp


def pinned_promotions(history: Iterable[Promotion], keep_champions: int = KEEP_CHAMPIONS) -> list[Promotion]:
    """The current champion and the ``keep_champions`` distinct champions before it (history newest first); reads
    ``history`` only as far as it needs."""
    if keep_champions < 0:
        raise MisconfiguredError(f"keep_champions must be 0 or more, got {keep_champions}")
    pinned: dict[str, Promotion] = {}
    for promotion in history:
        pinned.setdefault(promotion.reference.uri, promotion)
        if len(pinned) > keep_champions:
            break
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
    with fail_fast_in_task():
        claimed = promotion.reference
        recorded = ti.xcom_pull(dag_id=claimed.dag_id, run_id=claimed.run_id, task_ids=claimed.task_id)
        ref = check_provenance(promotion, recorded)
        log.info("champion: %s", promotion.describe())
        return default_store().load(ref, allow_other_run=True)


@dataclass(frozen=True)
class PromotionDecision:
    """What ``decide_promotion`` found: the event's extra to emit, or why not (then nothing is emitted)."""

    extra: dict[str, Any]
    skip_reason: str | None

    @property
    def promote(self) -> bool:
        return self.skip_reason is None


def decide_promotion(
    model_ref: Any,
    evaluation: Any,
    mode: str,
    *,
    events_of_asset: Callable[[], Any],
    holdout_score: Callable[[Any], float],
    ti: Any,
) -> PromotionDecision:
    """In the promoting task: promote this model, or say why not.

    First, and only from signed inputs, the model and its evaluation are bound to each other and the gate passed
    (else the task fails at once). With ``mode="if_better"`` the current champion (the newest valid event of
    ``events_of_asset()``, the task's ``inlet_events[asset]``) is loaded, provenance checked, and scored with
    ``holdout_score`` (the project's metric on the holdout its gate used); a champion whose model is gone can
    score nothing, so this model, which passed the gate, replaces it.
    """
    with fail_fast_in_task():
        extra = promotion_extra(model_ref, evaluation)
    champion_score = None
    if mode == "if_better":
        champion = current_champion(history_in_task(events_of_asset))
        if champion is not None:
            try:
                champion_model = load_promoted(champion, ti)
            except ArtifactNotFoundError as gone:
                log.warning("the champion's model is no longer stored, so it is not compared: %s", gone)
            else:
                champion_score = holdout_score(champion_model)
    return PromotionDecision(extra, reason_not_to_promote(mode, extra["holdout_accuracy"], champion_score))
