"""Slow: bake each backend and use the generated project as a user would, through its make targets and REST API.

`test_project_works_as_documented` follows a newcomer: `cruft create`, the project's quick start (setup, run), the
README's own example DAG added, then lint, test, bench, the local stack, and `cruft update` once the template
changed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

from .helpers import BACKENDS, REPO_ROOT, commit_all, cruft, cruft_create, git, template_repository

TARGETS = ("lint", "test", "bench")  # after setup, run and the example DAG; then stack, run (on the stack), stack-down
TAIL_LINES = 60
# Settings of the make (and venv) that started pytest must not leak into the project's make.
LEAKY_ENV = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "VIRTUAL_ENV")
# Outside /tmp: the project's Celery tests give each worker an empty private /tmp.
BAKE_DIR = REPO_ROOT / "build" / "slow-tests"
SOAK_DIR = REPO_ROOT / "build" / "soak-tests"
# The soak (`make soak`: 60 runs through the scheduler) for variables and one backend that stores files.
SOAK_BACKENDS = ("variables", "shared_fs")
# `make bench` once, small: it must work, not measure (the full run is `make bench` itself, see docs/benchmarks.md).
# variables only takes models under its limit (48 KiB by default).
BENCH_ENV = {"BENCH_REPEATS": "1", "BENCH_PARSE_RUNS": "1"}
BENCH_SIZE_MB = {"shared_fs": 1, "s3": 1, "variables": 0.01}
BENCH_RECORD_KEYS = {"backend", "method", "phase", "model_mb", "seconds", "peak_rss_mb", "baseline_rss_mb"}


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make(project: Path, target: str, **variables: str) -> tuple[int, str, float]:
    """Run `make <target>` in the project; return its exit status, combined output and duration."""
    env = {key: value for key, value in os.environ.items() if key not in LEAKY_ENV}
    env.update(variables)
    start = time.perf_counter()
    result = subprocess.run(
        ["make", target],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=1800,
    )
    return result.returncode, result.stdout, time.perf_counter() - start


def make_ok(project: Path, target: str, **variables: str) -> str:
    status, output, seconds = make(project, target, **variables)
    tail = "\n".join(output.splitlines()[-TAIL_LINES:])
    assert status == 0, f"`make {target}` exited {status} after {seconds:.0f} s; last lines:\n{tail}"
    print(f"make {target} ({project.parent.name}): {seconds:.1f} s")
    return output


def project_processes(project: Path) -> list[str]:
    """Live processes started from the project: its interpreter, working directory or Airflow home."""
    marks = (str(project).encode(), f"AIRFLOW_HOME={project}".encode())
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            cmdline = (proc / "cmdline").read_bytes()
            cwd = str((proc / "cwd").readlink()).encode()
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if marks[0] in cmdline or cwd.startswith(marks[0]) or marks[1] in environ:
            command = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{proc.name}: {command[:120]}")
    return found


class RestClient:
    """Airflow's REST API v2 as an outside client uses it: a token from the auth manager, then JSON calls."""

    def __init__(self, url: str, username: str, password: str) -> None:
        self.url = url
        token = self.call("POST", "/auth/token", {"username": username, "password": password})["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            self.url + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json", **getattr(self, "headers", {})},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")


def fresh_folder(folder: Path) -> Path:
    """``folder``, empty: whatever an earlier test left there is removed."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def bake_into(folder: Path, backend: str) -> Path:
    """A fresh bake of ``backend`` in ``folder`` (whatever an earlier test left there is removed first)."""
    cookiecutter(
        str(REPO_ROOT), no_input=True, output_dir=str(fresh_folder(folder)), extra_context={"storage_backend": backend}
    )
    return folder / "model-pipeline"


# The README's example of a DAG of your own, and where the README says to put it.
EXAMPLE_DAG = "examples/retrain_and_evaluate.py"
# A template change made after the bake, which `cruft update` must bring into the project.
TEMPLATE_CHANGE = "A paragraph the template added after this project was made."


def check_bench_outputs(project: Path, backend: str) -> None:
    """results.json has DESIGN.md's shape: every method and phase at the size asked for; the plot is a PNG."""
    document = json.loads((project / "benchmarks/results.json").read_text())
    assert {"created_at", "python", "results"} <= document.keys()
    records = document["results"]
    assert all(record.keys() == BENCH_RECORD_KEYS for record in records)
    runs = {(r["backend"], r["method"], r["phase"], r["model_mb"]) for r in records}
    size = BENCH_SIZE_MB[backend]
    assert runs == {(backend, m, p, size) for m in ("handoff", "naive", "raw") for p in ("save", "load")}
    for record in records:
        assert record["seconds"] > 0 and record["peak_rss_mb"] >= record["baseline_rss_mb"] > 0
    assert document["dag_parse"]["parse_beyond_sdk_ms"] > 0
    assert (project / "benchmarks/results.png").read_bytes().startswith(b"\x89PNG")


# Defined first so that xdist starts the two soaks, the longest tests, as soon as workers are free.
@pytest.mark.slow
@pytest.mark.soak
@pytest.mark.parametrize("backend", SOAK_BACKENDS)
def test_project_survives_the_soak(backend: str) -> None:
    """`make soak`: 10 concurrent and 50 sequential runs, no cross-run mismatch, storage left as the policy says."""
    project = bake_into(SOAK_DIR / backend, backend)
    make_ok(project, "setup")
    output = make_ok(project, "soak")
    assert "3 passed" in output and "soak: 10 concurrent runs in" in output
    print("\n".join(line for line in output.splitlines() if line.startswith("soak: ")))
    assert project_processes(project) == [], "the soak's stack left processes behind"


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_project_works_as_documented(backend: str) -> None:
    # A repository of this template of the test's own, to bake from with cruft and then change.
    template = template_repository(fresh_folder(BAKE_DIR / f"template-{backend}"))
    project = cruft_create(template, fresh_folder(BAKE_DIR / backend), storage_backend=backend)
    git(project, "init", "-q")
    commit_all(project, "Initial commit")
    # Ports of their own: the backends' tests run side by side.
    ports = {name: str(free_port()) for name in ("API_PORT", "LOG_PORT", "TRIGGER_LOG_PORT", "S3_PORT")}
    make_ok(project, "setup")
    run = make_ok(project, "run", **ports)
    assert ": success" in run and "accuracy:" in run, run
    shutil.copy(project / EXAMPLE_DAG, project / "dags")
    for target in TARGETS:
        bench = {**BENCH_ENV, "BENCH_SIZES_MB": str(BENCH_SIZE_MB[backend])} if target == "bench" else {}
        make_ok(project, target, **bench)
    check_bench_outputs(project, backend)
    try:
        check_stack(project, backend, ports)
    finally:
        make(project, "stack-down", **ports)
    assert project_processes(project) == [], "make stack-down left processes behind"
    status, output, _ = make(project, "stack-down", **ports)
    assert status == 0 and "no stack was running" in output
    check_template_update(template, project)


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


def check_stack(project: Path, backend: str, ports: dict[str, str]) -> None:
    """`make stack`, then trigger the main DAG through the REST API as a client would, and check the handoff."""
    output = make_ok(project, "stack", **ports)
    url = f"http://127.0.0.1:{ports['API_PORT']}"
    assert f"Airflow is up: {url}" in output and "login: admin / " in output
    assert "already running" in make_ok(project, "stack", **ports), "a second make stack must not start a copy"
    run = make_ok(project, "run", **ports)
    assert "using the running stack" in run and ": success" in run and "accuracy:" in run

    password = output.split("login: admin / ")[1].split(";")[0]
    api = RestClient(url, "admin", password)
    deadline = time.monotonic() + 120
    while True:
        try:
            api.call("PATCH", "/api/v2/dags/train_and_score", {"is_paused": False})
            break
        except urllib.error.HTTPError as exc:  # 404 until the DAG processor has parsed the DAG
            assert exc.code == 404 and time.monotonic() < deadline, f"DAG not available: {exc}"
            time.sleep(1)
    run_id = api.call("POST", "/api/v2/dags/train_and_score/dagRuns", {"logical_date": None, "conf": {"seed": 3}})[
        "dag_run_id"
    ]
    run_path = f"/api/v2/dags/train_and_score/dagRuns/{urllib.parse.quote(run_id, safe='')}"
    deadline = time.monotonic() + 300
    while (state := api.call("GET", run_path)["state"]) not in ("success", "failed"):
        assert time.monotonic() < deadline, f"run {run_id} still {state}"
        time.sleep(2)
    assert state == "success"

    model_ref = api.call("GET", f"{run_path}/taskInstances/train_model/xcomEntries/return_value")["value"]
    log = api.call("GET", f"{run_path}/taskInstances/score_batch/logs/1")["content"]
    events = " ".join(str(line.get("event", "")) for line in log if isinstance(line, dict))
    assert f"verified {model_ref['uri']} ({model_ref['size_bytes']} bytes, sha256 {model_ref['sha256']})" in events
    if backend != "variables":  # Variables are readable inside tasks only (and the teardown deleted them)
        load = (
            "import json, sys; from model_pipeline.handoff import load_model; "
            "print(type(load_model(json.loads(sys.argv[1]))).__name__)"
        )
        env = {**os.environ, **ports}
        if backend == "s3":
            env["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(
                {
                    "conn_type": "aws",
                    "login": "local",
                    "password": "local-secret",
                    "extra": {"endpoint_url": f"http://127.0.0.1:{ports['S3_PORT']}", "region_name": "us-east-1"},
                }
            )
        else:
            env["HANDOFF_ROOT"] = str(project / ".data" / "models")
        loaded = subprocess.run(
            [str(project / ".venv/bin/python"), "-c", load, json.dumps(model_ref)],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        # Airflow logs to stdout too: the type name is the last line.
        assert loaded.returncode == 0 and loaded.stdout.splitlines()[-1:] == ["Pipeline"], loaded.stdout + loaded.stderr
    print(f"REST-triggered run {run_id}: success, model {model_ref['uri']} verified")
