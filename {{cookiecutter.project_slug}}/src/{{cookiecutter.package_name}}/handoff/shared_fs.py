"""``shared_fs``: artifacts in a directory that every Airflow worker mounts at the same path.

Writes go to a temporary file in the target directory, are fsynced and then
``os.replace``d into place, so a reader sees the whole artifact or nothing,
even if the writer is killed. Files get mode 0640, directories 0750.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from .errors import ArtifactNotFoundError, IntegrityError, MisconfiguredError, StorageFullError
from .reference import ArtifactRef
from .settings import HandoffSettings
from .store import ArtifactStore, StoredRun, verify

DEFAULT_ROOT = Path(__file__).resolve().parents[3] / ".data" / "models"
TEMP_PREFIX = ".tmp-"


class SharedFsStore(ArtifactStore):
    def __init__(self, root: str | os.PathLike[str] | None = None, settings: HandoffSettings | None = None) -> None:
        super().__init__(settings)
        self.root = Path(root or os.environ.get("HANDOFF_ROOT") or DEFAULT_ROOT).resolve()

    def uri_for(self, key: str) -> str:
        return self.root.as_uri() + "/" + key

    def path_for(self, key: str) -> Path:
        return self.root.joinpath(*key.split("/"))

    def check_root(self) -> None:
        if not self.root.is_dir():
            raise MisconfiguredError(
                f"handoff root {self.root} does not exist: create it (on a directory every worker mounts) "
                "or point HANDOFF_ROOT at one"
            )
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise MisconfiguredError(f"handoff root {self.root} is not writable by this user (uid {os.getuid()})")

    @contextmanager
    def open_for_write(self, key: str) -> Iterator[BinaryIO]:
        self.check_root()
        final = self.path_for(key)
        final.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=final.parent)  # mode 0600
        try:
            with os.fdopen(fd, "wb") as sink:
                yield sink
                sink.flush()
                os.fsync(sink.fileno())
            Path(tmp_name).chmod(0o640)
            Path(tmp_name).replace(final)
        except BaseException as exc:
            Path(tmp_name).unlink(missing_ok=True)
            if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFullError(
                    f"no space left under handoff root {self.root} ({shutil.disk_usage(self.root).free} bytes free "
                    f"after removing the partial file): nothing was stored at {final}; earlier artifacts are intact"
                ) from None
            raise
        dir_fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # make the rename itself durable
        finally:
            os.close(dir_fd)

    @contextmanager
    def open_verified(self, key: str, ref: ArtifactRef) -> Iterator[BinaryIO]:
        path = self.path_for(key)
        if not path.resolve().is_relative_to(self.root):
            raise IntegrityError(f"artifact path {path} leads outside the handoff root {self.root}: refusing it")
        try:
            # O_NOFOLLOW: a symlink planted at the key is refused, never followed out of the root.
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise ArtifactNotFoundError(
                f"artifact not found at {path}: is the directory mounted on every worker? "
                f"Every Airflow worker must see the same HANDOFF_ROOT ({self.root})"
            ) from None
        except OSError as exc:
            raise ArtifactNotFoundError(f"cannot open artifact at {path}: {exc.strerror}") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise IntegrityError(f"{path} is not a regular file, so it is no artifact of this store: refusing it")
        with os.fdopen(fd, "rb") as source:
            # Hash and deserialise through the same open file: a later swap of the path cannot slip in.
            verify(source, ref, str(path))
            yield source

    def list_runs(self) -> Iterator[StoredRun]:
        if not self.root.is_dir():
            return
        for dag_dir in sorted(p for p in self.root.iterdir() if p.is_dir()):
            for run_dir in sorted(p for p in dag_dir.iterdir() if p.is_dir()):
                files = [p for p in run_dir.rglob("*") if p.is_file()]
                if not files:
                    continue
                newest = max(p.stat().st_mtime for p in files)
                keys = tuple(p.relative_to(self.root).as_posix() for p in files)
                yield StoredRun(dag_dir.name, run_dir.name, datetime.fromtimestamp(newest, UTC), keys)

    def delete(self, keys: tuple[str, ...]) -> None:
        for key in keys:
            path = self.path_for(key)
            path.unlink(missing_ok=True)
            for parent in path.parents:  # prune now-empty directories up to the root
                if parent == self.root or any(parent.iterdir()):
                    break
                parent.rmdir()
