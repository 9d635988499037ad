"""The spool: the private copy a load deserialises, its directory setting (and its deprecated name), and the copy
made while hashing, which never takes more than the reference's size from storage."""

from __future__ import annotations

import io
import logging
import stat
from hashlib import sha256
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow_model_handoff import (
    MisconfiguredError,
    RunScope,
    TamperedArtifactError,
    default_store,
    load_model,
    save_model,
    spool,
)
from airflow_model_handoff.storage import check_handoff_settings
from airflow_model_handoff.store import CHUNK_BYTES, copy_verified

SCOPE = RunScope("dag", "run", "task", 1)


@pytest.fixture
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a new process: no deprecation warning logged yet."""
    monkeypatch.setattr(spool, "_warned", set())


def test_the_spool_directory_setting_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOFF_SPOOL_DIR", str(tmp_path / "spool"))
    store = default_store()
    assert load_model(save_model({"a": 1}, fmt="json", scope=SCOPE)) == {"a": 1}
    assert store.spool_dir == tmp_path / "spool"
    assert stat.S_IMODE(store.spool_dir.stat().st_mode) == 0o700
    assert list(store.spool_dir.iterdir()) == []


@pytest.mark.usefixtures("fresh_warnings")
def test_the_deprecated_name_still_works_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("HANDOFF_SPOOL_DIR", raising=False)
    monkeypatch.setenv("HANDOFF_S3_SPOOL_DIR", str(tmp_path / "old"))
    with caplog.at_level(logging.WARNING, logger=spool.__name__):
        assert default_store().spool_dir == tmp_path / "old"
        assert default_store().spool_dir == tmp_path / "old"
    warnings = [r.getMessage() for r in caplog.records if r.name == spool.__name__]
    assert warnings == [
        "HANDOFF_S3_SPOOL_DIR is deprecated: set HANDOFF_SPOOL_DIR instead (the spool directory of every backend); "
        "the old name is read only while the new one is not set"
    ], "one warning per process"


@pytest.mark.usefixtures("fresh_warnings")
def test_the_new_name_wins_over_the_deprecated_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("HANDOFF_SPOOL_DIR", str(tmp_path / "new"))
    monkeypatch.setenv("HANDOFF_S3_SPOOL_DIR", str(tmp_path / "old"))
    with caplog.at_level(logging.WARNING, logger=spool.__name__):
        assert default_store().spool_dir == tmp_path / "new"
    assert "HANDOFF_S3_SPOOL_DIR is deprecated" in caplog.text
    assert not (tmp_path / "old").exists()


def test_the_settings_check_refuses_a_spool_directory_others_can_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("HANDOFF_SPOOL_DIR", str(shared))
    with pytest.raises(MisconfiguredError, match=f"spool directory {shared} is writable by other users"):
        check_handoff_settings()
    monkeypatch.setenv("HANDOFF_SPOOL_DIR", str(tmp_path / "private"))
    check_handoff_settings()
    assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o700


def test_a_size_that_does_not_match_is_refused_before_anything_is_spooled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backdoor: Any
) -> None:
    monkeypatch.setenv("HANDOFF_SPOOL_DIR", str(tmp_path / "spool"))
    ref = save_model({"a": 1}, fmt="json", scope=SCOPE)
    backdoor.write(ref, backdoor.read(ref) + b" " * 10_000_000)
    made = []
    monkeypatch.setattr(spool.tempfile, "mkstemp", lambda *a, **k: made.append(a) or pytest.fail("spooled"))
    with pytest.raises(TamperedArtifactError, match=f"is {ref['size_bytes'] + 10_000_000} bytes, its reference says"):
        load_model(ref)
    assert made == []


@pytest.mark.parametrize("extra", [1, CHUNK_BYTES * 3])
def test_the_copy_takes_at_most_one_byte_more_than_the_reference_says(extra: int) -> None:
    """A stored file that grows while it is copied: the copy stops one byte past the size, and is refused."""
    genuine = b"model bytes " * 100_000
    ref = SimpleNamespace(size_bytes=len(genuine), sha256=sha256(genuine).hexdigest())
    copy = io.BytesIO()
    with pytest.raises(TamperedArtifactError, match=f"size {len(genuine) + 1} vs {len(genuine)}"):
        copy_verified(io.BytesIO(genuine + b"x" * extra), copy, ref, "the test")  # type: ignore[arg-type]
    assert len(copy.getvalue()) == len(genuine) + 1
    copy = io.BytesIO()
    copy_verified(io.BytesIO(genuine), copy, ref, "the test")  # type: ignore[arg-type]
    assert copy.read() == genuine, "rewound, holding exactly the bytes hashed"
