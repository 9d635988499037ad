"""Spool files: this process's private copy of an artifact on its way to or from storage.

A load never deserialises from shared storage: it copies the stored bytes into a spool file while hashing them
(or downloads them into one, then hashes it), checks them against the reference, and hands the deserialiser that
copy. No other user can write it, so the bytes deserialised are the bytes verified, whatever is written to the
storage meanwhile. An upload serialises into a spool file while hashing, then sends it.

Spool files live in one private directory (``HANDOFF_SPOOL_DIR``; ``HANDOFF_S3_SPOOL_DIR`` is its older name,
still read, with a warning): made 0700 if missing; a symlink, another user's directory or one others can write
to is refused. Each file is named after its process, locked while open and removed when done; a killed process
cannot remove its own, so the next spool made in the directory removes those whose process is gone.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from .errors import MisconfiguredError, StorageFullError

log = logging.getLogger(__name__)

SPOOL_DIR_SETTING = "HANDOFF_SPOOL_DIR"
DEPRECATED_SPOOL_DIR_SETTING = "HANDOFF_S3_SPOOL_DIR"  # its name before every backend spooled
SPOOL_SUFFIX = ".spool"
# A spool whose process is gone is removed once it is this old: a file is locked a moment after it is created.
STALE_SPOOL_SECONDS = 10

_warned: set[str] = set()  # deprecation warnings already logged by this process


def configured_spool_dir() -> Path:
    """``HANDOFF_SPOOL_DIR`` (or its deprecated name) or the default, checked private (``private_directory``)."""
    deprecated = deprecated_spool_dir()
    configured = os.environ.get(SPOOL_DIR_SETTING) or deprecated
    return private_directory(Path(configured) if configured else default_spool_dir())


def deprecated_spool_dir() -> str | None:
    """The directory the deprecated ``HANDOFF_S3_SPOOL_DIR`` names (used only while ``HANDOFF_SPOOL_DIR`` is not
    set); a warning, once per process, when it is set."""
    old = os.environ.get(DEPRECATED_SPOOL_DIR_SETTING)
    if old and DEPRECATED_SPOOL_DIR_SETTING not in _warned:
        _warned.add(DEPRECATED_SPOOL_DIR_SETTING)
        log.warning(
            "%s is deprecated: set %s instead (the spool directory of every backend); the old name is read only "
            "while the new one is not set",
            DEPRECATED_SPOOL_DIR_SETTING,
            SPOOL_DIR_SETTING,
        )
    return old or None


def default_spool_dir() -> Path:
    """One directory per user under the system's temp directory: users of one machine never share it."""
    return Path(tempfile.gettempdir()) / f"handoff-spool-{os.getuid()}"


def private_directory(path: Path) -> Path:
    """``path``, created 0700 if missing; an existing one must be a real directory of this user that no one else
    can write to, or other users could read or replace artifacts on their way to and from storage."""
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700, parents=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode):
        problem = "a symlink" if stat.S_ISLNK(info.st_mode) else "not a directory"
    elif info.st_uid != os.getuid():
        problem = f"owned by user id {info.st_uid}, not by this user ({os.getuid()})"
    elif info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        problem = f"writable by other users (mode {stat.filemode(info.st_mode)})"
    else:
        return path
    raise MisconfiguredError(
        f"spool directory {path} is {problem}: refusing to spool artifacts there; remove it, or set "
        f"{SPOOL_DIR_SETTING} to a directory of your own with mode 0700"
    )


@contextmanager
def spool_file(directory: Path, where: str) -> Iterator[tuple[Path, IO[bytes]]]:
    """A new spool file in ``directory`` (mode 0600), named after this process and locked while open; always
    removed. Stale spools of processes that are gone are removed first. A full disk is a ``StorageFullError``.
    """
    remove_stale_spools(directory)
    fd, name = tempfile.mkstemp(prefix=f"{os.getpid()}-", suffix=SPOOL_SUFFIX, dir=directory)
    path = Path(name)
    try:
        with open(fd, "w+b") as file:
            fcntl.flock(file, fcntl.LOCK_EX)
            try:
                yield path, file
            finally:
                path.unlink(missing_ok=True)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise StorageFullError(
            f"no space left in the spool directory {directory} ({shutil.disk_usage(directory).free} bytes free after "
            f"removing the partial file) for {where}: nothing was saved or loaded; free space there or set "
            f"{SPOOL_DIR_SETTING} to a larger disk"
        ) from None


def remove_stale_spools(directory: Path) -> None:
    """Remove the spool files of processes that no longer exist: a killed process leaves its spool behind.

    A spool is kept while its process (the pid in its name) exists, while any process holds its lock (a process
    in another PID namespace sharing the directory), and for ``STALE_SPOOL_SECONDS`` after it was written.
    """
    for path in directory.glob(f"*{SPOOL_SUFFIX}"):
        pid = path.name.split("-", 1)[0]
        if not pid.isdigit() or process_exists(int(pid)):
            continue
        with contextlib.suppress(FileNotFoundError), open(path, "rb") as file:  # gone: another process removed it
            if time.time() - os.fstat(file.fileno()).st_mtime < STALE_SPOOL_SECONDS:
                continue
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            path.unlink()
            log.info("removed %s, the spool file of process %s, which no longer exists", path, pid)


def process_exists(pid: int) -> bool:
    """Whether a process with this id exists (perhaps another user's); signal 0 checks without sending anything."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, and belongs to another user
        pass
    return True
