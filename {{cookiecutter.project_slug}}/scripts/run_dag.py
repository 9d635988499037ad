"""Run a DAG of this project once through a real scheduler and report where the model went and how it scored.

For the main DAG, also waits for the `score_champion` run its promotion triggered, and prints the champion it
scored with. When a run fails, prints why: each failed task's exception and the file its log is in.

Every task runs in its own process (LocalExecutor), so the model can only reach the next task through
storage. Uses the stack of `make stack` when it is running; otherwise starts a short-lived one (api-server,
scheduler, dag-processor, and a local S3 server for s3 without a configured connection) and stops it afterwards.
Checks the handoff settings before anything starts; a bad one, a bad --conf or a request that Airflow refuses
is reported on one line. Usage: python -m scripts.run_dag [DAG_ID] [--conf JSON]. Exits non-zero if the run fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator

from airflow_model_handoff.airflow_api import (
    AirflowApi,
    ApiError,
    admin_login,
)
from airflow_model_handoff.champion import (
    current_champion,
)

from {{ cookiecutter.package_name }}.lifecycle import CHAMPION_ASSET_NAME

from scripts.stack import (
    Stack,
    StackError,
    check_settings,
    running_stack,
    stack_from_env,
    storage_description,
)

UNNEEDED = ("triggerer",)  # the DAG defers nothing
MAIN, CONSUMER = "train_and_score", "score_champion"


@contextlib.contextmanager
def airflow(stack: Stack) -> Iterator[AirflowApi]:
    """A client of the running stack, or of a short-lived one with the storage it needs."""
    if stack.running():
        print(f"using the running stack at {stack.url}")
        yield AirflowApi(stack.url, *admin_login(stack.home))
        return
    stack.components = tuple(component for component in stack.components if component not in UNNEEDED)
    print(f"storage: {storage_description(stack)}")
    print(f"starting a short-lived Airflow ({', '.join(stack.components)}); logs in {stack.state_dir}")
    with running_stack(stack):
        yield AirflowApi(stack.url, *admin_login(stack.home))


def run_conf(text: str) -> dict:
    """The --conf argument, a JSON object; ValueError says what is wrong with it."""
    try:
        conf = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--conf is not valid JSON ({exc}): {text!r}") from None
    if not isinstance(conf, dict):
        raise ValueError(f"--conf must be a JSON object (param names and values), not {text!r}")
    return conf


def report(api: AirflowApi, dag_id: str, run_id: str, state: str) -> None:
    print(f"\nrun {run_id}: {state}")
    task_instances = api.task_instances(dag_id, run_id)
    for task_id, ti in task_instances.items():
        print(f"  {task_id:<22} {ti['state']:<10} try {ti['try_number']}  pid {ti['pid']}")
    model_ref = api.xcom(dag_id, run_id, "train_model")
    evaluation = api.xcom(dag_id, run_id, "evaluate_model")
    scored = api.xcom(dag_id, run_id, "score_batch")
    if model_ref:
        print(f"model:       {model_ref['uri']}")
        print(f"             sha256 {model_ref['sha256']}, {model_ref['size_bytes']} bytes")
    if evaluation is not None:
        print(f"accuracy:    {evaluation['value']:.4f} on the held-out split (gate {evaluation['threshold']})")
    if scored:
        print(f"predictions: {scored['predictions']['uri']} ({scored['rows']} rows)")
    if state != "success":
        explain_failure(api, dag_id, run_id, task_instances)


def explain_failure(api: AirflowApi, dag_id: str, run_id: str, task_instances: dict[str, dict]) -> None:
    """Why the run failed: each failed task's exception and log file, then the tasks that did not run because of it."""
    failed = [task_id for task_id, ti in task_instances.items() if ti["state"] == "failed"]
    upstream_failed = [task_id for task_id, ti in task_instances.items() if ti["state"] == "upstream_failed"]
    print("\nwhy it failed:")
    for task_id in failed:
        try_number = task_instances[task_id]["try_number"]
        print(f"  {task_id} (try {try_number}):")
        for line in failure_lines(api, dag_id, run_id, task_id, try_number):
            print("    " + line.replace("\n", "\n      "))
    if upstream_failed:
        print(f"  not run, as a task they need failed (upstream_failed): {', '.join(upstream_failed)}")
    if not failed:
        print("  no task failed: the run itself was failed (by its dagrun_timeout, or by hand)")


def failure_lines(api: AirflowApi, dag_id: str, run_id: str, task_id: str, try_number: int) -> list[str]:
    """The exception that failed the task's last try, and where Airflow keeps that try's log."""
    if try_number < 1:
        return ["it never started, so it has no log"]
    try:
        log = api.task_log(dag_id, run_id, task_id, try_number)
    except ApiError as exc:
        return [f"its log cannot be read: {exc}"]
    why = log.failure() or ["its log records no error (was its process killed?)"]
    return [*why, *(f"log: {source}" for source in log.sources)]


def wait_for_promotion_scoring(api: AirflowApi, run_id: str, timeout: float = 300) -> str:
    """Report the main run's promotion, wait for the `score_champion` run it triggered; return that run's state."""
    if api.task_instances(MAIN, run_id)["promote_model"]["state"] != "success":
        log = api.log(MAIN, run_id, "promote_model", 1)
        print("\n" + next((line for line in log.splitlines() if "not promoted:" in line), "not promoted"))
        champion = current_champion(api.asset_events_newest_first(CHAMPION_ASSET_NAME))
        print(f"champion:    {champion.describe() if champion else 'none'}")
        return "success"
    event = api.asset_events(CHAMPION_ASSET_NAME, limit=1, source_dag_id=MAIN, source_run_id=run_id)[0]
    consumer_run = api.wait_for_triggered_run(CHAMPION_ASSET_NAME, event["id"], CONSUMER, timeout)
    print(f"\npromoted; {CONSUMER} run {consumer_run} triggered by the promotion, waiting for it to finish")
    state = api.wait_for_runs(CONSUMER, [consumer_run], timeout=timeout)[consumer_run]
    scored = api.xcom(CONSUMER, consumer_run, "score_with_champion")
    print(f"run {consumer_run}: {state}")
    if scored:
        print(f"champion:    run {scored['champion_run_id']}, sha256 {scored['model_sha256']}")
        print(f"             holdout accuracy {scored['holdout_accuracy']:.4f}")
        print(f"predictions: {scored['predictions']['uri']} ({scored['rows']} rows)")
    if state != "success":
        explain_failure(api, CONSUMER, consumer_run, api.task_instances(CONSUMER, consumer_run))
    return state


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dag_id", nargs="?", default="train_and_score")
    parser.add_argument("--conf", default="{}", help="run conf as JSON, e.g. '{\"seed\": 7}'")
    args = parser.parse_args()
    try:
        conf = run_conf(args.conf)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        stack = stack_from_env()
        check_settings(stack)  # before any process starts: the tasks, and this script, read them
        with airflow(stack) as api:
            api.wait_for_dag(args.dag_id)
            if args.dag_id == MAIN:
                api.wait_for_dag(CONSUMER)  # unpaused before the promotion, which triggers it
            run_id = api.trigger(args.dag_id, conf=conf)
            print(f"triggered {run_id}; waiting for it to finish")
            state = api.wait_for_runs(args.dag_id, [run_id])[run_id]
            report(api, args.dag_id, run_id, state)
            if args.dag_id == MAIN and state == "success":
                state = wait_for_promotion_scoring(api, run_id)
    except (StackError, ApiError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
