"""The champion's rules, on asset events as Airflow hands them over: which event wins, what stays pinned, when a
model is promoted, and which events are not promotions at all (junk, forged, or a model that failed its gate)."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from airflow_model_handoff import (
    ForeignRunError,
    MisconfiguredError,
    RunScope,
    SignatureError,
)
from airflow_model_handoff.champion import (
    Promotion,
    check_provenance,
    current_champion,
    newest_promotion,
    pinned_promotions,
    promotion_extra,
    promotion_history,
    reason_not_to_promote,
    retired_promotions,
    valid_promotions,
)
from airflow_model_handoff.errors import (
    GateNotPassedError,
    MalformedReferenceError,
)
from airflow_model_handoff.evaluation import (
    Evaluation,
    gate_threshold,
    min_accuracy_floor,
)
from airflow_model_handoff.reference import ArtifactRef
from airflow_model_handoff.settings import HandoffSettings

from handoff_tests.forgery import resigned
from handoff_tests.promotions import evaluation_for, promotion_event

START = datetime(2026, 1, 1, tzinfo=UTC)


def model_ref(run: str) -> dict[str, Any]:
    scope = RunScope("train_and_score", run, "train_model", 1)
    keys = HandoffSettings.from_env().signing_keys
    ref = ArtifactRef.create(f"file:///models/{run}/model", "a" * 64, 10, "joblib", scope, keys).to_dict()
    return resigned({**ref, "created_at": START.isoformat()})


def event(run: str, minute: int, *, source: str | None = "own", accuracy: float = 0.95) -> dict[str, Any]:
    """A valid promotion of ``run``'s model (``source``: the run that emitted it; None for one made through the
    REST API, as ``promote --run-id`` does)."""
    source_run = None if source is None else (run if source == "own" else source)
    return promotion_event(minute, model_ref(run), START + timedelta(minutes=minute), source_run, accuracy)


def junk(minute: int, extra: Any = None) -> dict[str, Any]:
    """What anyone allowed to post asset events can add: any extra, any number of times."""
    timestamp = (START + timedelta(minutes=minute)).isoformat()
    return {"id": 1000 + minute, "extra": {"junk": 1} if extra is None else extra, "timestamp": timestamp}


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


def test_junk_events_are_skipped_with_a_warning_naming_them_never_an_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    folded = [event("a", 1), junk(2), junk(3, "not a dict"), junk(4, {"reference": None, "evaluation": [1]})]
    assert newest_promotion(folded).reference.run_id == "a"
    assert runs_of(promotion_history(folded)) == ["a"]
    assert newest_promotion([junk(5)]) is None
    warned = " ".join(record.getMessage() for record in caplog.records)
    assert all(f"ignoring champion event id {1000 + minute}" in warned for minute in (2, 3, 4))


def test_pins_survive_any_number_of_invalid_events_and_read_no_further_than_needed() -> None:
    """Newest first: 150 junk events, then the champions; the history is consumed only up to the last pin."""
    read = 0

    def newest_first() -> Iterator[dict[str, Any]]:
        nonlocal read
        older = [event("c", 3), event("b", 2), event("a", 1), event("z", 0)]
        for item in itertools.chain((junk(10 + i) for i in range(150)), older):
            read += 1
            yield item

    assert runs_of(pinned_promotions(valid_promotions(newest_first()), 2)) == ["c", "b", "a"]
    assert read == 153, "event z, the oldest, need not be read"
    assert current_champion([junk(9), event("a", 1)]).reference.run_id == "a"


def test_a_forged_or_stripped_reference_is_not_a_promotion() -> None:
    """Someone allowed to create asset events (the REST API) cannot make a reference the workers would trust."""
    forged = event("x", 9, source=None)
    forged["extra"]["reference"] = {**forged["extra"]["reference"], "run_id": "y"}  # altered, not re-signed
    unsigned = event("z", 8, source=None)
    del unsigned["extra"]["reference"]["signature"]
    assert runs_of(promotion_history([event("a", 1), forged, unsigned])) == ["a"]
    assert newest_promotion([event("a", 1), forged]).reference.run_id == "a"
    with pytest.raises(SignatureError, match="altered"):
        Promotion.from_event(forged)
    with pytest.raises(SignatureError, match="not signed"):
        Promotion.from_event(unsigned)


def test_a_model_that_failed_its_gate_is_never_a_champion_whatever_the_event_claims() -> None:
    """The attack of the trust issue: a gate-failed run's genuine reference posted with a false accuracy."""
    failed_ref = model_ref("failed")
    failed_evaluation = evaluation_for(failed_ref, value=0.63, threshold=0.9)
    claims = [
        {"reference": failed_ref, "holdout_accuracy": 0.99},  # no evaluation at all
        {"reference": failed_ref, "evaluation": failed_evaluation, "holdout_accuracy": 0.99},  # it failed
        {"reference": failed_ref, "evaluation": {**failed_evaluation, "value": 0.99, "passed": True}},  # altered
        {"reference": failed_ref, "evaluation": evaluation_for(model_ref("good"))},  # another model's pass
    ]
    events = [junk(i, extra) for i, extra in enumerate(claims)]
    assert promotion_history(events) == []
    errors = []
    for each in events:
        with pytest.raises((MalformedReferenceError, GateNotPassedError, SignatureError)) as refused:
            Promotion.from_event(each)
        errors.append(type(refused.value).__name__)
    assert errors == ["MalformedReferenceError", "GateNotPassedError", "SignatureError", "GateNotPassedError"]


def test_the_accuracy_of_a_champion_is_its_signed_one() -> None:
    shown = event("a", 1, accuracy=0.93)
    shown["extra"]["holdout_accuracy"] = 0.99  # the plain field is for people only
    assert Promotion.from_event(shown).holdout_accuracy == pytest.approx(0.93)


def test_only_a_passed_evaluation_of_the_same_model_makes_a_promotion() -> None:
    ref = model_ref("a")
    assert promotion_extra(ref, evaluation_for(ref))["holdout_accuracy"] == pytest.approx(0.95)
    with pytest.raises(GateNotPassedError, match="failed its quality gate"):
        promotion_extra(ref, evaluation_for(ref, value=0.5))
    with pytest.raises(GateNotPassedError, match="not the model"):
        promotion_extra(ref, evaluation_for(model_ref("b")))
    with pytest.raises(MalformedReferenceError, match="evaluation must be a dict"):
        promotion_extra(ref, 0.97)  # what evaluate_model returned before evaluations were signed


@pytest.mark.parametrize(
    ("field", "value"), [("value", 1), ("value", "0.9"), ("passed", 1), ("threshold", float("nan")), ("metric", None)]
)
def test_an_evaluation_of_the_wrong_shape_is_refused_before_its_signature(field: str, value: Any) -> None:
    evaluation = evaluation_for(model_ref("a"))
    with pytest.raises(MalformedReferenceError, match="malformed evaluation"):
        Evaluation.from_dict({**evaluation, field: value})


def test_the_gate_floor_is_the_deployments_and_a_run_can_only_raise_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODEL_MIN_ACCURACY", raising=False)
    assert min_accuracy_floor() == 0.9
    assert gate_threshold(None) == 0.9 and gate_threshold(0) == 0.9 and gate_threshold(0.95) == 0.95
    monkeypatch.setenv("MODEL_MIN_ACCURACY", "0.8")
    assert gate_threshold(0.0) == 0.8 and gate_threshold(0.85) == 0.85
    for bad in ("high", "1.5", "-0.1", "nan"):
        monkeypatch.setenv("MODEL_MIN_ACCURACY", bad)
        with pytest.raises(MisconfiguredError, match="MODEL_MIN_ACCURACY"):
            gate_threshold(0.95)


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
