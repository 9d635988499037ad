"""Scale-out on Airflow's CeleryExecutor: PostgreSQL metadata DB, Redis broker, two workers that share nothing.

Each worker runs in a mount and UTS namespace of its own (``unshare``, as root): its own hostname, an
empty private /tmp and a private working directory, as if it were another machine. A queue policy sends
`train_model` to one worker and every other task to the other, so the model must cross between them.
PostgreSQL and Redis are the machine's own services on loopback (E2E_POSTGRES_URL, E2E_REDIS_URL).
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
import pytest
from airflow_model_handoff.airflow_api import AirflowApi, admin_login
from airflow_model_handoff.local.ports import free_port
from airflow_model_handoff.storage import parse_storage_url

from handoff_tests.e2e.conftest import INFO_LOGS, storage_env
from handoff_tests.e2e.metadata import MetadataDb
from handoff_tests.e2e.test_local_executor import verified
from handoff_tests.project import PROJECT
from handoff_tests.stores import BACKEND, only_on

from scripts.stack import Stack, running_stack

MAIN = "train_and_score"
CONSUMERS = ("evaluate_model", "score_batch")
POSTGRES_URL = os.environ.get("E2E_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("E2E_REDIS_URL", "redis://127.0.0.1:6379/0")
# The workers import the test DAGs' helpers from here.
SUITE = Path(__file__).resolve().parents[2]
# Installed as $AIRFLOW_HOME/config/airflow_local_settings.py: a cluster policy, applied when DAGs are parsed.
QUEUE_POLICY = '''import os


def task_policy(task):
    """The producer runs on one Celery worker, every other task on the other."""
    producer = task.task_id == "train_model"
    task.queue = os.environ["E2E_PRODUCER_QUEUE" if producer else "E2E_CONSUMER_QUEUE"]
'''


def require_services() -> None:
    """PostgreSQL, Redis, root and unshare. Under CI=true a missing one fails the tests; elsewhere it skips them."""
    missing = []
    for url in (POSTGRES_URL, REDIS_URL):
        where = urlsplit(url)
        try:
            socket.create_connection((where.hostname, where.port), timeout=3).close()
        except OSError:
            missing.append(f"{where.scheme} at {where.hostname}:{where.port} is unreachable")
    if os.geteuid() != 0 or not shutil.which("unshare"):
        missing.append("private worker namespaces need root and unshare")
    for needed, what in ((PROJECT, "the project"), (SUITE, "this suite")):
        if needed.is_relative_to("/tmp"):
            missing.append(f"{what} is under /tmp ({needed}), which each worker replaces with an empty one")
    if missing:
        reason = "Celery scale-out: " + "; ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


@contextmanager
def scratch_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test module; dropped afterwards."""
    name = f"airflow_e2e_{secrets.token_hex(4)}"
    admin = psycopg2.connect(POSTGRES_URL)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield urlsplit(POSTGRES_URL)._replace(path=f"/{name}").geturl()
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        admin.close()


def worker_command(name: str, queue: str, workdir: Path, private: tuple[Path, ...]) -> list[str]:
    """A Celery worker alone in its namespaces: own hostname, empty /tmp, private working directory."""
    airflow = Path(sys.executable).with_name("airflow")
    mounts = [f"mount -t tmpfs tmpfs {shlex.quote(str(path))}" for path in ("/tmp", workdir, *private)]
    script = " && ".join(
        [
            *mounts,
            f"hostname {name}",
            f"cd {shlex.quote(str(workdir))}",
            f"exec {airflow} celery worker --queues {queue} --celery-hostname {name}@%h --concurrency 1"
            " --skip-serve-logs --without-gossip --without-mingle",
        ]
    )
    return ["unshare", "--mount", "--uts", "--propagation", "private", "--", "sh", "-c", script]


class CeleryCluster:
    """An api-server, scheduler and DAG processor on PostgreSQL + Redis; workers started and stopped per scenario."""

    def __init__(self, workdir: Path, database_url: str) -> None:
        self.workdir = workdir
        tag = secrets.token_hex(4)
        self.queues = {"worker-a": f"producer-{tag}", "worker-b": f"consumer-{tag}"}
        self.env = {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url.replace("postgresql://", "postgresql+psycopg2://"),
            "AIRFLOW__CELERY__BROKER_URL": REDIS_URL,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + database_url,
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            # Task logs go to a folder every component sees, as with a shared log volume.
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(workdir / "logs"),
            **INFO_LOGS,
            "E2E_PRODUCER_QUEUE": self.queues["worker-a"],
            "E2E_CONSUMER_QUEUE": self.queues["worker-b"],
            **storage_env(workdir),
        }
        self.home = workdir / "home"
        (self.home / "config").mkdir(parents=True)
        (self.home / "config" / "airflow_local_settings.py").write_text(QUEUE_POLICY)
        self.control = Stack(
            home=self.home,
            state_dir=workdir / "control",
            api_port=free_port(),
            log_port=free_port(),
            components=("api-server", "scheduler", "dag-processor"),
            env=self.env,
        )

    def workers(self, private: tuple[Path, ...] = ()) -> Stack:
        """Two workers; ``private`` paths get an empty tmpfs of their own in each worker."""
        commands = {}
        for name, queue in self.queues.items():
            (self.workdir / name).mkdir(exist_ok=True)
            commands[name] = worker_command(name, queue, self.workdir / name, private)
        return Stack(
            home=self.home,
            state_dir=self.workdir / "workers",
            api_port=self.control.api_port,
            components=tuple(commands),
            commands=commands,
            env=self.env,
        )


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest) -> Iterator[CeleryCluster]:
    require_services()
    if BACKEND == "s3":
        request.getfixturevalue("s3_endpoint")
    # Not under /tmp: the workers mount an empty /tmp of their own.
    workdir = PROJECT / ".stack" / f"e2e-celery-{secrets.token_hex(4)}"
    workdir.mkdir(parents=True)
    try:
        with scratch_database() as database_url:
            cluster = CeleryCluster(workdir, database_url)
            cluster.control.migrate()
            with running_stack(cluster.control):
                yield cluster
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class FinishedRun:
    run_id: str
    state: str
    task_instances: dict[str, dict]
    model_ref: dict | None
    api: AirflowApi

    def log(self, task_id: str) -> str:
        return self.api.log(MAIN, self.run_id, task_id, self.task_instances[task_id]["try_number"])


def run_main_dag(cluster: CeleryCluster, private: tuple[Path, ...] = ()) -> FinishedRun:
    """Start two fresh workers, run the main DAG once, stop the workers."""
    api = AirflowApi(cluster.control.url, *admin_login(cluster.home))
    api.wait_for_dag(MAIN)
    with running_stack(cluster.workers(private)):
        run_id = api.trigger(MAIN, conf={"seed": 5})
        state = api.wait_for_runs(MAIN, [run_id])[run_id]
    database = MetadataDb(cluster.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    return FinishedRun(
        run_id, state, database.task_instances(MAIN, run_id), database.xcom(MAIN, run_id, "train_model"), api
    )


def test_model_crosses_from_one_worker_to_another(cluster: CeleryCluster) -> None:
    run = run_main_dag(cluster)
    assert run.state == "success"
    assert run.task_instances["train_model"]["hostname"] == "worker-a"
    for consumer in CONSUMERS:
        assert run.task_instances[consumer]["hostname"] == "worker-b", f"{consumer} did not run on the other worker"
        assert verified(run.model_ref) in run.log(consumer), f"{consumer} did not load the model from storage"


@only_on("shared_fs")
def test_unshared_directory_fails_with_a_clear_error(cluster: CeleryCluster) -> None:
    """Each worker gets a private copy of the handoff root: the consumer cannot see the producer's file, and says
    why."""
    root = Path(parse_storage_url(cluster.env["HANDOFF_STORAGE"]).path)
    run = run_main_dag(cluster, private=(root,))
    assert run.state == "failed"
    assert run.task_instances["train_model"]["state"] == "success"
    assert run.task_instances["evaluate_model"]["state"] == "failed"
    log = run.log("evaluate_model")
    assert "ArtifactNotFoundError" in log and "is the directory mounted on every worker?" in log
    assert "UnpicklingError" not in log and "EOFError" not in log, "the error must come before any deserialiser"
