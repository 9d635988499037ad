"""Slow: bake each backend and use the generated project as a user would, through its make targets and REST API.

`test_project_works_as_documented` follows a newcomer: `cruft create`, the project's quick start (setup, run), the
README's own example DAG added, then lint, test, bench, the local stack, and `cruft update` once the template
changed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .browser import check_airflow_ui, require_chromium
from .helpers import (
    BACKENDS,
    REPO_ROOT,
    bake_into,
    commit_all,
    cruft,
    cruft_create,
    fresh_folder,
    git,
    make,
    make_ok,
    project_helper,
    project_processes,
    template_repository,
)

TARGETS = ("lint", "test", "bench")  # after setup, run and the example DAG; then stack, run (on the stack), stack-down
# Outside /tmp: the project's Celery tests give each worker an empty private /tmp.
BAKE_DIR = REPO_ROOT / "build" / "slow-tests"
UI_DIR = REPO_ROOT / "build" / "ui-test"
# The browser test's screenshots, kept as test artifacts.
SCREENSHOT_DIR = REPO_ROOT / "build" / "artifacts" / "ui"
# `make bench` once, small: it must work, not measure (the full run is `make bench` itself, see docs/benchmarks.md).
# variables only takes models under its limit (48 KiB by default).
BENCH_ENV = {"BENCH_REPEATS": "1", "BENCH_PARSE_RUNS": "1"}
BENCH_SIZE_MB = {"shared_fs": 1, "s3": 1, "variables": 0.01}
BENCH_RECORD_KEYS = {"backend", "method", "phase", "model_mb", "seconds", "peak_rss_mb", "baseline_rss_mb", "spool_mb"}
METHODS = ("handoff", "naive", "raw")


def printed_login(stack_output: str) -> tuple[str, str, str]:
    """URL, user and password from `make stack`'s "Airflow is up: URL  (login: USER / PASSWORD; ...)" line."""
    url, login = stack_output.split("Airflow is up: ")[1].split("  (login: ")
    username, password = login.split(";")[0].split(" / ")
    return url, username, password


def own_ports(project: Path) -> dict[str, str]:
    """Ports of the test's own for the project's make targets: the backends' tests run side by side."""
    free_port = project_helper(project, "ports", folder=f"{LIBRARY}/local").free_port
    return {name: str(free_port()) for name in ("API_PORT", "LOG_PORT", "TRIGGER_LOG_PORT", "S3_PORT")}


# The README's example of a DAG of your own, and where the README says to put it.
EXAMPLE_DAG = "examples/retrain_and_evaluate.py"
LIBRARY = "vendor/airflow-model-handoff/src/airflow_model_handoff"
# A template change made after the bake, which `cruft update` must bring into the project.
TEMPLATE_CHANGE = "A paragraph the template added after this project was made."


def check_bench_outputs(project: Path, backend: str) -> None:
    """results.json has DESIGN.md's shape, with the conditions it was measured under: every method and phase at the
    size asked for under a task's conditions (and the other loads the backend has), the method order shuffled and
    recorded, the digest of the handoff sources that produced it, and every DAG file's parse cost; the plot is a
    PNG."""
    document = json.loads((project / "benchmarks/results.json").read_text())
    assert document.keys() >= {"created_at", "python", "results", "seed", "orders", "conditions", "targets"}
    sources = project_helper(project, "sources", folder=f"{LIBRARY}/benchmark")
    assert document["handoff_sources_sha256"] == sources.handoff_sources_sha256(project / LIBRARY)
    records, size = document["results"], BENCH_SIZE_MB[backend]
    assert all(record.keys() >= BENCH_RECORD_KEYS for record in records)
    loads = {
        "shared_fs": {("task", "cold"), ("task", "warm"), ("script", "cold")},
        "s3": {("task", None), ("script", None)},
        "variables": {("task", None)},
    }
    runs = {(r["method"], r["phase"], r["conditions"], r.get("cache")) for r in records}
    expected = {(m, "save", "task", None) for m in METHODS}
    expected |= {(m, "load", *load) for m in METHODS for load in loads[backend]}
    assert runs == expected
    assert {(r["backend"], r["model_mb"]) for r in records} == {(backend, size)}
    for record in records:
        assert record["seconds"] > 0 and record["peak_rss_mb"] >= record["baseline_rss_mb"] > 0
        assert record["spool_mb"] >= 0
    assert [sorted(order["methods"]) for order in document["orders"]] == [sorted(METHODS)] * len(document["orders"])
    assert [target["model_mb"] for target in document["targets"]] == [size]
    parsed = sorted(cost["file"] for cost in document["dag_parse"])
    assert parsed == sorted(f"dags/{path.name}" for path in (project / "dags").glob("*.py"))
    assert all(cost["parse_beyond_sdk_ms"] > 0 for cost in document["dag_parse"])
    assert (project / "benchmarks/results.png").read_bytes().startswith(b"\x89PNG")


def check_bench_profile(project: Path, backend: str) -> None:
    """`make profile` (docs/benchmarks.md's profile) runs every method's save and load, each in a profiled fresh
    process, and names the functions that took their time."""
    output = make_ok(project, "profile", **BENCH_ENV, BENCH_SIZES_MB=str(BENCH_SIZE_MB[backend]), BENCH_PROFILE_TOP="3")
    sections = re.findall(r"^(\w+ (?:save|load)): .*\n((?: +\d+\.\d{3} s  \S.*\n?)*)", output, re.MULTILINE)
    assert [header for header, _ in sections] == [f"{m} {phase}" for m in METHODS for phase in ("save", "load")], output
    assert all(len(functions.splitlines()) == 3 for _, functions in sections), output


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_project_works_as_documented(backend: str) -> None:
    # A repository of this template of the test's own, to bake from with cruft and then change.
    template = template_repository(fresh_folder(BAKE_DIR / f"template-{backend}"))
    project = cruft_create(template, fresh_folder(BAKE_DIR / backend), storage_backend=backend)
    git(project, "init", "-q")
    commit_all(project, "Initial commit")
    ports = own_ports(project)
    make_ok(project, "setup")
    check_readme_docker_commands(project)
    # Twice in a row: the second starts while the first one's connections still linger on the same ports.
    for _ in range(2):
        run = make_ok(project, "run", **ports)
        assert ": success" in run and "accuracy:" in run, run
    shutil.copy(project / EXAMPLE_DAG, project / "dags")
    for target in TARGETS:
        bench = {**BENCH_ENV, "BENCH_SIZES_MB": str(BENCH_SIZE_MB[backend])} if target == "bench" else {}
        make_ok(project, target, **bench)
    check_bench_outputs(project, backend)
    check_bench_profile(project, backend)
    try:
        check_stack(project, backend, ports)
    finally:
        make(project, "stack-down", **ports)
    assert project_processes(project) == [], "make stack-down left processes behind"
    status, output, _ = make(project, "stack-down", **ports)
    assert status == 0 and "no stack was running" in output
    check_template_update(template, project)


@pytest.mark.slow
def test_the_airflow_ui_shows_the_pipeline() -> None:
    """A new user's first look at the UI: `make run`, then `make stack`; open the printed URL in a real browser, log
    in with the printed credentials, see both DAGs without import errors and the champion the run promoted."""
    require_chromium()
    project = bake_into(UI_DIR, "shared_fs")
    ports = own_ports(project)
    make_ok(project, "setup")
    make_ok(project, "run", **ports)
    try:
        url, username, password = printed_login(make_ok(project, "stack", **ports))
        check_airflow_ui(url, username, password, fresh_folder(SCREENSHOT_DIR))
    finally:
        make(project, "stack-down", **ports)
    assert project_processes(project) == [], "make stack-down left processes behind"


def check_template_update(template: Path, project: Path) -> None:
    """The user's work committed, the template changed: `cruft update` applies cleanly and brings the change."""
    changed = git(project, "status", "--porcelain", "--untracked-files=all").splitlines()
    assert changed == [f"?? dags/{Path(EXAMPLE_DAG).name}"], "the make targets left files that git would commit"
    commit_all(project, "A DAG of my own")
    readme = template / "{{cookiecutter.project_slug}}" / "README.md"
    readme.write_text(f"{readme.read_text()}\n{TEMPLATE_CHANGE}\n")
    commit_all(template, "README: one more paragraph")
    update = cruft(project, "update", "-y")
    assert update.returncode == 0, update.stdout + update.stderr
    assert TEMPLATE_CHANGE in (project / "README.md").read_text()
    assert not list(project.rglob("*.rej")), "the update left rejected hunks"
    assert cruft(project, "check").returncode == 0
    assert (project / "dags" / Path(EXAMPLE_DAG).name).is_file(), "the update lost the user's DAG"


# The service the README's Docker commands run in, and the settings compose gives it that decide what they find.
DOCKER_EXEC = "docker compose exec airflow-apiserver "
COMPOSE_AIRFLOW_ENV = {"AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "true", "AIRFLOW__CORE__LOAD_EXAMPLES": "false"}


def check_readme_docker_commands(project: Path) -> None:
    """The README's `docker compose exec airflow-apiserver airflow ...` lines, in their order, with the project's own
    Airflow on a fresh metadata DB, as the containers have right after `airflow-init` migrated it and before the DAG
    processor's first parse: afterwards the main DAG and its consumer are unpaused and the main DAG has a run. (No
    Docker engine here; `airflow dags unpause` of a DAG not yet in the DB prints a note and exits 0, so the state
    is what is checked.)"""
    readme = (project / "README.md").read_text()
    section = readme.split("## Run with Docker", 1)[1].split("\n## ", 1)[0]
    lines = [line.split("  #")[0].strip() for line in section.splitlines() if line.startswith(DOCKER_EXEC)]
    steps = [line.removeprefix(DOCKER_EXEC).split() for line in lines]
    assert steps and all(step[0] == "airflow" for step in steps), lines
    home = fresh_folder(project.parent / "docker-commands-home")
    env = {**os.environ, **COMPOSE_AIRFLOW_ENV, "AIRFLOW_HOME": str(home)}
    env["AIRFLOW__CORE__DAGS_FOLDER"] = str(project / "dags")
    airflow = str(project / ".venv" / "bin" / "airflow")

    def run(*args: str) -> str:
        result = subprocess.run([airflow, *args], cwd=project, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"`airflow {' '.join(args)}` exited {result.returncode}: {result.stderr[-2000:]}"
        return result.stdout

    run("db", "migrate")  # what airflow-init does before the other services start
    for step in steps:
        run(*step[1:])

    def listed(*args: str) -> list[dict]:
        """A listing's `-o json` table: Airflow prints its warnings to stdout too, the table is the last line."""
        return json.loads(run(*args, "-o", "json").splitlines()[-1])

    paused = {dag["dag_id"]: dag["is_paused"] for dag in listed("dags", "list")}
    main_and_consumer = {dag: paused.get(dag) for dag in ("train_and_score", "score_champion")}
    assert main_and_consumer == {"train_and_score": "False", "score_champion": "False"}, paused
    assert listed("dags", "list-runs", "train_and_score"), "the README's trigger made no run"
    shutil.rmtree(home)


@contextmanager
def stale_stack_record(project: Path) -> Iterator[None]:
    """A `.stack/stack.json` left from before a restart: its scheduler's process id now belongs to another process.

    That process must survive whatever the make targets do with the record."""
    unrelated = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
    try:
        processes = project_helper(project, "processes")
        before_restart = processes.StartedProcess.of(unrelated.pid).create_time - 3600
        scheduler = processes.StartedProcess(unrelated.pid, before_restart).to_json()
        record = {"id": "0123456789abcdef", "url": "http://127.0.0.1:8080", "processes": {"scheduler": scheduler}}
        (project / ".stack").mkdir(exist_ok=True)
        (project / ".stack" / "stack.json").write_text(json.dumps(record))
        yield
        assert unrelated.poll() is None, "a make target signalled a process its stack did not start"
    finally:
        unrelated.kill()
        unrelated.wait()


def check_stack(project: Path, backend: str, ports: dict[str, str]) -> None:
    """`make stack` over a stale record, then trigger the main DAG through the REST API as a client would and check
    the handoff; `make stack-down` and `make stack` again right away."""
    with stale_stack_record(project):
        output = make_ok(project, "stack", **ports)
        assert "cleared the record of a stack that no longer runs" in output
        url, username, password = printed_login(output)
        assert (url, username) == (f"http://127.0.0.1:{ports['API_PORT']}", "admin") and password
        assert "already running" in make_ok(project, "stack", **ports), "a second make stack must not start a copy"
        run = make_ok(project, "run", **ports)
        assert "using the running stack" in run and ": success" in run and "accuracy:" in run
        check_rest_client_run(project, backend, output, ports)
        assert "stopped" in make_ok(project, "stack-down", **ports)
        assert "Airflow is up" in make_ok(project, "stack", **ports), "make stack right after make stack-down"


def check_rest_client_run(project: Path, backend: str, stack_output: str, ports: dict[str, str]) -> None:
    """A run triggered through the REST API by an outside client (tests/rest_trigger.py, with the project's own API
    client) with the login `make stack` printed: it succeeds, its consumer verified the model, and the model loads
    outside Airflow and make, through the project's `handoff` package and its defaults (s3: with the connection line
    `make stack` printed for such commands)."""
    url, username, password = printed_login(stack_output)
    env = {**os.environ, **ports}
    if backend == "s3":
        connection = stack_output.split("export AIRFLOW_CONN_AWS_DEFAULT='")[1].split("'\n")[0]
        env["AIRFLOW_CONN_AWS_DEFAULT"] = connection
    script = REPO_ROOT / "tests" / "rest_trigger.py"
    client = subprocess.run(
        [str(project / ".venv/bin/python"), str(script), url, username, password, "3", backend],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert client.returncode == 0, client.stdout[-3000:] + client.stderr[-3000:]
    report = json.loads(client.stdout.splitlines()[-1])  # Airflow logs to stdout too: the report is the last line
    assert report["state"] == "success", report
    model_ref = report["model_ref"]
    verified = f"verified {model_ref['uri']} ({model_ref['size_bytes']} bytes, sha256 {model_ref['sha256']})"
    assert verified in report["consumer_log"]
    assert report["loaded_type"] == (None if backend == "variables" else "Pipeline")
    print(f"REST-triggered run {report['run_id']}: success, model {model_ref['uri']} verified")
