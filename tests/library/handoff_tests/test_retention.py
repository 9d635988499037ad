"""Retention removes exactly what its policy says, keeps what is pinned, and nothing unless asked.

Against the project's real store. Time is injected (``now=``), never slept: every run here was saved moments ago,
so "N days old" means ``now`` N days ahead. Backend specifics are in test_retention_<backend>.py.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from airflow_model_handoff import (
    ArtifactNotFoundError,
    MisconfiguredError,
    RunScope,
    default_store,
    load_model,
    save_model,
)
from airflow_model_handoff.champion import promotion_history
from airflow_model_handoff.keys import encode_component
from airflow_model_handoff.local.ports import free_port
from airflow_model_handoff.pins import (
    champion_pins,
    run_segment_candidates,
)
from airflow_model_handoff.retention import (
    RetentionPolicy,
    apply_retention,
)
from airflow_model_handoff.store import StoredRun

from handoff_tests.legacy_keys import legacy_component, save_as_before
from handoff_tests.promotions import promotion_event


def save_runs(dag_id: str, *run_ids: str) -> dict[str, dict]:
    """One small artifact per run, oldest first: run id -> reference."""
    return {
        run_id: save_model({"run": run_id}, fmt="json", scope=RunScope(dag_id, run_id, "train", 1))
        for run_id in run_ids
    }


def stored() -> list[tuple[str | None, str | None]]:
    return [(run.dag_id, run.run_id) for run in default_store().inventory().runs]


def days_later(days: float) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


def no_pins(run: StoredRun) -> None:
    return None


@pytest.mark.parametrize(
    ("older_than_days", "keep_last", "message"),
    [
        (None, None, "needs older_than_days, keep_last or both"),
        (0, 20, "older_than_days=0 would delete every run.*pass force"),
        (30, 0, "keep_last=0 would delete every run.*pass force"),
        (-1, None, "must not be negative"),
        (None, -1, "must not be negative"),
        (math.nan, None, "finite"),
    ],
)
def test_a_policy_that_would_delete_everything_by_mistake_is_refused(
    older_than_days: float | None, keep_last: int | None, message: str
) -> None:
    with pytest.raises(MisconfiguredError, match=message):
        RetentionPolicy(older_than_days, keep_last)


def test_force_accepts_zero_but_not_a_negative() -> None:
    assert RetentionPolicy(0, 0, force=True).keep_last == 0
    with pytest.raises(MisconfiguredError, match="negative"):
        RetentionPolicy(-1, None, force=True)


def test_keep_last_zero_with_force_deletes_every_run() -> None:
    save_runs("dag", "run-0", "run-1")
    report = apply_retention(default_store(), RetentionPolicy(None, 0, force=True), pin_reason=no_pins, dry_run=False)
    assert len(report.expired) == 2 and stored() == []


def test_older_than_days_alone_expires_by_age_only() -> None:
    """keep_last=None: three runs of one DAG stay however many there are, until they are old enough."""
    save_runs("dag", "run-0", "run-1", "run-2")
    policy = RetentionPolicy(older_than_days=30, keep_last=None)
    young = apply_retention(default_store(), policy, pin_reason=no_pins, now=days_later(29), dry_run=False)
    assert young.expired == () and len(stored()) == 3
    old = apply_retention(default_store(), policy, pin_reason=no_pins, now=days_later(31), dry_run=False)
    assert sorted(run.run_id for run in old.expired) == ["run-0", "run-1", "run-2"]
    assert stored() == []


def test_keep_last_alone_keeps_each_dags_newest_whatever_their_age() -> None:
    """older_than_days=None: a year on, each DAG keeps its newest run; the other DAG's only run stays too."""
    refs = save_runs("dag", "run-0", "run-1", "run-2")
    other = save_runs("other_dag", "run-0")
    policy = RetentionPolicy(older_than_days=None, keep_last=1)
    report = apply_retention(default_store(), policy, pin_reason=no_pins, now=days_later(365), dry_run=False)
    assert sorted(run.run_id for run in report.expired) == ["run-0", "run-1"]
    assert stored() == [("dag", "run-2"), ("other_dag", "run-0")]
    assert load_model(refs["run-2"]) == {"run": "run-2"} and load_model(other["run-0"]) == {"run": "run-0"}
    with pytest.raises(ArtifactNotFoundError):
        load_model(refs["run-0"])


def test_a_dry_run_deletes_nothing() -> None:
    refs = save_runs("dag", "run-0", "run-1")
    report = apply_retention(default_store(), RetentionPolicy(1, 1), pin_reason=no_pins, now=days_later(2))
    assert report.dry_run and len(report.expired) == 2
    assert len(stored()) == 2
    assert [load_model(ref) for ref in refs.values()] == [{"run": "run-0"}, {"run": "run-1"}]


def test_a_pinned_run_older_than_the_cutoff_stays_and_says_why() -> None:
    refs = save_runs("dag", "run-0", "run-champion", "run-2")
    pins = {"run-champion": "the current champion"}
    report = apply_retention(
        default_store(),
        RetentionPolicy(older_than_days=30, keep_last=None),
        pin_reason=lambda run: pins.get(run.run_id),
        now=days_later(60),
        dry_run=False,
    )
    assert [(run.run_id, reason) for run, reason in report.pinned] == [("run-champion", "the current champion")]
    assert sorted(run.run_id for run in report.expired) == ["run-0", "run-2"]
    assert stored() == [("dag", "run-champion")]
    assert load_model(refs["run-champion"]) == {"run": "run-champion"}


def test_pins_are_asked_before_anything_is_deleted() -> None:
    """A pin provider that fails (Airflow unreachable) stops retention with every artifact still stored."""
    save_runs("dag", "run-0", "run-1")

    def unreachable(run: StoredRun) -> str | None:
        if run.run_id == "run-0":  # the older: asked last, after run-1 had gone if pins were asked one by one
            raise ConnectionError("Airflow API unreachable")
        return None

    with pytest.raises(ConnectionError):
        apply_retention(
            default_store(), RetentionPolicy(1, None), pin_reason=unreachable, now=days_later(2), dry_run=False
        )
    assert len(stored()) == 2


def test_runs_are_named_by_their_real_ids() -> None:
    """Reports show the ids Airflow shows, not their encoded segments; a shortened one says so."""
    run_id, long_run_id = "manual__2025-01-01T00:00:00+00:00", "r" * 300
    save_runs("train_and_score", run_id, long_run_id)
    runs = {run.run_id: run for run in default_store().inventory().runs}
    assert runs[run_id].label == f"DAG 'train_and_score', run '{run_id}'"
    shortened = runs[None]
    assert shortened.run_id is None and shortened.dag_id == "train_and_score"
    assert f"(shortened, segment {shortened.run_id_segment})" in shortened.label


def test_champions_older_than_the_cutoff_stay_whatever_the_policy() -> None:
    """The current champion and the keep_champions before it are pinned (by their key segments, so a run id
    too long to decode is matched too); a retired champion goes like any old run."""
    long_run = "manual__" + "x" * 200  # shortened in its key: its id cannot be read back from storage
    refs = save_runs("train_and_score", "retired", "previous", long_run, "current", "not-promoted")
    events = [
        promotion_event(i, refs[run], datetime(2026, 1, i, tzinfo=UTC), source_run_id=run)
        for i, run in enumerate(("retired", "previous", long_run, "current"), start=1)
    ]
    history = promotion_history(events)
    assert history[0].reference.run_id == "current"
    pins = champion_pins(default_store(), history, keep_champions=2)

    report = apply_retention(
        default_store(),
        RetentionPolicy(older_than_days=30, keep_last=None),
        pin_reason=lambda run: pins.get((run.dag_id_segment, run.run_id_segment)),
        dry_run=False,
        now=days_later(60),
    )
    assert sorted((run.run_id or "shortened", why) for run, why in report.pinned) == [
        ("current", "the current champion"),
        ("previous", "champion no. 2 before the current one"),
        ("shortened", "champion no. 1 before the current one"),
    ]
    assert sorted(run.run_id for run in report.expired) == ["not-promoted", "retired"]
    assert sorted(run_id or "shortened" for _dag, run_id in stored()) == ["current", "previous", "shortened"]
    for run in ("current", "previous", long_run):
        assert load_model(refs[run]) == {"run": run}


def test_the_command_does_not_guess_what_is_in_use_when_airflow_cannot_be_reached(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow_model_handoff.__main__ import main

    save_runs("dag", "old", "new")
    monkeypatch.setenv("AIRFLOW_API_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.setenv("AIRFLOW_API_USERNAME", "admin")
    assert main(["retention", "--keep-last", "1", "--apply"]) == 1
    refusal = capsys.readouterr().err
    assert "cannot ask Airflow which runs are unfinished and which models are champions" in refusal
    assert "--assume-finished" in refusal
    assert len(stored()) == 2, "nothing is deleted when Airflow cannot say what is in use"

    assert main(["retention", "--keep-last", "1", "--apply", "--assume-finished"]) == 0
    assert "deleted 1 runs" in capsys.readouterr().out
    assert len(stored()) == 1


def test_runs_stored_under_legacy_keys_are_listed_expired_and_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs stored before shortened segments kept 128 bits (16 hex digits then) are still the store's: listed,
    expired by the policy, and kept when they hold a champion, whose run ``run_segment_candidates`` finds under
    its legacy segments (today's encoding names nothing stored)."""
    store = default_store()
    champion_run, old_run = "manual__" + "c" * 200, "manual__" + "o" * 200
    refs = {
        run: save_as_before(monkeypatch, {"run": run}, fmt="json", scope=RunScope("train_and_score", run, "train", 1))
        for run in (champion_run, old_run)
    }
    runs = store.inventory().runs
    assert sorted((run.dag_id, run.run_id, run.run_id_segment) for run in runs) == [
        ("train_and_score", None, legacy_component(champion_run)),
        ("train_and_score", None, legacy_component(old_run)),
    ]
    candidates = run_segment_candidates(store, "train_and_score", champion_run)
    legacy_pair = ("train_and_score", legacy_component(champion_run))
    assert candidates == [("train_and_score", encode_component(champion_run)), legacy_pair]
    stored_pairs = {(run.dag_id_segment, run.run_id_segment) for run in runs}
    assert legacy_pair in stored_pairs and candidates[0] not in stored_pairs

    promotion = promotion_event(1, refs[champion_run], datetime(2026, 1, 1, tzinfo=UTC), source_run_id=champion_run)
    pins = champion_pins(store, promotion_history([promotion]), keep_champions=2)
    report = apply_retention(
        store,
        RetentionPolicy(older_than_days=30, keep_last=None),
        pin_reason=lambda run: pins.get((run.dag_id_segment, run.run_id_segment)),
        dry_run=False,
        now=days_later(60),
    )
    assert [(run.run_id_segment, why) for run, why in report.pinned] == [(legacy_pair[1], "the current champion")]
    assert [run.run_id_segment for run in report.expired] == [legacy_component(old_run)]
    assert load_model(refs[champion_run]) == {"run": champion_run}
    with pytest.raises(ArtifactNotFoundError):
        load_model(refs[old_run])
