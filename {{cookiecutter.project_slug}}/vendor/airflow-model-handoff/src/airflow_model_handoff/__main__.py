"""Command line for the model lifecycle and retention::

    python -m airflow_model_handoff check [--create-root]
    python -m airflow_model_handoff champion
    python -m airflow_model_handoff promote --run-id RUN
    python -m airflow_model_handoff retention --keep-last 10 [--apply]

They ask Airflow's REST API (AIRFLOW_API_URL, default the local stack's) about runs and champions, and read the
storage HANDOFF_STORAGE names directly. The champion asset is ``--asset`` or HANDOFF_CHAMPION_ASSET. ``--help``
lists every option.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable

from . import HandoffError, default_store
from .airflow_api import AirflowApi, ApiError
from .champion import KEEP_CHAMPIONS, Promotion, current_champion, promotion_extra
from .errors import ArtifactNotFoundError, MalformedReferenceError, MisconfiguredError, ReferenceRefusedError
from .pins import pins_from_api
from .retention import PinReason, RetentionPolicy, apply_retention
from .shared_fs import SharedFsStore
from .storage import check_handoff_settings, configured_location
from .store import ArtifactStore
from .variables import VariablesStore

ASSET_SETTING = "HANDOFF_CHAMPION_ASSET"
# The training DAG and its tasks that return a run's model reference and its signed evaluation (each an option).
TRAINING_DAG, MODEL_TASK, GATE_TASK = "train_and_score", "train_model", "evaluate_model"


def show_champion(api: AirflowApi, asset: str) -> int:
    champion = current_champion(api.asset_events_newest_first(asset))
    print(f"champion: {champion.describe()}" if champion else "no champion yet: no model has been promoted")
    return 0


def promote(api: AirflowApi, asset: str, args: argparse.Namespace) -> int:
    """Make the model of an earlier run the champion again, once its signed evaluation shows it passed its quality
    gate and it is shown to be stored and intact. What the run's tasks recorded (XComs) is only believed signed:
    anyone allowed to edit XComs could write there."""
    dag_id, run_id, model_task, gate_task = args.dag_id, args.run_id, args.model_task, args.gate_task
    model_ref = api.xcom(dag_id, run_id, model_task)
    evaluation = api.xcom(dag_id, run_id, gate_task)
    if model_ref is None or evaluation is None:
        raise HandoffError(
            f"run {run_id!r} of DAG {dag_id!r} has no model that passed its quality gate "
            f"({model_task} or {gate_task} recorded nothing): nothing to promote"
        )
    try:
        extra = promotion_extra(model_ref, evaluation)
    except (MalformedReferenceError, ReferenceRefusedError) as exc:
        raise HandoffError(
            f"run {run_id!r} of DAG {dag_id!r} has no signed evaluation showing that its model passed its quality "
            f"gate ({exc}): nothing to promote"
        ) from None
    store = default_store()
    if isinstance(store, VariablesStore):  # outside a task, Variables are read through the REST API
        store.read_variable = api.variable
    try:
        store.verify_stored(model_ref)
    except ArtifactNotFoundError as exc:
        raise HandoffError(f"the model of run {run_id!r} is no longer stored: {exc}") from None
    event = api.create_asset_event(asset, extra)
    print(f"champion: {Promotion.from_event(event).describe()}")
    print("score_champion runs on this promotion and scores with this model")
    return 0


def or_none(convert: Callable[[str], float]) -> Callable[[str], float | None]:
    """An argparse type that also takes ``none``: the rule is off."""
    return lambda text: None if text.lower() == "none" else convert(text)


def retention_pins(store: ArtifactStore, args: argparse.Namespace) -> PinReason:
    """Airflow says what must stay; when it cannot be reached, only --assume-finished lets retention go on."""
    try:
        return pins_from_api(AirflowApi.from_env(), store, args.keep_champions, champion_asset(args))
    except ApiError as exc:
        if not args.assume_finished:
            raise HandoffError(
                f"cannot ask Airflow which runs are unfinished and which models are champions ({exc}); start it, "
                "or pass --assume-finished if no run is in progress and no champion must be kept"
            ) from None
        print(f"warning: {exc}\n--assume-finished: no run is unfinished, no model a champion", file=sys.stderr)
        return lambda run: None


def retention(args: argparse.Namespace) -> int:
    store = default_store()
    if isinstance(store, VariablesStore):
        raise HandoffError(
            "retention of a variables:// store runs in a task (Variables are listed through the Task SDK): trigger "
            "the project's retention DAG; each run's teardown already deletes its own Variables"
        )
    policy = RetentionPolicy(args.older_than_days, args.keep_last, force=args.force)
    pin_reason = retention_pins(store, args)
    report = apply_retention(store, policy, pin_reason=pin_reason, dry_run=not args.apply)
    verb = "deleted" if args.apply else "would delete"
    for run in report.expired:
        when = f"{run.last_modified:%Y-%m-%d %H:%M}"
        print(f"{verb} {run.label} ({len(run.keys)} artifacts, last written {when})")
    for run, reason in report.pinned:
        print(f"kept {run.label}: {reason}")
    for skipped in report.skipped:
        print(f"left alone {skipped.where}: {skipped.why}")
    for write in report.discarded:
        print(
            f"{'discarded' if args.apply else 'would discard'} the unfinished write of {write.key} "
            f"started {write.started}"
        )
    print(f"{verb} {len(report.expired)} runs" + ("" if args.apply else " (dry run: add --apply to delete)"))
    return 0


def check(args: argparse.Namespace) -> int:
    """Every setting the configured store reads, checked as a task will (no network request)."""
    store = default_store()
    if args.create_root and isinstance(store, SharedFsStore):
        store.create_root()
    check_handoff_settings()
    print(f"handoff settings ok: {configured_location().url}")
    return 0


def champion_asset(args: argparse.Namespace) -> str:
    """The champion asset's name: ``--asset``, else HANDOFF_CHAMPION_ASSET (the project sets it)."""
    asset = args.asset or os.environ.get(ASSET_SETTING, "")
    if not asset:
        raise MisconfiguredError(f"which asset holds the champions? pass --asset NAME or set {ASSET_SETTING}")
    return asset


def parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog or f"python -m {__package__}")
    parser.add_argument("--asset", help=f"the champion asset's name (default: ${ASSET_SETTING})")
    commands = parser.add_subparsers(dest="command", required=True)
    check_command = commands.add_parser("check", help="check every handoff setting, as a task will read it")
    check_command.add_argument(
        "--create-root", action="store_true", help="first make a file:// store's folder (0750) if it is missing"
    )
    commands.add_parser("champion", help="print the current champion: run, sha256, holdout accuracy, when")
    promote_command = commands.add_parser("promote", help="make an earlier run's model the champion (rollback)")
    promote_command.add_argument("--run-id", required=True, help="the run whose model becomes the champion")
    promote_command.add_argument("--dag-id", default=TRAINING_DAG, help="its DAG (default: %(default)s)")
    promote_command.add_argument(
        "--model-task", default=MODEL_TASK, help="the task that returned the model's reference (default: %(default)s)"
    )
    promote_command.add_argument(
        "--gate-task", default=GATE_TASK, help="the task that returned its signed evaluation (default: %(default)s)"
    )
    retention_command = commands.add_parser("retention", help="delete artifacts of old runs (dry run unless --apply)")
    retention_command.add_argument(
        "--older-than-days", type=or_none(float), help="expire runs last written more than N days ago (none: off)"
    )
    retention_command.add_argument(
        "--keep-last", type=or_none(int), help="keep only the newest K runs of each DAG (none: off)"
    )
    retention_command.add_argument("--force", action="store_true", help="accept 0 for either rule (deletes every run)")
    retention_command.add_argument(
        "--keep-champions", type=int, default=KEEP_CHAMPIONS, help="earlier champions kept (default: %(default)s)"
    )
    retention_command.add_argument(
        "--assume-finished", action="store_true", help="go on when Airflow cannot say which runs are unfinished"
    )
    retention_command.add_argument("--apply", action="store_true", help="really delete (default: only list)")
    return parser


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Run a command; ``prog`` is the name ``--help`` shows (a project's alias passes its own)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    args = parser(prog).parse_args(argv)
    try:
        if args.command == "check":
            return check(args)
        if args.command == "retention":
            return retention(args)
        api = AirflowApi.from_env()
        if args.command == "champion":
            return show_champion(api, champion_asset(args))
        return promote(api, champion_asset(args), args)
    except (HandoffError, ApiError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
