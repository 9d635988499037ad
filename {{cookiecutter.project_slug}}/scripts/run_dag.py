"""Run a DAG of this project once through a real scheduler and report where the model went and how it scored.

For the main DAG, also waits for the `score_champion` run its promotion triggered, and prints the champion it
scored with.

Every task runs in its own process (LocalExecutor), so the model can only reach the next task through
storage. Uses the stack of `make stack` when it is running; otherwise starts a short-lived one (api-server,
scheduler, dag-processor, and a local S3 server for s3 without a configured connection) and stops it afterwards.
Usage: python -m scripts.run_dag [DAG_ID] [--conf JSON]. Exits non-zero if the run fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator

from {{ cookiecutter.package_name }}.airflow_api import (
    AirflowApi,
    ApiError,
    admin_login,
)
from {{ cookiecutter.package_name }}.handoff.champion import (
    CHAMPION_ASSET_NAME,
    newest_promotion,
)

from scripts.stack import Stack, StackError, running_stack, stack_from_env, storage_description

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


def report(api: AirflowApi, dag_id: str, run_id: str, state: str) -> None:
    print(f"\nrun {run_id}: {state}")
    for task_id, ti in api.task_instances(dag_id, run_id).items():
        print(f"  {task_id:<22} {ti['state']:<10} try {ti['try_number']}  pid {ti['pid']}")
    model_ref = api.xcom(dag_id, run_id, "train_model")
    accuracy = api.xcom(dag_id, run_id, "evaluate_model")
    scored = api.xcom(dag_id, run_id, "score_batch")
    if model_ref:
        print(f"model:       {model_ref['uri']}")
        print(f"             sha256 {model_ref['sha256']}, {model_ref['size_bytes']} bytes")
    if accuracy is not None:
        print(f"accuracy:    {accuracy:.4f} on the held-out split")
    if scored:
        print(f"predictions: {scored['predictions']['uri']} ({scored['rows']} rows)")


def wait_for_promotion_scoring(api: AirflowApi, run_id: str, timeout: float = 300) -> str:
    """Report the main run's promotion, wait for the `score_champion` run it triggered; return that run's state."""
    if api.task_instances(MAIN, run_id)["promote_model"]["state"] != "success":
        log = api.log(MAIN, run_id, "promote_model", 1)
        print("\n" + next((line for line in log.splitlines() if "not promoted:" in line), "not promoted"))
        champion = newest_promotion(api.asset_events(CHAMPION_ASSET_NAME, limit=1))
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
    return state


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dag_id", nargs="?", default="train_and_score")
    parser.add_argument("--conf", default="{}", help="run conf as JSON, e.g. '{\"seed\": 7}'")
    args = parser.parse_args()
    try:
        with airflow(stack_from_env()) as api:
            api.wait_for_dag(args.dag_id)
            if args.dag_id == MAIN:
                api.wait_for_dag(CONSUMER)  # unpaused before the promotion, which triggers it
            run_id = api.trigger(args.dag_id, conf=json.loads(args.conf))
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
