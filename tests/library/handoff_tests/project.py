"""The generated project the suite runs in (the working directory, or HANDOFF_TESTS_PROJECT in the stack's
processes): its folder, its package's modules and the names it chose. Standard library only: test DAG files import
it when the DAG processor parses them."""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from types import ModuleType

PROJECT = Path(os.environ.get("HANDOFF_TESTS_PROJECT") or Path.cwd()).resolve()
ANSWERS = json.loads((PROJECT / ".cookiecutter.json").read_text())
PACKAGE = ANSWERS["package_name"]
# The project's champion Asset (its lifecycle module names it so) and its DAGs.
CHAMPION_ASSET_NAME = f"{PACKAGE}_champion"
MAIN, CONSUMER = "train_and_score", "score_champion"
# When the test DAGs start: the project's DAGs' date.
START_DATE = importlib.import_module(f"{PACKAGE}.dag_defaults").START_DATE


def project_module(name: str) -> ModuleType:
    """``<package>.<name>`` of the project, e.g. ``ml.data``."""
    return importlib.import_module(f"{PACKAGE}.{name}")
