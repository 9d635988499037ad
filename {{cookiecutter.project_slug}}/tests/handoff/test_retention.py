"""Retention removes exactly what its policy says, and nothing unless asked."""

from __future__ import annotations

import time

from {{ cookiecutter.package_name }}.handoff import RunScope, default_store, save_model
from {{ cookiecutter.package_name }}.handoff.retention import apply_retention


def save_runs(count: int) -> None:
    for i in range(count):
        save_model({"run": i}, fmt="json", scope=RunScope("dag", f"run-{i}", "train", 1))
        time.sleep(1.1)  # distinct modification times, newest last


def test_keep_last_removes_only_older_runs_and_dry_run_removes_nothing() -> None:
    save_runs(3)
    store = default_store()
    dry = apply_retention(store, keep_last=1)
    assert sorted(r.run_id_segment for r in dry) == ["run-0", "run-1"]
    assert len(list(store.list_runs())) == 3, "a dry run deletes nothing"
    apply_retention(store, keep_last=1, dry_run=False)
    assert [r.run_id_segment for r in store.list_runs()] == ["run-2"]


def test_older_than_days_keeps_recent_runs() -> None:
    save_runs(1)
    assert apply_retention(default_store(), older_than_days=1, dry_run=False) == []
    assert len(list(default_store().list_runs())) == 1
