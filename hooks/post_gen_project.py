"""Remove what the chosen storage backend does not need, pick its lock file, and print the next steps.

Nothing else: the render must be the project alone, since cruft renders the template again to compare and update
(no `git init` here: a repository's index in the render breaks `cruft diff` and `cruft update`)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

BACKEND = "{{ cookiecutter.storage_backend }}"
PACKAGE = "{{ cookiecutter.package_name }}"

# Files that belong to one backend only; every other backend's are removed.
BACKEND_FILES = {
    "shared_fs": ["deploy/helm/handoff-pvc.yaml"],
    "s3": [],
    "variables": [f"src/{PACKAGE}/variables_teardown.py", "tests/variable_keys.py"],
}
# Keys cookiecutter adds to the saved answers that describe how and where it ran, not the project. cruft keeps the
# template and its commit in .cruft.json; here they would make a project baked with cookiecutter differ from the
# same project baked with cruft, and `cruft update` would stumble on the difference.
MACHINE_KEYS = ("_output_dir", "_repo_dir", "_checkout", "_template", "_commit")


def remove(path: str) -> None:
    target = Path(path)
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink(missing_ok=True)


def main() -> int:
    for backend, files in BACKEND_FILES.items():
        if backend != BACKEND:
            for path in files:
                remove(path)
    answers_file = Path(".cookiecutter.json")
    answers = {k: v for k, v in json.loads(answers_file.read_text()).items() if k not in MACHINE_KEYS}
    answers_file.write_text(json.dumps(answers, indent=2) + "\n")
    Path(f"requirements/{BACKEND}.lock").replace("requirements.lock")
    remove("requirements")

    print(
        f"\nCreated {{ cookiecutter.project_slug }} (storage backend: {BACKEND}). Next steps:\n"
        "  cd {{ cookiecutter.project_slug }}\n"
        "  git init -q && git add -A && git commit -qm 'Initial commit'   # cruft update and make lint need it\n"
        "  make setup   # virtualenv with pinned dependencies, Airflow initialised (about 1 minute)\n"
        "  make run     # train, evaluate, promote and score once through a real scheduler (under a minute)\n"
        "  make stack   # Airflow's UI and REST API on http://localhost:8080\n"
        "  make test    # the project's tests (about 2 minutes on 2 cores)\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
