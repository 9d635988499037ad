"""Print what the Docker image installs: the project's runtime dependencies and its `kubernetes` extra.

The Dockerfile runs this (as `python image_requirements.py > runtime-requirements.txt`) and installs the result with
requirements.lock as constraints, so the image gets the lock's versions and not the dev tools. The template's tests
resolve the same list against the lock, so what the image installs is what is checked. Standard library only.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

# Providers only a deployment needs: the KubernetesExecutor of the Helm chart (deploy/helm/values.yaml).
IMAGE_EXTRAS = ("kubernetes",)


def image_requirements(pyproject: Path) -> list[str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    extras = project.get("optional-dependencies", {})
    missing = [name for name in IMAGE_EXTRAS if name not in extras]
    if missing:
        raise SystemExit(f"error: {pyproject} has no optional dependencies named {', '.join(missing)}")
    return [*project["dependencies"], *(req for name in IMAGE_EXTRAS for req in extras[name])]


if __name__ == "__main__":
    pyproject = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("pyproject.toml")
    print(*image_requirements(pyproject), sep="\n")
