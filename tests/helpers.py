"""Constants and helpers shared by the template's tests."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from cookiecutter.main import cookiecutter

REPO_ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("shared_fs", "s3", "variables")
# The CLIs installed next to the interpreter running the tests (.venv/bin/ under `make test`).
# Not resolved: a venv's python is a symlink and resolving it would leave the venv.
BIN = Path(sys.executable).parent

Bake = Callable[..., Path]
# The provider package each executor a deployment of the project may use needs in the image.
EXECUTOR_PROVIDERS = {
    "CeleryExecutor": "apache-airflow-providers-celery",
    "KubernetesExecutor": "apache-airflow-providers-cncf-kubernetes",
}
# ... each connection type and remote log store the deployments use.
CONNECTION_PROVIDERS = {"aws": "apache-airflow-providers-amazon", "s3": "apache-airflow-providers-amazon"}
# Commits made by the tests, in repositories they create: no user configuration needed.
GIT_IDENTITY = ("-c", "user.name=Template Tests", "-c", "user.email=tests@example.invalid")


def is_ci() -> bool:
    """Under CI a check that cannot run (a tool missing here) fails instead of skipping."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def project_files(project: Path) -> set[str]:
    """Every file of a freshly baked project as a relative POSIX path."""
    return {path.relative_to(project).as_posix() for path in project.rglob("*") if path.is_file()}


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo``; fail the test with git's message if it fails; return its output."""
    result = subprocess.run(["git", *GIT_IDENTITY, *args], cwd=repo, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"`git {' '.join(args)}` in {repo} failed:\n{result.stdout}{result.stderr}"
    return result.stdout


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


def template_repository(destination: Path) -> Path:
    """This template as it stands, committed or not, in a repository of its own: cruft clones the template it
    bakes, and a test can commit template changes there without touching this one."""
    listed = git(REPO_ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is left out, as in the next commit
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    git(destination, "init", "-q")
    commit_all(destination, "The template under test")
    return destination


def cruft(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the cruft CLI as a user would; the caller checks the result."""
    return subprocess.run([str(BIN / "cruft"), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def cruft_create(template: Path, output_dir: Path, config: Path | None = None, **answers: str) -> Path:
    """Bake ``template`` with ``cruft create``, as the README recommends; return the project folder."""
    command = ["create", "--no-input", "--output-dir", str(output_dir)]
    if config is not None:
        command += ["--config-file", str(config)]
    if answers:
        command += ["--extra-context", json.dumps(answers)]
    result = cruft(output_dir.parent, *command, str(template))
    assert result.returncode == 0, result.stdout + result.stderr
    return output_dir / "model-pipeline"


def project_helper(project: Path, name: str, folder: str = "scripts") -> ModuleType:
    """The generated project's own helper module ``<folder>/<name>.py`` (ports, processes, the benchmark's sources
    digest), loaded from its file: the template's tests use the project's helpers, not copies of them."""
    module_name = f"project_helper_{name}_{abs(hash(project))}"
    spec = importlib.util.spec_from_file_location(module_name, project / folder / f"{name}.py")
    assert spec is not None and spec.loader is not None, f"{project} has no {folder}/{name}.py"
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


@functools.cache
def image_install_set(project: Path) -> dict[str, str]:
    """What the baked project's Docker image installs, as {distribution: version}: the list the Dockerfile installs
    (scripts/image_requirements.py), resolved by uv with the lock's pins as constraints (as the Dockerfile makes
    them), for the image's Python on Linux. Asks the package index, as `make setup` does; once per project (callers
    must not change the result)."""
    listed = subprocess.run(
        [sys.executable, "scripts/image_requirements.py"], cwd=project, capture_output=True, text=True, check=True
    )
    constraints = subprocess.run(
        [sys.executable, "scripts/image_requirements.py", "constraints"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )
    with tempfile.TemporaryDirectory(prefix="image-constraints-") as folder:
        pins = Path(folder) / "constraints.txt"
        pins.write_text(constraints.stdout)
        command = [str(BIN / "uv"), "pip", "compile", "-", "-c", str(pins), "--python-version", "3.11"]
        command += ["--python-platform", "linux", "--no-header", "--no-annotate", "--quiet"]
        resolved = subprocess.run(
            command, input=listed.stdout, cwd=project, capture_output=True, text=True, timeout=300
        )
    assert resolved.returncode == 0, resolved.stderr
    return dict(line.split("==", 1) for line in resolved.stdout.splitlines() if "==" in line)


def lock_pins(project: Path) -> dict[str, str]:
    """requirements.lock of a baked project as {distribution: version}."""
    lines = (project / "requirements.lock").read_text().splitlines()
    return dict(line.split("==", 1) for line in lines if "==" in line and not line.startswith("#"))


# Settings of the make (and venv) that started pytest must not leak into the project's make.
LEAKY_ENV = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "VIRTUAL_ENV")
TAIL_LINES = 60


def clean_environment(**variables: str) -> dict[str, str]:
    """This process's environment without what would leak into a project's make, plus ``variables``."""
    return {key: value for key, value in os.environ.items() if key not in LEAKY_ENV} | variables


def make(project: Path, target: str, **variables: str) -> tuple[int, str, float]:
    """Run `make <target>` in the project; return its exit status, combined output and duration."""
    env = clean_environment(**variables)
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
    """Live processes started from the project (its interpreter, working directory or Airflow home)."""
    return project_helper(project, "processes").processes_using(project)


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
