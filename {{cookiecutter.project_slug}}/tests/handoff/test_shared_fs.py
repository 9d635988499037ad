"""shared_fs specifics: atomic files with restrictive permissions, clear errors about the root."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.handoff import (
    ArtifactNotFoundError,
    IntegrityError,
    MisconfiguredError,
    RunScope,
)
from {{ cookiecutter.package_name }}.handoff.shared_fs import SharedFsStore

SCOPE = RunScope("dag", "run", "task", 1)


def test_artifacts_have_no_world_access_and_no_temp_files_remain(handoff_root: Path) -> None:
    ref = SharedFsStore().save({"a": 1}, fmt="json", scope=SCOPE)
    path = Path(ref["uri"].removeprefix("file://"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.is_relative_to(handoff_root)
    assert [p.name for p in path.parent.iterdir()] == ["model"]


def test_missing_root_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MisconfiguredError, match="does not exist"):
        SharedFsStore(tmp_path / "nowhere").save({"a": 1}, fmt="json", scope=SCOPE)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to any directory")
def test_read_only_root_is_a_clear_error(handoff_root: Path) -> None:
    handoff_root.chmod(0o500)
    with pytest.raises(MisconfiguredError, match="not writable"):
        SharedFsStore().save({"a": 1}, fmt="json", scope=SCOPE)


def test_missing_artifact_says_every_worker_must_mount_the_root(tmp_path: Path) -> None:
    ref = SharedFsStore().save({"a": 1}, fmt="json", scope=SCOPE)
    other_worker = tmp_path / "other-worker-root"
    other_worker.mkdir()
    moved = {**ref, "uri": ref["uri"].replace(SharedFsStore().root.as_uri(), other_worker.as_uri())}
    with pytest.raises(ArtifactNotFoundError, match="mounted on every worker"):
        SharedFsStore(other_worker).load(moved)


def test_a_symlink_planted_at_the_key_is_not_followed(tmp_path: Path) -> None:
    ref = SharedFsStore().save({"a": 1}, fmt="json", scope=SCOPE)
    path = Path(ref["uri"].removeprefix("file://"))
    secret = tmp_path / "secret.json"
    secret.write_text('{"a": 1}')
    path.unlink()
    path.symlink_to(secret)
    with pytest.raises((ArtifactNotFoundError, IntegrityError)):
        SharedFsStore().load(ref)
