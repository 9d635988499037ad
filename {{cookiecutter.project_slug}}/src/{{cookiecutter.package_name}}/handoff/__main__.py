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

from ..airflow_api import AirflowApi, ApiError
from . import HandoffError, default_store
from .champion import CHAMPION_ASSET_NAME, Promotion, newest_promotion, promotion_extra
from .errors import ArtifactNotFoundError
{%- if cookiecutter.storage_backend != "variables" %}
from .retention import apply_retention
{%- endif %}

# The main DAG's tasks that record a run's model and its holdout accuracy.
MODEL_TASK, GATE_TASK = "train_model", "evaluate_model"


def show_champion(api: AirflowApi) -> int:
    champion = newest_promotion(api.asset_events(CHAMPION_ASSET_NAME, limit=1))
    print(f"champion: {champion.describe()}" if champion else "no champion yet: no model has been promoted")
    return 0


def promote(api: AirflowApi, dag_id: str, run_id: str) -> int:
    """Make the model of an earlier run the champion again, once it is shown to be stored and intact."""
    model_ref = api.xcom(dag_id, run_id, MODEL_TASK)
    holdout_accuracy = api.xcom(dag_id, run_id, GATE_TASK)
    if model_ref is None or holdout_accuracy is None:
        raise HandoffError(
            f"run {run_id!r} of DAG {dag_id!r} has no model that passed its quality gate "
            f"({MODEL_TASK} or {GATE_TASK} recorded nothing): nothing to promote"
        )
    store = default_store()
{%- if cookiecutter.storage_backend == "variables" %}
    store.read_variable = api.variable
{%- endif %}
    try:
        store.verify_stored(model_ref)
    except ArtifactNotFoundError as exc:
        raise HandoffError(f"the model of run {run_id!r} is no longer stored: {exc}") from None
    event = api.create_asset_event(CHAMPION_ASSET_NAME, promotion_extra(model_ref, holdout_accuracy))
    print(f"champion: {Promotion.from_event(event).describe()}")
    print("score_champion runs on this promotion and scores with this model")
    return 0
{%- if cookiecutter.storage_backend != "variables" %}


def retention(args: argparse.Namespace) -> int:
    expired = apply_retention(
        default_store(), older_than_days=args.older_than_days, keep_last=args.keep_last, dry_run=not args.apply
    )
    verb = "deleted" if args.apply else "would delete"
    for run in expired:
        when = f"{run.last_modified:%Y-%m-%d %H:%M}"
        print(f"{verb} {run.dag_id_segment}/{run.run_id_segment} ({len(run.keys)} artifacts, last written {when})")
    print(f"{verb} {len(expired)} runs" + ("" if args.apply else " (dry run: add --apply to delete)"))
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
    retention_command.add_argument("--older-than-days", type=float, help="expire runs older than N days")
    retention_command.add_argument("--keep-last", type=int, help="keep only the newest K runs of each DAG")
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
