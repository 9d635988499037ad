"""Command line for retention (a dry run unless ``--apply``)::

    python -m {{ cookiecutter.package_name }}.handoff retention --keep-last 10 [--apply]

``--help`` lists every option.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from . import HandoffError, default_store
from .retention import RetentionPolicy, apply_retention


def or_none(convert: Callable[[str], float]) -> Callable[[str], float | None]:
    """An argparse type that also takes ``none``: the rule is off."""
    return lambda text: None if text.lower() == "none" else convert(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}")
    commands = parser.add_subparsers(dest="command", required=True)
    retention = commands.add_parser("retention", help="delete artifacts of old runs (dry run unless --apply)")
    retention.add_argument(
        "--older-than-days", type=or_none(float), help="expire runs last written more than N days ago (none: off)"
    )
    retention.add_argument("--keep-last", type=or_none(int), help="keep only the newest K runs of each DAG (none: off)")
    retention.add_argument("--force", action="store_true", help="accept 0 for either rule (deletes every run)")
    retention.add_argument("--apply", action="store_true", help="really delete (default: only list)")
    args = parser.parse_args(argv)

    try:
        policy = RetentionPolicy(args.older_than_days, args.keep_last, force=args.force)
        report = apply_retention(default_store(), policy, pin_reason=lambda run: None, dry_run=not args.apply)
    except HandoffError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
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


if __name__ == "__main__":
    sys.exit(main())
