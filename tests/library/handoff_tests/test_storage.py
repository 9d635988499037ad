"""One URL picks the store when the code runs (HANDOFF_STORAGE); the settings that named a store before it still
work, with a warning, and never silently disagree with it."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from airflow_model_handoff import MisconfiguredError, default_store
from airflow_model_handoff.s3 import S3Store
from airflow_model_handoff.shared_fs import SharedFsStore
from airflow_model_handoff.storage import DEPRECATED, StorageLocation, configured_location, parse_storage_url
from airflow_model_handoff.variables import VariablesStore


@pytest.fixture(autouse=True)
def no_storage_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sets exactly the storage settings it is about."""
    for name in ("HANDOFF_STORAGE", "HANDOFF_STORAGE_CONN_ID", *DEPRECATED):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("airflow_model_handoff.storage._warned", set())


@pytest.mark.parametrize(
    ("url", "location"),
    [
        ("file:///srv/handoff", StorageLocation("file", path="/srv/handoff")),
        ("file://localhost/srv/my%20models", StorageLocation("file", path="/srv/my models")),
        ("s3://models/handoff", StorageLocation("s3", container="models", path="handoff")),
        ("s3://models/team/handoff/", StorageLocation("s3", container="models", path="team/handoff")),
        ("s3://minio_conn@models/handoff", StorageLocation("s3", "models", "handoff", conn_id="minio_conn")),
        ("S3://models", StorageLocation("s3", container="models")),
        ("variables://", StorageLocation("variables")),
        ("variables://team/handoff", StorageLocation("variables", path="team/handoff")),
    ],
)
def test_a_url_names_a_location(url: str, location: StorageLocation) -> None:
    assert parse_storage_url(url) == location


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/srv/handoff", "is not a storage URL this library knows"),
        ("gopher://models/handoff", "is not a storage URL this library knows"),
        ("s3:models/handoff", "is not a storage URL this library knows"),
        ("file://srv/handoff", "names an absolute local path"),
        ("file:relative", "is not a storage URL this library knows"),
        ("s3:///handoff", "names no bucket"),
        ("s3://models/handoff?region=eu", "takes no query or fragment"),
    ],
)
def test_anything_else_is_refused_with_the_forms_that_work(url: str, message: str) -> None:
    with pytest.raises(MisconfiguredError, match=message) as refused:
        parse_storage_url(url)
    assert "HANDOFF_STORAGE" in str(refused.value)


def test_without_a_url_nothing_is_guessed() -> None:
    with pytest.raises(MisconfiguredError, match=r"HANDOFF_STORAGE is not set: .*file:///srv/handoff"):
        configured_location()


@pytest.mark.parametrize(
    ("url", "store_type"),
    [("file:///srv/handoff", SharedFsStore), ("s3://models/handoff", S3Store), ("variables://", VariablesStore)],
)
def test_the_scheme_picks_the_backend(url: str, store_type: type, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOFF_STORAGE", url)
    assert type(default_store()) is store_type


def test_the_connection_comes_from_the_url_then_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOFF_STORAGE", "s3://models/handoff")
    assert default_store().conn_id == "aws_default"
    monkeypatch.setenv("HANDOFF_STORAGE_CONN_ID", "from_setting")
    assert default_store().conn_id == "from_setting"
    monkeypatch.setenv("HANDOFF_STORAGE", "s3://from_url@models/handoff")
    assert default_store().conn_id == "from_url"


def test_the_old_settings_still_name_a_store_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HANDOFF_ROOT", "models")  # relative to the working directory, as it always was
    with caplog.at_level(logging.WARNING, logger="airflow_model_handoff.storage"):
        store = default_store()
    assert isinstance(store, SharedFsStore) and store.root == tmp_path / "models"
    assert "HANDOFF_ROOT is deprecated: set HANDOFF_STORAGE instead" in caplog.text

    monkeypatch.delenv("HANDOFF_ROOT")
    monkeypatch.setenv("HANDOFF_S3_BUCKET", "old-bucket")
    monkeypatch.setenv("HANDOFF_AWS_CONN_ID", "old_conn")
    store = default_store()
    assert (store.bucket, store.prefix, store.conn_id) == ("old-bucket", "handoff", "old_conn")

    monkeypatch.delenv("HANDOFF_S3_BUCKET")
    monkeypatch.delenv("HANDOFF_AWS_CONN_ID")
    monkeypatch.setenv("HANDOFF_VARIABLES_PREFIX", "old/prefix")
    store = default_store()
    assert isinstance(store, VariablesStore) and store.prefix == "old/prefix"


def test_old_settings_that_agree_with_the_url_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    """An old .env beside a new default URL: a deployment that did not move must keep working."""
    monkeypatch.setenv("HANDOFF_STORAGE", "s3://models/handoff")
    monkeypatch.setenv("HANDOFF_S3_BUCKET", "models")
    monkeypatch.setenv("HANDOFF_S3_PREFIX", "/handoff/")
    monkeypatch.setenv("HANDOFF_AWS_CONN_ID", "aws_default")
    assert configured_location() == StorageLocation("s3", "models", "handoff", conn_id="aws_default")


@pytest.mark.parametrize(
    ("old", "value"),
    [
        ("HANDOFF_S3_BUCKET", "other-bucket"),
        ("HANDOFF_S3_PREFIX", "other"),
        ("HANDOFF_ROOT", "/srv/handoff"),
        ("HANDOFF_VARIABLES_PREFIX", "handoff"),
    ],
)
def test_old_settings_that_name_another_store_are_an_error(
    old: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Which one the user meant cannot be guessed: no store rather than the wrong one."""
    monkeypatch.setenv("HANDOFF_STORAGE", "s3://models/handoff")
    monkeypatch.setenv(old, value)
    with pytest.raises(MisconfiguredError, match=f"and the deprecated {old}={value!r} name different stores"):
        default_store()


def test_an_old_connection_that_names_another_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOFF_STORAGE", "s3://new_conn@models/handoff")
    monkeypatch.setenv("HANDOFF_AWS_CONN_ID", "old_conn")
    with pytest.raises(MisconfiguredError, match="'new_conn' of HANDOFF_STORAGE and the deprecated HANDOFF_AWS_CONN"):
        default_store()


def test_old_settings_that_name_two_kinds_of_store_are_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOFF_ROOT", "/srv/handoff")
    monkeypatch.setenv("HANDOFF_S3_BUCKET", "models")
    with pytest.raises(MisconfiguredError, match="name different stores: set only HANDOFF_STORAGE"):
        default_store()


def test_an_old_prefix_without_its_bucket_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOFF_S3_PREFIX", "handoff")
    with pytest.raises(MisconfiguredError, match="HANDOFF_S3_PREFIX is set but HANDOFF_S3_BUCKET is not"):
        default_store()


def test_the_check_command_names_a_bad_setting_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOFF_STORAGE", "s3://models/handoff?region=eu")
    done = subprocess.run([sys.executable, "-m", "airflow_model_handoff", "check"], capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "error: HANDOFF_STORAGE='s3://models/handoff?region=eu': a storage URL takes no query or fragment ('?', '#')"
    ]


def test_the_check_command_makes_a_file_stores_folder_private_to_its_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "made" / "models"
    monkeypatch.setenv("HANDOFF_STORAGE", root.as_uri())
    command = [sys.executable, "-m", "airflow_model_handoff", "check", "--create-root"]
    done = subprocess.run(command, capture_output=True, text=True, umask=0o000)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"handoff settings ok: {root.as_uri()}\n"
    assert [oct(path.stat().st_mode & 0o777) for path in (root.parent, root)] == ["0o750", "0o750"]
