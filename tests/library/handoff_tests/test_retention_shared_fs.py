"""shared_fs retention only ever deletes regular files the store made under its root, never through a symlink.

A real directory; ages are set with ``os.utime`` and ``now`` is injected, so nothing sleeps.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from airflow_model_handoff import RunScope, default_store
from airflow_model_handoff.retention import (
    RetentionPolicy,
    apply_retention,
)
from airflow_model_handoff.shared_fs import (
    TEMP_PREFIX,
    SharedFsStore,
)

NOW = datetime.now(UTC)
DAY = 86400
POLICY = RetentionPolicy(older_than_days=30, keep_last=20)  # the README's example


def no_pins(run: object) -> None:
    return None


def age(path: Path, days: float) -> None:
    """Make ``path`` (never a link's target) last modified ``days`` before ``NOW``."""
    stamp = NOW.timestamp() - days * DAY
    os.utime(path, (stamp, stamp), follow_symlinks=False)


def save(store: SharedFsStore, dag_id: str, run_id: str, days_old: float, task_id: str = "train") -> Path:
    ref = store.save({"run": run_id}, fmt="json", scope=RunScope(dag_id, run_id, task_id, 1))
    path = store.path_for(store.key_from_uri(ref["uri"]))
    age(path, days_old)
    return path


def old_file(path: Path, days_old: float = 60) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("not the store's")
    age(path, days_old)
    return path


def run_ids(runs: tuple) -> list[str]:
    return sorted(run.run_id for run in runs)


def test_links_foreign_and_temporary_files_are_left_alone_and_reported(handoff_root: Path, tmp_path: Path) -> None:
    """The incident: a directory symlink under the root led retention to delete 60-day-old files outside it."""
    store = default_store()
    expired = save(store, "dag", "old-run", days_old=60)
    outside = tmp_path / "outside"
    outside_tree = old_file(outside / "victim_dag" / "run" / "task" / "1" / "model")
    outside_file = old_file(outside / "victim-file")
    key_dir = expired.parent  # <root>/dag/old-run/train/1

    links = {  # each named like a key segment, so only the link check stops it
        handoff_root / "linked_dag": outside / "victim_dag",
        handoff_root / "dag" / "linked_run": outside / "victim_dag" / "run",
        key_dir / "linked_model": outside_file,
    }
    for link, target in links.items():
        link.symlink_to(target)
    foreign_files = [
        old_file(handoff_root / "lost+found" / "x"),
        old_file(handoff_root / "dag" / "old-run" / "train" / "01" / "model"),  # a try is never written 01
        old_file(key_dir / "notes about the model"),
        old_file(key_dir / f"{TEMP_PREFIX}a1b2c3"),
        old_file(handoff_root / "stray_file"),
    ]
    os.mkfifo(key_dir / "pipe")
    age(key_dir / "pipe", 60)

    report = apply_retention(store, POLICY, pin_reason=no_pins, now=NOW, dry_run=False)

    assert run_ids(report.expired) == ["old-run"]
    assert not expired.exists()
    assert outside_tree.read_text() == "not the store's" and outside_file.read_text() == "not the store's"
    assert all(link.is_symlink() for link in links), "links are not deleted either: the store did not make them"
    assert all(path.exists() for path in foreign_files)
    why = {skipped.where: skipped.why for skipped in report.skipped}
    expected = {  # a foreign directory is skipped whole, so nothing under it is listed
        **dict.fromkeys(links, "a symbolic link"),
        handoff_root / "lost+found": "a foreign name",
        handoff_root / "dag" / "old-run" / "train" / "01": "a foreign name",
        key_dir / "notes about the model": "a foreign name",
        key_dir / f"{TEMP_PREFIX}a1b2c3": "a temporary file",
        handoff_root / "stray_file": "not a directory",
        key_dir / "pipe": "not a regular file",
    }
    assert sorted(why) == sorted(str(path) for path in expected)
    assert all(why[str(path)].startswith(reason) for path, reason in expected.items()), why


def test_older_than_days_expires_the_old_runs_only(handoff_root: Path) -> None:
    store = default_store()
    for run_id, days_old in [("run-a", 45), ("run-b", 31), ("run-c", 29), ("run-d", 1)]:
        save(store, "dag", run_id, days_old)
    report = apply_retention(store, RetentionPolicy(30, None), pin_reason=no_pins, now=NOW, dry_run=False)
    assert run_ids(report.expired) == ["run-a", "run-b"]
    assert run_ids(store.inventory().runs) == ["run-c", "run-d"]


def test_keep_last_ranks_by_last_write_not_by_name(handoff_root: Path) -> None:
    store = default_store()
    for run_id, days_old in [("run-a", 1), ("run-z", 3), ("run-m", 2)]:
        save(store, "dag", run_id, days_old)
    report = apply_retention(store, RetentionPolicy(None, 2), pin_reason=no_pins, now=NOW, dry_run=False)
    assert run_ids(report.expired) == ["run-z"]
    assert run_ids(store.inventory().runs) == ["run-a", "run-m"]


def test_a_run_counts_as_new_as_its_newest_artifact(handoff_root: Path) -> None:
    """A run whose first task wrote 40 days ago but whose last task wrote yesterday is one day old."""
    store = default_store()
    save(store, "dag", "run-long", 40, task_id="prepare")
    save(store, "dag", "run-long", 1, task_id="train")
    report = apply_retention(store, RetentionPolicy(30, None), pin_reason=no_pins, now=NOW)
    assert report.expired == ()


def test_only_directories_emptied_by_retention_are_removed_and_the_root_stays(handoff_root: Path) -> None:
    store = default_store()
    save(store, "dag_gone", "run", 60)  # its whole tree goes
    kept_run_dir = save(store, "dag_kept", "run", 60).parents[2]
    foreign = old_file(kept_run_dir / "notes about the run")  # keeps its run directory
    empty_before = handoff_root / "dag_kept" / "empty_run"
    empty_before.mkdir()  # empty, but not emptied by retention

    apply_retention(store, POLICY, pin_reason=no_pins, now=NOW, dry_run=False)

    assert not (handoff_root / "dag_gone").exists()
    assert foreign.exists() and not (kept_run_dir / "train").exists()
    assert empty_before.is_dir()
    assert sorted(p.name for p in handoff_root.iterdir()) == ["dag_kept"]
    apply_retention(store, RetentionPolicy(0, 0, force=True), pin_reason=no_pins, now=NOW, dry_run=False)
    assert handoff_root.is_dir()


def test_a_directory_swapped_for_a_link_after_listing_is_not_followed(handoff_root: Path, tmp_path: Path) -> None:
    """Between listing and deleting, a run directory is replaced by a link to a copy outside the root: the
    deletion opens each directory without following links, so it stops there and deletes nothing outside."""
    store = default_store()
    model = save(store, "dag", "run", 60)
    [run] = store.inventory().runs
    run_dir = model.parents[2]
    outside_run = tmp_path / "outside-run"
    run_dir.rename(outside_run)
    run_dir.symlink_to(outside_run, target_is_directory=True)

    skipped = store.delete(run.keys)

    assert (outside_run / "train" / "1" / "model").exists()
    assert [s.where for s in skipped] == [str(run_dir)]
    assert skipped[0].why.startswith("replaced by a link")


def test_a_file_swapped_for_a_link_after_listing_is_not_followed(handoff_root: Path, tmp_path: Path) -> None:
    store = default_store()
    model = save(store, "dag", "run", 60)
    [run] = store.inventory().runs
    victim = old_file(tmp_path / "victim")
    model.unlink()
    model.symlink_to(victim)

    skipped = store.delete(run.keys)

    assert victim.exists() and model.is_symlink()
    assert [(s.where, s.why) for s in skipped] == [(str(model), "no longer a regular file: left alone")]


def test_odd_trees_are_reported_not_a_crash(handoff_root: Path) -> None:
    """Dangling links, a file where a directory belongs at every level, an empty run: listed, never an OSError."""
    store = default_store()
    (handoff_root / "dangling").symlink_to(handoff_root / "nowhere")
    old_file(handoff_root / "dag" / "file_as_run")
    old_file(handoff_root / "dag" / "run" / "file_as_task")
    old_file(handoff_root / "dag" / "run" / "task" / "1")
    (handoff_root / "dag" / "run" / "task" / "2" / "model").mkdir(parents=True)
    (handoff_root / "dag" / "empty_run").mkdir()
    inventory = store.inventory()
    assert inventory.runs == ()
    assert len(inventory.skipped) == 5
    assert apply_retention(store, POLICY, pin_reason=no_pins, now=NOW, dry_run=False).expired == ()


def test_a_missing_root_lists_nothing(tmp_path: Path) -> None:
    assert SharedFsStore(tmp_path / "never-created").inventory().runs == ()
