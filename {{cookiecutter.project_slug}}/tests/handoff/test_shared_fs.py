"""shared_fs specifics: atomic files with restrictive permissions, clear errors about the root."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.handoff import (
    ArtifactNotFoundError,
    IntegrityError,
    MisconfiguredError,
    RunScope,
    StorageFullError,
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


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs as the root needs root")
def test_a_full_disk_is_reported_and_nothing_stored_is_lost(tmp_path: Path) -> None:
    import numpy as np

    root = tmp_path / "small-disk"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(root)], check=True)
    try:
        store = SharedFsStore(root)
        earlier = store.save({"weights": [1, 2, 3]}, fmt="json", scope=RunScope("dag", "earlier", "task"))
        too_big = np.random.default_rng(0).random(1_000_000)  # 8 MB on a 2 MB disk
        with pytest.raises(StorageFullError, match=f"no space left under handoff root {root} \\(\\d+ bytes free"):
            store.save(too_big, scope=RunScope("dag", "later", "task"))
        leftovers = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
        assert leftovers == [earlier["uri"].removeprefix(root.as_uri() + "/")], "no partial or temporary file"
        assert store.load(earlier) == {"weights": [1, 2, 3]}
    finally:
        subprocess.run(["umount", str(root)], check=True)
