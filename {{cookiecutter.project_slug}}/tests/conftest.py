"""Test set-up: a private Airflow home with its own SQLite metadata DB, and the storage backend's fixtures."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
{%- if cookiecutter.storage_backend == "s3" %}
from collections.abc import Iterator
{%- endif %}
from pathlib import Path

import pytest
from airflow_model_handoff.signing import (
    SIGNING_KEY_VARIABLE,
    new_signing_key,
)

PROJECT = Path(__file__).resolve().parents[1]
{%- if cookiecutter.storage_backend == "s3" %}
BUCKET = "{{ cookiecutter.s3_bucket }}"  # the project's (HANDOFF_STORAGE in the Makefile)
{%- endif %}


def pytest_configure(config: pytest.Config) -> None:
    """Point Airflow at a throw-away home before anything imports it, and create its metadata DB.

    A signing key is made for the session when none is set, as `make setup` does for the project.
    """
    home = Path(tempfile.mkdtemp(prefix="airflow-test-home-"))
    os.environ.setdefault(SIGNING_KEY_VARIABLE, new_signing_key())
    os.environ.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(PROJECT / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
    )
    # The project's store, as the Makefile sets it, when pytest runs without make (tests may point it elsewhere).
{%- if cookiecutter.storage_backend == "shared_fs" %}
    os.environ.setdefault("HANDOFF_STORAGE", (PROJECT / ".data" / "models").as_uri())
{%- elif cookiecutter.storage_backend == "s3" %}
    os.environ.setdefault("HANDOFF_STORAGE", f"s3://{BUCKET}/handoff")
{%- else %}
    os.environ.setdefault("HANDOFF_STORAGE", "variables://handoff")
{%- endif %}
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True)
{%- if cookiecutter.storage_backend == "shared_fs" %}


@pytest.fixture(autouse=True)
def handoff_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty storage root."""
    root = tmp_path / "models"
    root.mkdir()
    monkeypatch.setenv("HANDOFF_STORAGE", root.as_uri())
    return root
{%- elif cookiecutter.storage_backend == "s3" %}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 server over HTTP (moto's server, in its own process) for the whole session."""
    from airflow_model_handoff.local.s3 import connection_json, local_s3_server

    with local_s3_server(BUCKET) as endpoint:
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = connection_json(endpoint)
        yield endpoint


@pytest.fixture(autouse=True)
def s3_prefix(s3_endpoint: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test writes under its own prefix of the bucket."""
    prefix = f"test/{request.node.name}"
    monkeypatch.setenv("HANDOFF_STORAGE", f"s3://{BUCKET}/{prefix}")
    return prefix
{%- endif %}
