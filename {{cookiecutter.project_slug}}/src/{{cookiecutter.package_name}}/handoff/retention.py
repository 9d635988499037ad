"""Retention: delete the artifacts of runs older than N days, or beyond the newest K runs of each DAG."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import groupby

from .errors import MisconfiguredError
from .store import ArtifactStore, StoredRun


def select_expired(
    runs: list[StoredRun],
    *,
    older_than_days: float | None = None,
    keep_last: int | None = None,
    now: datetime | None = None,
) -> list[StoredRun]:
    """The runs a policy removes: a run goes if it is too old OR not among its DAG's newest ``keep_last``."""
    if older_than_days is None and keep_last is None:
        raise MisconfiguredError("a retention policy needs older_than_days, keep_last or both")
    if (older_than_days is not None and older_than_days < 0) or (keep_last is not None and keep_last < 0):
        raise MisconfiguredError("older_than_days and keep_last must not be negative")
    cutoff = (now or datetime.now(UTC)) - timedelta(days=older_than_days or 0)
    expired = []
    for _dag, dag_runs in groupby(sorted(runs, key=lambda r: r.dag_id_segment), key=lambda r: r.dag_id_segment):
        newest_first = sorted(dag_runs, key=lambda r: r.last_modified, reverse=True)
        for position, run in enumerate(newest_first):
            too_old = older_than_days is not None and run.last_modified < cutoff
            beyond_last = keep_last is not None and position >= keep_last
            if too_old or beyond_last:
                expired.append(run)
    return expired


def apply_retention(
    store: ArtifactStore, *, older_than_days: float | None = None, keep_last: int | None = None, dry_run: bool = True
) -> list[StoredRun]:
    """Find (and unless ``dry_run``, delete) the expired runs' artifacts. Returns the expired runs."""
    expired = select_expired(list(store.list_runs()), older_than_days=older_than_days, keep_last=keep_last)
    if not dry_run:
        for run in expired:
            store.delete(run.keys)
    return expired
