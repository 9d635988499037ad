"""shared_fs specifics: atomic files with restrictive permissions, clear errors about the root."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from airflow_model_handoff import (
    ArtifactNotFoundError,
    ForeignLocationError,
    MisconfiguredError,
    RunScope,
    StorageFullError,
    TamperedArtifactError,
    default_store,
)
from airflow_model_handoff.shared_fs import SharedFsStore

from handoff_tests.forgery import resigned
from handoff_tests.stores import Backdoor

SCOPE = RunScope("dag", "run", "task", 1)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_artifacts_have_no_world_access_and_no_temp_files_remain(handoff_root: Path) -> None:
    ref = default_store().save({"a": 1}, fmt="json", scope=SCOPE)
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
        default_store().save({"a": 1}, fmt="json", scope=SCOPE)


def test_missing_artifact_says_every_worker_must_mount_the_root(tmp_path: Path) -> None:
    ref = default_store().save({"a": 1}, fmt="json", scope=SCOPE)
    other_worker = tmp_path / "other-worker-root"
    other_worker.mkdir()
    moved = resigned({**ref, "uri": ref["uri"].replace(default_store().root.as_uri(), other_worker.as_uri())})
    with pytest.raises(ArtifactNotFoundError, match="mounted on every worker"):
        SharedFsStore(other_worker).load(moved)


@pytest.mark.parametrize(
    ("copy_where", "error", "refusal"),
    [
        ("outside the root", ForeignLocationError, "leads outside the handoff root"),
        ("inside the root", TamperedArtifactError, "is a symbolic link, never followed"),
    ],
)
def test_a_symlink_planted_at_the_key_is_not_followed(
    handoff_root: Path, tmp_path: Path, backdoor: Backdoor, copy_where: str, error: type, refusal: str
) -> None:
    """The link leads to exactly the bytes the store wrote (same size, same SHA-256): only the refusal to follow a
    link stops it. Outside the root the path check and O_NOFOLLOW each refuse it; inside, O_NOFOLLOW alone."""
    ref = default_store().save({"a": 1}, fmt="json", scope=SCOPE)
    path = backdoor.path(ref)
    copy = (tmp_path if copy_where == "outside the root" else handoff_root) / "copy"
    copy.write_bytes(backdoor.read(ref))
    path.unlink()
    path.symlink_to(copy)
    with pytest.raises(error, match=refusal):
        default_store().load(ref)


def test_a_fifo_planted_at_the_key_is_refused_at_once(backdoor: Backdoor) -> None:
    """Opening a FIFO for reading waits for a writer: a load must refuse it, not hang the task forever."""
    store = default_store()
    ref = store.save({"a": 1}, fmt="json", scope=SCOPE)
    path = backdoor.path(ref)
    path.unlink()
    os.mkfifo(path)
    with ThreadPoolExecutor(max_workers=1) as pool:
        loading = pool.submit(store.load, ref)
        try:
            error = loading.exception(timeout=10)
        except TimeoutError:
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))  # a writer frees the stuck open, so the pool can end
            pytest.fail("the load waited on the FIFO for a writer")
    assert isinstance(error, TamperedArtifactError) and "not a regular file" in str(error)


@pytest.mark.parametrize("umask", [0o077, 0o022])
def test_modes_are_0750_and_0640_whatever_the_umask(handoff_root: Path, backdoor: Backdoor, umask: int) -> None:
    """Another worker user in the group must read what this one saved; a directory that existed keeps its mode."""
    (handoff_root / "dag").mkdir()
    (handoff_root / "dag").chmod(0o770)  # chosen by whoever made it: not the store's to change
    previous = os.umask(umask)
    try:
        ref = default_store().save({"a": 1}, fmt="json", scope=SCOPE)
    finally:
        os.umask(previous)
    made_by_the_save = ["dag/run", "dag/run/task", "dag/run/task/1"]
    assert {name: mode(handoff_root / name) for name in made_by_the_save} == dict.fromkeys(made_by_the_save, 0o750)
    assert mode(backdoor.path(ref)) == 0o640
    assert mode(handoff_root / "dag") == 0o770


@pytest.mark.parametrize("linked", ["dag", "dag/run", "dag/run/task/1"])
def test_a_save_through_a_symlinked_directory_is_refused(handoff_root: Path, tmp_path: Path, linked: str) -> None:
    """A directory of the key replaced by a link to elsewhere: the save refuses it and writes nothing there."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = handoff_root / linked
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(TamperedArtifactError, match=re.escape(f"{link} is a symbolic link")):
        default_store().save({"a": 1}, fmt="json", scope=SCOPE)
    assert list(elsewhere.iterdir()) == []


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
