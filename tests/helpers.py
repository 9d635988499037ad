"""Constants and helpers shared by the template's tests."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("shared_fs", "s3", "variables")
# The CLIs installed next to the interpreter running the tests (.venv/bin/ under `make test`).
# Not resolved: a venv's python is a symlink and resolving it would leave the venv.
BIN = Path(sys.executable).parent

Bake = Callable[..., Path]


def project_files(project: Path) -> set[str]:
    """Every file of a baked project as a relative POSIX path, ignoring the `.git/` that the post-gen hook creates."""
    return {
        path.relative_to(project).as_posix()
        for path in project.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(project).parts
    }
