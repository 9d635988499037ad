"""Remove what the chosen storage backend does not need, pick its lock file, and print the next steps."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

BACKEND = "{{ cookiecutter.storage_backend }}"
PACKAGE = "{{ cookiecutter.package_name }}"
HANDOFF = f"src/{PACKAGE}/handoff"

# Files that belong to one backend only; every other backend's are removed.
BACKEND_FILES = {
    "shared_fs": [
        f"{HANDOFF}/shared_fs.py",
        "tests/handoff/test_shared_fs.py",
        "tests/handoff/test_retention_shared_fs.py",
        "benchmarks/shared_fs.py",
    ],
    "s3": [
        f"{HANDOFF}/s3.py",
        "tests/handoff/test_s3.py",
        "tests/handoff/test_retention_s3.py",
        "tests/s3_relay.py",
        "tests/e2e/dags/handoff_s3_outage.py",
        "tests/e2e/test_s3_outage.py",
        "scripts/local_s3.py",
        "benchmarks/s3.py",
    ],
    "variables": [
        f"{HANDOFF}/variables.py",
        f"src/{PACKAGE}/variables_teardown.py",
        "tests/handoff/test_variables.py",
        "tests/handoff/variables_checks_dag.py",
        "tests/variable_keys.py",
        "benchmarks/variables.py",
    ],
}
# Keys cookiecutter adds to the saved answers that describe this machine, not the project.
MACHINE_KEYS = ("_output_dir", "_repo_dir", "_checkout")
# Files that only some backends use.
NOT_FOR = {
    # Variables can only be reached from inside a task: the store and its retention are tested through DAG runs.
    "variables": [
        "tests/handoff/test_retention.py",
        "tests/handoff/test_store_contract.py",
    ],
}


def remove(path: str) -> None:
    target = Path(path)
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink(missing_ok=True)


def init_git_repository() -> None:
    """Make the project a git repository with its files added: pre-commit (`make lint`) works on a repository's files.

    A convenience, not part of the project: when git is missing or fails, the project is kept and the user told.
    """
    if shutil.which("git") is None:
        warn_no_repository("git is not on PATH")
        return
    for command in (["git", "init", "-q"], ["git", "add", "-A"]):
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            lines = result.stderr.strip().splitlines() or [f"exit status {result.returncode}"]
            warn_no_repository(f"`{' '.join(command)}` failed: {lines[-1]}")
            return


def warn_no_repository(problem: str) -> None:
    print(
        f"warning: {problem}. The project was created, but is not a git repository with its files added; "
        "`make lint` needs one: run `git init && git add -A` in it.",
        file=sys.stderr,
    )


def main() -> int:
    for backend, files in BACKEND_FILES.items():
        if backend != BACKEND:
            for path in files:
                remove(path)
    for path in NOT_FOR.get(BACKEND, []):
        remove(path)
    answers_file = Path(".cookiecutter.json")
    answers = {k: v for k, v in json.loads(answers_file.read_text()).items() if k not in MACHINE_KEYS}
    answers_file.write_text(json.dumps(answers, indent=2) + "\n")
    Path(f"requirements/{BACKEND}.lock").replace("requirements.lock")
    remove("requirements")

    if not Path(".git").exists():
        init_git_repository()

    print(
        f"\nCreated {{ cookiecutter.project_slug }} (storage backend: {BACKEND}). Next steps:\n"
        "  cd {{ cookiecutter.project_slug }}\n"
        "  make setup   # virtualenv with pinned dependencies, Airflow initialised\n"
        "  make test    # the project's tests\n"
        "  make run     # train, evaluate and score once, end to end\n"
        "  git commit -m 'Initial commit'\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
