"""Command line for retention (a dry run unless ``--apply``)::

    python -m {{ cookiecutter.package_name }}.handoff retention --keep-last 10 [--apply]

``--help`` lists every option.
"""

from __future__ import annotations

import argparse
import sys

from . import HandoffError, default_store
from .retention import apply_retention


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}")
    commands = parser.add_subparsers(dest="command", required=True)
    retention = commands.add_parser("retention", help="delete artifacts of old runs (dry run unless --apply)")
    retention.add_argument("--older-than-days", type=float, help="expire runs last written more than N days ago")
    retention.add_argument("--keep-last", type=int, help="keep only the newest K runs of each DAG")
    retention.add_argument("--apply", action="store_true", help="really delete (default: only list)")
    args = parser.parse_args(argv)

    try:
        expired = apply_retention(
            default_store(), older_than_days=args.older_than_days, keep_last=args.keep_last, dry_run=not args.apply
        )
    except HandoffError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    verb = "deleted" if args.apply else "would delete"
    for run in expired:
        when = f"{run.last_modified:%Y-%m-%d %H:%M}"
        print(f"{verb} {run.dag_id_segment}/{run.run_id_segment} ({len(run.keys)} artifacts, last written {when})")
    print(f"{verb} {len(expired)} runs" + ("" if args.apply else " (dry run: add --apply to delete)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
