"""Retention: delete the artifacts of runs older than N days, or beyond the newest K runs of each DAG.

Only what the store's ``inventory`` lists (keys of the grammar, under its own root or prefix) can go, and
never a run that ``pin_reason`` pins (a run still in progress, a champion model), whatever its age.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import groupby

from .errors import HandoffError, MisconfiguredError
from .store import ArtifactStore, Skipped, StoredRun, UnfinishedWrite

log = logging.getLogger(__name__)

# A write still unfinished after a day was left by a killed save (the age of S3's AbortIncompleteMultipartUpload rule).
STALE_WRITE_AGE = timedelta(days=1)

PinReason = Callable[[StoredRun], str | None]


@dataclass(frozen=True)
class RetentionPolicy:
    """A run goes if it is older than ``older_than_days`` OR not among its DAG's newest ``keep_last``.

    None switches a rule off (not both). 0 would delete every run, so it needs ``force``: a typo must not
    empty the store.
    """

    older_than_days: float | None
    keep_last: int | None
    force: bool = False

    def __post_init__(self) -> None:
        days, keep = self.older_than_days, self.keep_last
        if days is None and keep is None:
            raise MisconfiguredError("a retention policy needs older_than_days, keep_last or both: not both off (None)")
        if days is not None and not math.isfinite(days):  # NaN would silently switch the rule off
            raise MisconfiguredError(f"older_than_days must be a finite number of days, got {days!r}")
        if (days is not None and days < 0) or (keep is not None and keep < 0):
            raise MisconfiguredError("older_than_days and keep_last must not be negative")
        if not self.force:
            if days == 0:
                raise MisconfiguredError(
                    "older_than_days=0 would delete every run, however recent; pass force (--force) to mean it"
                )
            if keep == 0:
                raise MisconfiguredError(
                    "keep_last=0 would delete every run of every DAG; pass force (--force) to mean it"
                )


@dataclass(frozen=True)
class RetentionReport:
    """What retention did (or, in a dry run, would do), and what it left alone and why."""

    dry_run: bool
    expired: tuple[StoredRun, ...]
    pinned: tuple[tuple[StoredRun, str], ...]
    skipped: tuple[Skipped, ...]
    discarded: tuple[UnfinishedWrite, ...] = ()


def select_expired(runs: Sequence[StoredRun], policy: RetentionPolicy, now: datetime) -> list[StoredRun]:
    """The runs ``policy`` removes. Runs are ranked by last write; ties (S3 keeps whole seconds) by run segment,
    so the answer does not change from one call to the next."""
    cutoff = now - timedelta(days=policy.older_than_days or 0)
    expired = []
    for _dag, dag_runs in groupby(sorted(runs, key=lambda r: r.dag_id_segment), key=lambda r: r.dag_id_segment):
        newest_first = sorted(dag_runs, key=lambda r: (r.last_modified, r.run_id_segment), reverse=True)
        for position, run in enumerate(newest_first):
            too_old = policy.older_than_days is not None and run.last_modified < cutoff
            beyond_last = policy.keep_last is not None and position >= policy.keep_last
            if too_old or beyond_last:
                expired.append(run)
    return expired


def apply_retention(
    store: ArtifactStore,
    policy: RetentionPolicy,
    *,
    pin_reason: PinReason,
    dry_run: bool = True,
    now: datetime | None = None,
) -> RetentionReport:
    """Find (and unless ``dry_run``, delete) the expired runs' artifacts and discard stale unfinished writes.

    ``pin_reason`` is asked about every run the policy would remove, before anything is deleted: a reason
    (even an empty one) keeps the run. It has no default, so no caller can forget what must never go.
    """
    now = now or datetime.now(UTC)
    inventory = store.inventory()
    expired, pinned = [], []
    for run in select_expired(inventory.runs, policy, now):
        reason = pin_reason(run)
        if reason is None:
            expired.append(run)
        else:
            pinned.append((run, reason))
    stale = tuple(u for u in inventory.unfinished if u.started < now - STALE_WRITE_AGE)
    skipped = list(inventory.skipped)
    if not dry_run:
        if stale:
            store.discard_unfinished(stale)
            log.info("discarded %d writes unfinished for over %s", len(stale), STALE_WRITE_AGE)
        skipped += _delete(store, expired)
    return RetentionReport(dry_run, tuple(expired), tuple(pinned), tuple(skipped), stale)


def _delete(store: ArtifactStore, runs: Sequence[StoredRun]) -> list[Skipped]:
    """Delete every run it can: one that cannot be deleted must not keep all the others forever. Then raise."""
    skipped: list[Skipped] = []
    failures = []
    for run in runs:
        try:
            skipped += store.delete(run.keys)
        except MisconfiguredError:
            raise  # the store as a whole is unusable: every other run would fail the same way
        except HandoffError as exc:
            failures.append(f"{run.label}: {exc}")
            continue
        log.info("deleted %s: %d artifacts", run.label, len(run.keys))
    if failures:
        raise HandoffError(f"{len(failures)} of {len(runs)} expired runs were not deleted: {'; '.join(failures)}")
    return skipped
