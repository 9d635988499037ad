"""Every DAG file imports cleanly, fast, and follows the project's DAG policy (dag_policy.py).

The example DAGs in examples/ are held to the same rules: they are there to be copied into dags/.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

from tests.conftest import PROJECT

from .dag_policy import policy_violations

DAG_FOLDERS = (PROJECT / "dags", PROJECT / "examples")


@pytest.fixture(scope="module")
def dagbags() -> dict[str, DagBag]:
    """Each folder in its own bag: examples/ is not deployed, so a copy of an example in dags/ may keep its dag_id."""
    return {folder.name: DagBag(dag_folder=str(folder)) for folder in DAG_FOLDERS}


def heavy_imports(dag_files: list[Path], tmp: Path) -> list[str]:
    """One message per line of a DAG file that loads a module of ``HEAVY_AT_PARSE_TIME`` when parsed (parse_time.py).

    Paths are shown as given; relative ones are relative to the project.
    """
    result = tmp / "heavy_imports.json"
    child = subprocess.run(
        [sys.executable, "-m", "tests.dags.parse_time", str(result), *map(str, dag_files)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
    )
    assert child.returncode == 0, child.stderr
    return json.loads(result.read_text())


def test_no_import_errors(dagbags: dict[str, DagBag]) -> None:
    assert {folder: dagbag.import_errors for folder, dagbag in dagbags.items()} == {"dags": {}, "examples": {}}
    assert "train_and_score" in dagbags["dags"].dags
    assert "retrain_and_evaluate" in dagbags["examples"].dags


def test_every_dag_follows_the_policy(dagbags: dict[str, DagBag]) -> None:
    violations = {
        f"{folder}: {dag_id}": policy_violations(dag)
        for folder, dagbag in dagbags.items()
        for dag_id, dag in dagbag.dags.items()
    }
    assert {dag: v for dag, v in violations.items() if v} == {}


def test_dag_files_import_no_heavy_modules_at_parse_time(tmp_path: Path) -> None:
    """scikit-learn, joblib and storage clients load inside tasks, not when the DAG processor parses."""
    dag_files = [path.relative_to(PROJECT) for folder in DAG_FOLDERS for path in sorted(folder.glob("*.py"))]
    assert dag_files
    problems = heavy_imports(dag_files, tmp_path)
    assert problems == [], "\n".join(problems)


# A module of the project that loads scikit-learn.
DATA_MODULE = "{{ cookiecutter.package_name }}.ml.data"
# What Airflow and deprecated imports print while a file is parsed: never part of the verdict.
NOISE = (
    "import sys\n"
    "print('2026-11-29T20:00:00.000000Z [warning] a deprecation warning  lineno=3')\n"
    "print('sklearn,joblib', file=sys.stderr)\n"
)


def test_each_heavy_import_is_named_by_file_line_and_module(tmp_path: Path) -> None:
    first, broken, second = (tmp_path / f"{name}_dag.py" for name in ("first", "broken", "second"))
    first.write_text(NOISE + f"from {DATA_MODULE} import load_splits\n")
    broken.write_text("raise RuntimeError('a typo')\n")
    second.write_text("import sklearn\n")
    advice = "move the import inside the task that uses it"
    assert heavy_imports([first, broken, second], tmp_path) == [
        f"{first}:4 imports sklearn, joblib at parse time (via {DATA_MODULE}): {advice}",
        f"{broken} could not be parsed: RuntimeError('a typo')",
        f"{second}:1 imports sklearn, joblib at parse time (via sklearn): {advice}",
    ]


def test_what_a_dag_file_prints_is_not_mistaken_for_a_heavy_import(tmp_path: Path) -> None:
    dag_file = tmp_path / "noisy_dag.py"
    dag_file.write_text(NOISE + f"def task() -> None:\n    from {DATA_MODULE} import load_splits\n")
    assert heavy_imports([dag_file], tmp_path) == []
