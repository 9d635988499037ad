"""Set-up of the library's suite: a private Airflow home with its own SQLite metadata DB, a signing key, and every
test its own empty store inside the one HANDOFF_STORAGE names (a folder, a prefix of a bucket on a local S3 server;
Variables are per run already)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

if not os.environ.get("HANDOFF_STORAGE"):
    raise pytest.UsageError(
        "the library's suite tests the store HANDOFF_STORAGE names: run it in a generated project with it set "
        "(tests/test_library.py of the template shows how)"
    )

from airflow_model_handoff.signing import SIGNING_KEY_VARIABLE, new_signing_key

from handoff_tests.project import PROJECT
from handoff_tests.stores import BACKDOORS, BACKEND, BUCKET, Backdoor

# Tests of some backends only, left out of the others' runs (their modules import those backends' clients, which
# the other projects do not install).
ONLY_FOR = {
    "handoff_tests/test_shared_fs.py": {"shared_fs"},
    "handoff_tests/test_retention_shared_fs.py": {"shared_fs"},
    "handoff_tests/e2e/test_in_place_rewrites.py": {"shared_fs"},
    "handoff_tests/test_s3.py": {"s3"},
    "handoff_tests/test_retention_s3.py": {"s3"},
    "handoff_tests/s3_relay.py": {"s3"},
    "handoff_tests/e2e/test_s3_outage.py": {"s3"},
    "handoff_tests/test_variables.py": {"variables"},
    "handoff_tests/variables_checks_dag.py": {"variables"},
    # Variables are reached from inside a task only: the store and its retention are tested through DAG runs.
    "handoff_tests/test_retention.py": {"shared_fs", "s3"},
    "handoff_tests/test_store_contract.py": {"shared_fs", "s3"},
    # Variables are loaded into memory: no spool files.
    "handoff_tests/test_spool.py": {"shared_fs", "s3"},
}
collect_ignore = [path for path, backends in ONLY_FOR.items() if BACKEND not in backends]


def pytest_configure(config: pytest.Config) -> None:
    """Point Airflow at a throw-away home before anything imports it, and create its metadata DB. A signing key is
    made for the session when none is set; the stack's processes find the project (HANDOFF_TESTS_PROJECT)."""
    home = Path(tempfile.mkdtemp(prefix="handoff-tests-home-"))
    os.environ.setdefault(SIGNING_KEY_VARIABLE, new_signing_key())
    os.environ.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(PROJECT / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
        HANDOFF_TESTS_PROJECT=str(PROJECT),
    )
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True)


@pytest.fixture(autouse=True)
def handoff_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path | None:
    """file://: every test gets its own empty storage root."""
    if BACKEND != "shared_fs":
        return None
    root = tmp_path / "models"
    root.mkdir()
    monkeypatch.setenv("HANDOFF_STORAGE", root.as_uri())
    return root


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 server over HTTP (moto's server, in its own process) for the whole session."""
    from airflow_model_handoff.local.s3 import connection_json, local_s3_server

    with local_s3_server(BUCKET) as endpoint:
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = connection_json(endpoint)
        yield endpoint


@pytest.fixture(autouse=True)
def s3_prefix(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """s3://: every test writes under its own prefix of the bucket, on the session's local S3 server."""
    if BACKEND != "s3":
        return None
    request.getfixturevalue("s3_endpoint")
    prefix = f"test/{request.node.name}"
    monkeypatch.setenv("HANDOFF_STORAGE", f"s3://{BUCKET}/{prefix}")
    return prefix


@pytest.fixture
def backdoor() -> Backdoor:
    """Stored bytes, reached behind the library's back (file and s3 stores)."""
    if BACKEND not in BACKDOORS:
        pytest.skip(f"no backdoor into the {BACKEND} store: its artifacts are reached through Airflow only")
    return BACKDOORS[BACKEND]()
