"""Every DAG file imports cleanly, fast, and follows the project's DAG policy (dag_policy.py)."""

from __future__ import annotations

import pytest
from airflow.dag_processing.dagbag import DagBag

from tests.conftest import PROJECT

from .dag_policy import policy_violations


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(PROJECT / "dags"))


def test_no_import_errors(dagbag: DagBag) -> None:
    assert dagbag.import_errors == {}
    assert "train_and_score" in dagbag.dags


def test_every_dag_follows_the_policy(dagbag: DagBag) -> None:
    violations = {dag_id: policy_violations(dag) for dag_id, dag in dagbag.dags.items()}
    assert {dag_id: v for dag_id, v in violations.items() if v} == {}


def test_dag_files_import_no_heavy_modules_at_parse_time() -> None:
    """scikit-learn, joblib and storage clients load inside tasks, not when the DAG processor parses."""
    import subprocess
    import sys

    code = (
        "import sys, runpy, pathlib\n"
        f"for f in sorted(pathlib.Path({str(PROJECT / 'dags')!r}).glob('*.py')): runpy.run_path(str(f))\n"
        "print(','.join(m for m in ('sklearn', 'joblib', 'skops'{% if cookiecutter.storage_backend == "s3" %}, 'boto3'{% endif %}) if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
