"""Command line for the model lifecycle and retention::

    python -m {{ cookiecutter.package_name }}.handoff champion
    python -m {{ cookiecutter.package_name }}.handoff promote --run-id RUN
{%- if cookiecutter.storage_backend != "variables" %}
    python -m {{ cookiecutter.package_name }}.handoff retention --keep-last 10 [--apply]
{%- endif %}

They ask Airflow's REST API (AIRFLOW_API_URL, default the local stack's) about runs and champions, and read
the storage directly. ``--help`` lists every option.
"""

from __future__ import annotations

import argparse
import sys
{%- if cookiecutter.storage_backend != "variables" %}
from collections.abc import Callable
{%- endif %}

from ..airflow_api import AirflowApi, ApiError
from . import HandoffError, default_store
from .champion import CHAMPION_ASSET_NAME,{% if cookiecutter.storage_backend != "variables" %} KEEP_CHAMPIONS,{% endif %} Promotion, current_champion, promotion_extra
from .errors import ArtifactNotFoundError, MalformedReferenceError, ReferenceRefusedError
{%- if cookiecutter.storage_backend != "variables" %}
from .pins import pins_from_api
from .retention import PinReason, RetentionPolicy, apply_retention
from .store import ArtifactStore
{%- endif %}

# The main DAG's tasks that record a run's model and its holdout accuracy.
MODEL_TASK, GATE_TASK = "train_model", "evaluate_model"


def show_champion(api: AirflowApi) -> int:
    champion = current_champion(api.asset_events_newest_first(CHAMPION_ASSET_NAME))
    print(f"champion: {champion.describe()}" if champion else "no champion yet: no model has been promoted")
    return 0


def promote(api: AirflowApi, dag_id: str, run_id: str) -> int:
    """Make the model of an earlier run the champion again, once its signed evaluation shows it passed its quality
    gate and it is shown to be stored and intact. What the run's tasks recorded (XComs) is only believed signed:
    anyone allowed to edit XComs could write there."""
    model_ref = api.xcom(dag_id, run_id, MODEL_TASK)
    evaluation = api.xcom(dag_id, run_id, GATE_TASK)
    if model_ref is None or evaluation is None:
        raise HandoffError(
            f"run {run_id!r} of DAG {dag_id!r} has no model that passed its quality gate "
            f"({MODEL_TASK} or {GATE_TASK} recorded nothing): nothing to promote"
        )
    try:
        extra = promotion_extra(model_ref, evaluation)
    except (MalformedReferenceError, ReferenceRefusedError) as exc:
        raise HandoffError(
            f"run {run_id!r} of DAG {dag_id!r} has no signed evaluation showing that its model passed its quality "
            f"gate ({exc}): nothing to promote"
        ) from None
    store = default_store()
{%- if cookiecutter.storage_backend == "variables" %}
    store.read_variable = api.variable
{%- endif %}
    try:
        store.verify_stored(model_ref)
    except ArtifactNotFoundError as exc:
        raise HandoffError(f"the model of run {run_id!r} is no longer stored: {exc}") from None
    event = api.create_asset_event(CHAMPION_ASSET_NAME, extra)
    print(f"champion: {Promotion.from_event(event).describe()}")
    print("score_champion runs on this promotion and scores with this model")
    return 0
{%- if cookiecutter.storage_backend != "variables" %}


def or_none(convert: Callable[[str], float]) -> Callable[[str], float | None]:
    """An argparse type that also takes ``none``: the rule is off."""
    return lambda text: None if text.lower() == "none" else convert(text)


def retention_pins(store: ArtifactStore, keep_champions: int, assume_finished: bool) -> PinReason:
    """Airflow says what must stay; when it cannot be reached, only --assume-finished lets retention go on."""
    try:
        return pins_from_api(AirflowApi.from_env(), store, keep_champions)
    except ApiError as exc:
        if not assume_finished:
            raise HandoffError(
                f"cannot ask Airflow which runs are unfinished and which models are champions ({exc}); start it, "
                "or pass --assume-finished if no run is in progress and no champion must be kept"
            ) from None
        print(f"warning: {exc}\n--assume-finished: no run is unfinished, no model a champion", file=sys.stderr)
        return lambda run: None


def retention(args: argparse.Namespace) -> int:
    store = default_store()
    policy = RetentionPolicy(args.older_than_days, args.keep_last, force=args.force)
    pin_reason = retention_pins(store, args.keep_champions, args.assume_finished)
    report = apply_retention(store, policy, pin_reason=pin_reason, dry_run=not args.apply)
    verb = "deleted" if args.apply else "would delete"
    for run in report.expired:
        when = f"{run.last_modified:%Y-%m-%d %H:%M}"
        print(f"{verb} {run.label} ({len(run.keys)} artifacts, last written {when})")
    for run, reason in report.pinned:
        print(f"kept {run.label}: {reason}")
    for skipped in report.skipped:
        print(f"left alone {skipped.where}: {skipped.why}")
    for upload in report.aborted_uploads:
        print(f"{'aborted' if args.apply else 'would abort'} the upload of {upload.key} started {upload.initiated}")
    print(f"{verb} {len(report.expired)} runs" + ("" if args.apply else " (dry run: add --apply to delete)"))
    return 0
{%- endif %}


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("champion", help="print the current champion: run, sha256, holdout accuracy, when")
    promote_command = commands.add_parser("promote", help="make an earlier run's model the champion (rollback)")
    promote_command.add_argument("--run-id", required=True, help="the run whose model becomes the champion")
    promote_command.add_argument("--dag-id", default="train_and_score", help="its DAG (default: %(default)s)")
{%- if cookiecutter.storage_backend != "variables" %}
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
{%- endif %}
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
{%- if cookiecutter.storage_backend != "variables" %}
        if args.command == "retention":
            return retention(args)
{%- endif %}
        api = AirflowApi.from_env()
        if args.command == "champion":
            return show_champion(api)
        return promote(api, args.dag_id, args.run_id)
    except (HandoffError, ApiError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
