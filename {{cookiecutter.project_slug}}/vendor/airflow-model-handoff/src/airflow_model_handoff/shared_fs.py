"""``shared_fs``: artifacts in a directory that every Airflow worker mounts at the same path.

Writes go to a temporary file in the target directory, are fsynced and then
``os.replace``d into place, so a reader sees the whole artifact or nothing,
even if the writer is killed. Files get mode 0640, directories 0750, whatever
the umask. A save opens each directory of the key from the root down without
following a link, so a symlinked directory in the key path is refused, never
written through; a load refuses links, FIFOs and anything not a regular file.
A load copies the stored file into a private spool file while hashing it (one
pass) and deserialises that copy, never the shared file a second time: a write
to the stored file after its bytes were hashed cannot reach the deserialiser.
Retention lists and deletes only what matches the key grammar, through
directory descriptors that never follow a symlink.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import stat
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import BinaryIO

from .errors import (
    ArtifactNotFoundError,
    ForeignLocationError,
    HandoffError,
    MisconfiguredError,
    StorageFullError,
    TamperedArtifactError,
)
from .keys import is_component_segment, is_try_segment, parse_key
from .reference import ArtifactRef
from .settings import HandoffSettings
from .spool import configured_spool_dir, spool_file
from .store import ArtifactStore, Inventory, Skipped, StoredRun, copy_verified

TEMP_PREFIX = ".tmp-"
# Retention opens every directory with these: a symlink in its place makes the open fail instead of leading away.
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
DIR_MODE, FILE_MODE = 0o750, 0o640  # the workers' group reads everything, others nothing


class SharedFsStore(ArtifactStore):
    def __init__(self, root: str | os.PathLike[str], settings: HandoffSettings | None = None) -> None:
        super().__init__(settings)
        self.root = Path(root).resolve()

    @cached_property
    def spool_dir(self) -> Path:
        """The private directory of the copies that loads deserialise (``HANDOFF_SPOOL_DIR``), made on first use."""
        return configured_spool_dir()

    def uri_for(self, key: str) -> str:
        return self.root.as_uri() + "/" + key

    def path_for(self, key: str) -> Path:
        return self.root.joinpath(*key.split("/"))

    def preflight(self) -> None:
        """Also: the root exists and is writable, and the directory of the private copies that loads deserialise is
        private (made 0700 if missing; a link, or one another user can write to, is refused)."""
        super().preflight()
        self.check_root()
        self.spool_dir  # noqa: B018

    def create_root(self) -> None:
        """Make the root and its missing parents 0750, as the folders saves make under it (a local set-up: in a
        deployment the shared mount is there already)."""
        missing = [path for path in (self.root, *self.root.parents) if not path.exists()]
        for path in reversed(missing):
            path.mkdir(DIR_MODE)
            path.chmod(DIR_MODE)  # mkdir's mode is masked by the umask

    def check_root(self) -> None:
        if not self.root.is_dir():
            raise MisconfiguredError(
                f"handoff root {self.root} does not exist: create it (on a directory every worker mounts) "
                "or point HANDOFF_STORAGE (file:///path) at one"
            )
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise MisconfiguredError(f"handoff root {self.root} is not writable by this user (uid {os.getuid()})")

    @contextmanager
    def open_for_write(self, key: str) -> Iterator[BinaryIO]:
        self.check_root()
        *dirs, name = key.split("/")
        dir_fd = self._make_dirs(dirs)
        tmp_name = TEMP_PREFIX + secrets.token_hex(8)
        try:
            fd = os.open(tmp_name, _TEMP_FLAGS, 0o600, dir_fd=dir_fd)
            try:
                with os.fdopen(fd, "wb") as sink:
                    yield sink
                    sink.flush()
                    os.fsync(sink.fileno())
                    os.fchmod(sink.fileno(), FILE_MODE)
                os.replace(tmp_name, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except BaseException as exc:
                with suppress(FileNotFoundError):
                    os.unlink(tmp_name, dir_fd=dir_fd)
                if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise StorageFullError(
                        f"no space left under handoff root {self.root} ({shutil.disk_usage(self.root).free} bytes "
                        f"free after removing the partial file): nothing was stored at {self.path_for(key)}; "
                        "earlier artifacts are intact"
                    ) from None
                raise
            os.fsync(dir_fd)  # make the rename itself durable
        finally:
            os.close(dir_fd)

    def _make_dirs(self, dirs: Sequence[str]) -> int:
        """A descriptor of directory ``root/dirs``, creating what is missing; each level is opened relative to its
        parent without following a link, so a link anywhere on the way is refused, never written through."""
        fd = self._open_dir(None, str(self.root), self.root)
        try:
            for depth, name in enumerate(dirs):
                child = self._open_or_make_dir(fd, name, self.root.joinpath(*dirs[: depth + 1]))
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _open_or_make_dir(self, parent_fd: int, name: str, where: Path) -> int:
        """Open directory ``name`` in ``parent_fd``; if missing, create it with mode 0750 whatever the umask."""
        try:
            return self._open_dir(parent_fd, name, where)
        except FileNotFoundError:
            pass
        try:
            os.mkdir(name, DIR_MODE, dir_fd=parent_fd)
        except FileExistsError:  # another save made it meanwhile: its maker set the mode
            return self._open_dir(parent_fd, name, where)
        fd = self._open_dir(parent_fd, name, where)
        os.fchmod(fd, DIR_MODE)  # mkdir's mode is masked by the umask: 077 would shut the workers' group out
        return fd

    def _open_dir(self, parent_fd: int | None, name: str, where: Path) -> int:
        """Open directory ``name`` in ``parent_fd`` (None: ``name`` is absolute) without following a link."""
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise TamperedArtifactError(
                    f"{where} is a symbolic link or a file where the key needs a directory: refusing to save through "
                    f"it, as it may lead outside the handoff root {self.root}"
                ) from None
            raise

    @contextmanager
    def open_verified(self, key: str, ref: ArtifactRef) -> Iterator[BinaryIO]:
        path = self.path_for(key)
        if not path.resolve().is_relative_to(self.root):
            raise ForeignLocationError(f"artifact path {path} leads outside the handoff root {self.root}: refusing it")
        try:
            # O_NOFOLLOW: a symlink planted at the key is refused, never followed out of the root.
            # O_NONBLOCK: opening a FIFO planted there would otherwise wait for a writer forever.
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            raise ArtifactNotFoundError(
                f"artifact not found at {path}: is the directory mounted on every worker? "
                f"Every Airflow worker must see the same root ({self.root}, HANDOFF_STORAGE)"
            ) from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise TamperedArtifactError(f"{path} is a symbolic link, never followed: refusing it") from None
            raise ArtifactNotFoundError(f"cannot open artifact at {path}: {exc.strerror}") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise TamperedArtifactError(
                    f"{path} is not a regular file (a FIFO, a device...): no artifact, refusing it"
                )
            if info.st_size != ref.size_bytes:  # refuse before copying anything
                raise TamperedArtifactError(
                    f"artifact at {path} is {info.st_size} bytes, its reference says {ref.size_bytes}: refusing it"
                )
            os.set_blocking(fd, True)
            stored = os.fdopen(fd, "rb", buffering=0)
        except BaseException:
            os.close(fd)
            raise
        with ExitStack() as spooled:
            with stored as source:
                _, spool = spooled.enter_context(spool_file(self.spool_dir, str(path)))
                # One pass over the stored file, each chunk hashed then copied to a file no other user can write:
                # the deserialiser reads that copy, so a write to the stored file after its bytes were hashed (it is
                # shared, and writable by whoever can write the storage) never reaches it.
                copy_verified(source, spool, ref, str(path))
            yield spool

    def inventory(self) -> Inventory:
        """Walk exactly the five levels of the key grammar through directory descriptors, never following a link."""
        try:
            root_fd = os.open(self.root, _DIR_FLAGS)
        except FileNotFoundError:
            return Inventory(())  # nothing was ever saved here
        except OSError as exc:
            raise MisconfiguredError(f"cannot open handoff root {self.root}: {exc.strerror}") from None
        files: dict[tuple[str, str], list[tuple[str, float]]] = {}
        skipped: list[Skipped] = []
        try:
            self._walk(root_fd, (), files, skipped)
        finally:
            os.close(root_fd)
        runs = tuple(
            StoredRun(dag, run, datetime.fromtimestamp(max(m for _, m in found), UTC), tuple(k for k, _ in found))
            for (dag, run), found in sorted(files.items())
        )
        return Inventory(runs, tuple(skipped))

    def _walk(
        self,
        dir_fd: int,
        segments: tuple[str, ...],
        files: dict[tuple[str, str], list[tuple[str, float]]],
        skipped: list[Skipped],
    ) -> None:
        """Collect ``(key, mtime)`` of every artifact below ``dir_fd``, which holds key segment ``len(segments)``."""
        try:
            with os.scandir(dir_fd) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError as exc:
            skipped.append(Skipped(self._where(*segments), f"cannot be listed: {exc.strerror}"))
            return
        for entry in entries:
            where = (*segments, entry.name)
            try:
                why = self._not_ours(entry, len(segments))
                if why is None and len(segments) == 4:
                    mtime = entry.stat(follow_symlinks=False).st_mtime
                    files.setdefault((segments[0], segments[1]), []).append(("/".join(where), mtime))
                elif why is None:
                    child_fd = os.open(entry.name, _DIR_FLAGS, dir_fd=dir_fd)
                    try:
                        self._walk(child_fd, where, files, skipped)
                    finally:
                        os.close(child_fd)
            except OSError as exc:  # removed or replaced while listing
                why = f"cannot be read: {exc.strerror}"
            if why is not None:
                skipped.append(Skipped(self._where(*where), why))

    def _not_ours(self, entry: os.DirEntry[str], level: int) -> str | None:
        """Why ``entry`` (key segment number ``level``, from 0) is not something this store made; None if it is."""
        if entry.is_symlink():
            return "a symbolic link: never followed"
        if entry.name.startswith(TEMP_PREFIX):
            return "a temporary file: a save in progress, or one killed mid-way"
        if level == 3:
            grammar = is_try_segment(entry.name)
        else:
            grammar = is_component_segment(entry.name, self.key_component_chars)
        if not grammar:
            return "a foreign name: not a key segment this store makes"
        if level < 4 and not entry.is_dir(follow_symlinks=False):
            return "not a directory, where keys have one"
        if level == 4 and not entry.is_file(follow_symlinks=False):
            return "not a regular file"
        return None

    def _where(self, *segments: str) -> str:
        return str(self.root.joinpath(*segments))

    def delete(self, keys: Sequence[str]) -> tuple[Skipped, ...]:
        """Unlink the keys' regular files, then the directories that this emptied (never the root).

        Every directory is opened relative to its parent's descriptor without following links, from the root
        down, so a symlink swapped in anywhere on the way cannot redirect a deletion out of the root.
        """
        by_dir: dict[tuple[str, ...], list[str]] = {}
        skipped: list[Skipped] = []
        for key in keys:
            if parse_key(key, self.key_component_chars) is None:
                skipped.append(Skipped(self._where(key), "not a key this store makes: left alone"))
                continue
            *dirs, name = key.split("/")
            by_dir.setdefault(tuple(dirs), []).append(name)
        failed: list[str] = []
        try:
            root_fd = os.open(self.root, _DIR_FLAGS)
        except OSError as exc:
            raise MisconfiguredError(f"cannot open handoff root {self.root}: {exc.strerror}") from None
        try:
            for dirs, names in by_dir.items():
                self._delete_in(root_fd, dirs, names, skipped, failed)
        finally:
            os.close(root_fd)
        if failed:
            raise HandoffError(f"could not delete {len(failed)} artifacts: {'; '.join(failed)}; they are still stored")
        return tuple(skipped)

    def _delete_in(
        self, root_fd: int, dirs: tuple[str, ...], names: list[str], skipped: list[Skipped], failed: list[str]
    ) -> None:
        """Delete ``names`` in directory ``dirs`` (4 segments below the root), then prune what that emptied."""
        with ExitStack() as opened:
            fds = [root_fd]
            for depth, name in enumerate(dirs):
                try:
                    fds.append(os.open(name, _DIR_FLAGS, dir_fd=fds[-1]))
                except FileNotFoundError:
                    return  # already gone
                except OSError as exc:
                    gone = exc.errno in (errno.ELOOP, errno.ENOTDIR)
                    why = "replaced by a link or a file since it was listed" if gone else exc.strerror
                    skipped.append(Skipped(self._where(*dirs[: depth + 1]), f"{why}: nothing under it deleted"))
                    return
                opened.callback(os.close, fds[-1])
            deleted = False
            for name in names:
                try:
                    if not stat.S_ISREG(os.stat(name, dir_fd=fds[-1], follow_symlinks=False).st_mode):
                        skipped.append(Skipped(self._where(*dirs, name), "no longer a regular file: left alone"))
                        continue
                    os.unlink(name, dir_fd=fds[-1])  # never follows a link: a swap now loses only the link itself
                    deleted = True
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    failed.append(f"{self._where(*dirs, name)} ({exc.strerror})")
            for depth in reversed(range(len(dirs)) if deleted else ()):
                try:
                    os.rmdir(dirs[depth], dir_fd=fds[depth])  # fails unless empty: only what this emptied goes
                except OSError:
                    break
