"""Fixtures for the template's tests: where the template is, how to bake it, an isolated cookiecutter config."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import REPO_ROOT, Bake

# The handoff library's own suite: it runs inside a generated project, with that project's interpreter and store
# (tests/test_library.py), not in the template's environment.
collect_ignore = ["library"]


def pytest_configure(config: pytest.Config) -> None:
    """Point pytest-cookies at this template whatever directory pytest was started from."""
    if not (Path(config.option.template) / "cookiecutter.json").is_file():
        config.option.template = str(REPO_ROOT)


@pytest.fixture
def bake(cookies) -> Bake:
    """Bake the template with the given answers; fail the test if baking fails; return the project folder."""

    def _bake(**answers: str) -> Path:
        result = cookies.bake(extra_context=answers)
        assert result.exception is None, f"baking {answers} failed: {result.exception!r}"
        assert result.exit_code == 0
        return result.project_path

    return _bake


@pytest.fixture
def cookiecutter_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cookiecutter user config so the CLI writes its replay files in a temporary folder, not in $HOME."""
    home = tmp_path_factory.mktemp("cookiecutter-home")
    config = home / "config.yaml"
    config.write_text(f"cookiecutters_dir: {home / 'templates'}\nreplay_dir: {home / 'replay'}\n")
    return config
