"""Print what the Docker image installs: the project's runtime dependencies and its `kubernetes` extra, the handoff
library from its folder (vendor/); with `constraints`, the lock's pins without that folder's line (pip takes only
named constraints).

The Dockerfile runs this (as `python image_requirements.py > runtime-requirements.txt`) and installs the result with
the lock's pins as constraints, so the image gets the lock's versions and not the dev tools. The template's tests
resolve the same list against the lock, so what the image installs is what is checked. Standard library only.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

# Providers only a deployment needs: the KubernetesExecutor of the Helm chart (deploy/helm/values.yaml).
IMAGE_EXTRAS = ("kubernetes",)
# The handoff library: not on a package index yet, installed from the project's copy.
LIBRARY, LIBRARY_FOLDER = "airflow-model-handoff", "./vendor/airflow-model-handoff"


def image_requirements(pyproject: Path) -> list[str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    extras = project.get("optional-dependencies", {})
    missing = [name for name in IMAGE_EXTRAS if name not in extras]
    if missing:
        raise SystemExit(f"error: {pyproject} has no optional dependencies named {', '.join(missing)}")
    listed = [*project["dependencies"], *(req for name in IMAGE_EXTRAS for req in extras[name])]
    return [LIBRARY_FOLDER + req.removeprefix(LIBRARY) if req.startswith(LIBRARY) else req for req in listed]


def named_pins(lock: Path) -> list[str]:
    """The lock's lines that name a distribution (not the library's folder)."""
    return [line for line in lock.read_text(encoding="utf-8").splitlines() if "==" in line]


if __name__ == "__main__":
    if sys.argv[1:] == ["constraints"]:
        print(*named_pins(Path("requirements.lock")), sep="\n")
    else:
        print(*image_requirements(Path("pyproject.toml")), sep="\n")
