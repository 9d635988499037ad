"""The champion's rules, on asset events as Airflow hands them over: which event wins, what stays pinned,
when a model is promoted, and which promoted references are refused before any storage is read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from {{ cookiecutter.package_name }}.handoff import (
    ForeignRunError,
    MalformedReferenceError,
    MisconfiguredError,
    RunScope,
    SignatureError,
)
from {{ cookiecutter.package_name }}.handoff.champion import (
    Promotion,
    check_provenance,
    newest_promotion,
    pinned_promotions,
    promotion_extra,
    promotion_history,
    reason_not_to_promote,
    retired_promotions,
)
from {{ cookiecutter.package_name }}.handoff.reference import ArtifactRef
from {{ cookiecutter.package_name }}.handoff.settings import HandoffSettings

from tests.handoff.forgery import resigned

START = datetime(2026, 1, 1, tzinfo=UTC)


def model_ref(run: str) -> dict[str, Any]:
    scope = RunScope("train_and_score", run, "train_model", 1)
    keys = HandoffSettings.from_env().signing_keys
    ref = ArtifactRef.create(f"file:///models/{run}/model", "a" * 64, 10, "joblib", scope, keys).to_dict()
    return resigned({**ref, "created_at": START.isoformat()})


def event(run: str, minute: int, *, source: str | None = "own", accuracy: float = 0.95) -> dict[str, Any]:
    """An asset event as the REST API lists it (a task's event names its run; an API-made one names none)."""
    return {
        "id": minute,
        "extra": promotion_extra(model_ref(run), accuracy),
        "timestamp": (START + timedelta(minutes=minute)).isoformat(),
        "source_dag_id": None if source is None else "train_and_score",
        "source_run_id": None if source is None else (run if source == "own" else source),
    }


def runs_of(promotions: list[Promotion]) -> list[str]:
    return [promotion.reference.run_id for promotion in promotions]


def test_the_newest_of_several_folded_events_wins_whatever_their_order() -> None:
    assert newest_promotion([event("b", 2), event("c", 3), event("a", 1)]).reference.run_id == "c"
    assert newest_promotion([]) is None


def test_pins_are_the_current_and_the_previous_distinct_champions_and_a_rollback_counts_once() -> None:
    # a, b, c, d promoted in turn, then a rollback to c: newest first c, d, c, b, a.
    history = promotion_history(
        [event("a", 1), event("b", 2), event("c", 3), event("d", 4), event("c", 5, source=None)]
    )
    assert runs_of(history) == ["c", "d", "c", "b", "a"]
    assert runs_of(pinned_promotions(history, 2)) == ["c", "d", "b"]
    assert runs_of(retired_promotions(history, 2)) == ["a"]
    assert runs_of(pinned_promotions(history, 0)) == ["c"]
    assert runs_of(retired_promotions(history, 0)) == ["d", "b", "a"]
    with pytest.raises(MisconfiguredError, match="keep_champions must be 0 or more"):
        pinned_promotions(history, -1)  # would pin nothing at all


def test_a_malformed_event_is_left_out_of_the_history_but_refused_as_the_champion() -> None:
    broken = {**event("x", 9), "extra": {"holdout_accuracy": 0.9}}
    assert runs_of(promotion_history([event("a", 1), broken])) == ["a"]
    with pytest.raises(MalformedReferenceError, match="carries no model reference"):
        newest_promotion([event("a", 1), broken])


@pytest.mark.parametrize("accuracy", [1.5, -0.1, "0.9", True, None])
def test_an_event_without_a_sound_accuracy_is_refused(accuracy: Any) -> None:
    broken = event("a", 1)
    broken["extra"]["holdout_accuracy"] = accuracy
    with pytest.raises(MalformedReferenceError, match="holdout_accuracy"):
        Promotion.from_event(broken)


@pytest.mark.parametrize(
    ("mode", "accuracy", "champion_accuracy", "promoted"),
    [
        ("if_better", 0.95, None, True),  # no champion yet
        ("if_better", 0.96, 0.95, True),
        ("if_better", 0.95, 0.95, False),  # a tie keeps the champion
        ("if_better", 0.92, 0.95, False),
        ("always", 0.92, 0.95, True),
        ("never", 0.99, None, False),
    ],
)
def test_promotion_decision(mode: str, accuracy: float, champion_accuracy: float | None, promoted: bool) -> None:
    assert (reason_not_to_promote(mode, accuracy, champion_accuracy) is None) == promoted


def test_a_reference_from_another_run_than_the_events_source_is_refused() -> None:
    promotion = Promotion.from_event(event("a", 1, source="someone-else"))
    with pytest.raises(ForeignRunError, match="emitted by run 'someone-else'"):
        check_provenance(promotion, model_ref("a"))


def test_a_reference_that_its_run_did_not_record_is_refused() -> None:
    promotion = Promotion.from_event(event("a", 1, source=None))  # made through the REST API
    tampered = {**model_ref("a"), "sha256": "b" * 64}
    with pytest.raises(ForeignRunError, match="not the one task 'train_model' of run 'a'"):
        check_provenance(promotion, tampered)
    with pytest.raises(ForeignRunError, match="not the one"):
        check_provenance(promotion, None)  # the run recorded nothing
    assert check_provenance(promotion, model_ref("a")).run_id == "a"


def test_an_event_whose_reference_no_task_signed_is_left_out_and_refused_as_the_champion() -> None:
    """Someone allowed to create asset events (the REST API) cannot make a reference the workers would trust."""
    forged = event("x", 9, source=None)
    forged["extra"]["reference"] = {**forged["extra"]["reference"], "run_id": "y"}  # altered, not re-signed
    unsigned = event("z", 8, source=None)
    del unsigned["extra"]["reference"]["signature"]
    assert runs_of(promotion_history([event("a", 1), forged, unsigned])) == ["a"]
    with pytest.raises(SignatureError, match="altered"):
        newest_promotion([event("a", 1), forged])
    with pytest.raises(SignatureError, match="not signed"):
        newest_promotion([event("a", 1), unsigned])
