"""Storage keys: ``<dag_id>/<run_id>/<task_id>/<try>/<name>``, one per DAG run and task try.

Every component is percent-encoded so that any run id a user can choose
(``../x``, ``a/b``, spaces, unicode, very long) becomes a single safe path
segment, and two different values never share a key. ``parse_key`` is the one
grammar of keys: loading and retention accept exactly what ``artifact_key`` makes, or made before (below).

A component whose encoding is longer than ``max_chars`` is shortened to the start of the encoding, ``~`` and
the first 32 hex digits (128 bits) of the SHA-256 of the value: finding two values that share a segment takes
about 2^64 tries, out of reach. Keys written before this change kept 16 hex digits (64 bits: about 2^32 chosen
ids); that legacy form is still parsed, loaded and collected by retention (``legacy=True`` rebuilds it), but
never written. A shortened segment has exactly one of these two digest lengths, and its head the length
that goes with it: nothing in between is accepted.

The try segment is the task instance's try number, 1 and up, or ``TEST_TRY`` (0) for a task that
``airflow tasks test`` runs: Airflow counts no try for it and, in an existing DAG run, gives it the number of
the try that already ran, whose artifacts it must not overwrite.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_from_bytes, unquote_to_bytes

from .errors import MisconfiguredError

# Encoded components longer than this are shortened to a prefix plus a digest of the full value.
MAX_COMPONENT_CHARS = 120
# Hex digits of the SHA-256 of the value that a shortened segment keeps: 128 bits.
DIGEST_CHARS = 32
# What keys kept before (64 bits): still read, so artifacts stored then stay loadable and collectable; never written.
LEGACY_DIGEST_CHARS = 16
_ACCEPTED_DIGEST_CHARS = (DIGEST_CHARS, LEGACY_DIGEST_CHARS)
# What ``_encode_bytes`` outputs: unreserved characters and upper-case ``%XX`` escapes, nothing else.
_ENCODED_RE = re.compile(r"(?:[A-Za-z0-9_.-]|%[0-9A-F]{2})+")
_SHORTENED_RE = re.compile(r"(?P<head>[^~]+)~(?P<digest>[0-9a-f]+)")
_TRY_RE = re.compile(r"0|[1-9][0-9]*")
# The try number of every run of a task by ``airflow tasks test``, which sets AIRFLOW_TEST_MODE for the task.
TEST_TRY = 0


def _encode_bytes(data: bytes) -> str:
    """Percent-encode every byte but ``A-Za-z0-9_.-``: ``~`` is kept for the digest marker, a leading ``.`` escaped."""
    encoded = quote_from_bytes(data, safe="").replace("~", "%7E")
    return "%2E" + encoded[1:] if encoded.startswith(".") else encoded


def encode_component(value: str, max_chars: int = MAX_COMPONENT_CHARS, *, legacy: bool = False) -> str:
    """Encode ``value`` as one path segment that cannot be ``.``, ``..`` or contain ``/``.

    The mapping is injective: a value whose encoding is longer than ``max_chars``
    is shortened to a prefix, ``~`` and 128 bits of a SHA-256 digest of the original
    (``legacy``: the 64 bits keys kept before, to find what was stored then; never to write).
    """
    if not value:
        raise MisconfiguredError("a storage key component must not be empty")
    encoded = _encode_bytes(value.encode("utf-8"))
    if len(encoded) > max_chars:
        digest_chars = LEGACY_DIGEST_CHARS if legacy else DIGEST_CHARS
        digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:digest_chars]
        head = re.sub(r"%[0-9A-F]?$", "", encoded[: max_chars - digest_chars - 1])  # no cut-off escape
        encoded = head + "~" + digest
    return encoded


def decode_segment(segment: str) -> str | None:
    """The real value a segment encodes (a DAG id, run id, task id or name); None when it was shortened, as
    only a prefix and a digest of the value are left (``~`` marks them: the encoding escapes every other ``~``)."""
    if "~" in segment:
        return None
    return unquote_to_bytes(segment).decode("utf-8")


def is_component_segment(segment: str, max_chars: int = MAX_COMPONENT_CHARS) -> bool:
    """True only for a segment ``encode_component(value, max_chars)`` can return, for some value, with or
    without ``legacy``."""
    if (shortened := _SHORTENED_RE.fullmatch(segment)) is not None:
        head, digest_chars = shortened["head"], len(shortened["digest"])
        if digest_chars not in _ACCEPTED_DIGEST_CHARS:
            return False
        # The head is the start of an encoding, cut at ``cut`` characters minus a cut-off escape (0 to 2 chars).
        cut = max_chars - digest_chars - 1
        return cut - 2 <= len(head) <= cut and _is_canonical(head)
    if len(segment) > max_chars or not _is_canonical(segment):
        return False
    try:
        decode_segment(segment)
    except UnicodeDecodeError:  # encode_component only encodes text: its escapes are always valid UTF-8
        return False
    return True


def _is_canonical(encoded: str) -> bool:
    """True if ``encoded`` is exactly how ``_encode_bytes`` writes the bytes it stands for (no ``%41``, ``%2e``)."""
    return _ENCODED_RE.fullmatch(encoded) is not None and _encode_bytes(unquote_to_bytes(encoded)) == encoded


def is_try_segment(segment: str) -> bool:
    """True for a try number as keys write it: a decimal integer, no sign, no leading zero (0 is ``TEST_TRY``)."""
    return _TRY_RE.fullmatch(segment) is not None


@dataclass(frozen=True)
class RunScope:
    """Who is saving: the DAG run and task try an artifact belongs to."""

    dag_id: str
    run_id: str
    task_id: str
    try_number: int = 1
    map_index: int = -1

    @classmethod
    def from_context(cls, context: Any) -> RunScope:
        """Build the scope from an Airflow task context (``get_current_context()``); ``TEST_TRY`` under
        ``airflow tasks test``."""
        ti = context["ti"]
        try_number = TEST_TRY if os.environ.get("AIRFLOW_TEST_MODE", "").lower() == "true" else int(ti.try_number)
        return cls(ti.dag_id, ti.run_id, ti.task_id, try_number, int(getattr(ti, "map_index", -1)))

    @classmethod
    def current(cls) -> RunScope:
        """The scope of the running Airflow task; outside a task, say how to pass one."""
        try:
            from airflow.sdk import get_current_context

            return cls.from_context(get_current_context())
        except Exception as exc:  # Airflow raises different errors outside a task
            raise MisconfiguredError(
                "no Airflow task is running, so the run is unknown: pass scope=RunScope(dag_id, run_id, task_id)"
            ) from exc

    @classmethod
    def current_or_none(cls) -> RunScope | None:
        """The scope of the running Airflow task, or None outside a task.

        Never imports Airflow (a second or more, and memory): a task runs in Airflow's task runner, which has
        imported the Task SDK already, so a process without it runs no task.
        """
        if "airflow.sdk" not in sys.modules:
            return None
        try:
            return cls.current()
        except MisconfiguredError:
            return None

    @property
    def task_segment(self) -> str:
        """The task id, plus the map index for mapped tasks so their instances never collide."""
        return self.task_id if self.map_index < 0 else f"{self.task_id}[{self.map_index}]"

    def run_prefix(self, max_chars: int = MAX_COMPONENT_CHARS, *, legacy: bool = False) -> str:
        """``<dag>/<run>`` as keys encode them (``legacy``: as keys stored with 64-bit digests did)."""
        dag, run = (encode_component(part, max_chars, legacy=legacy) for part in (self.dag_id, self.run_id))
        return f"{dag}/{run}"


def artifact_key(scope: RunScope, name: str, max_chars: int = MAX_COMPONENT_CHARS) -> str:
    """The key of artifact ``name`` saved by ``scope``: unique per DAG run and task try."""
    prefix = key_prefix(scope.dag_id, scope.run_id, scope.task_segment, scope.try_number, max_chars)
    return prefix + encode_component(name, max_chars)


def key_prefix(
    dag_id: str,
    run_id: str,
    task_segment: str,
    try_number: int,
    max_chars: int = MAX_COMPONENT_CHARS,
    *,
    legacy: bool = False,
) -> str:
    """``<dag>/<run>/<task>/<try>/``: where one task try's artifacts are, and only they (``task_segment`` holds
    the map index of a mapped task). ``legacy``: where they were stored when keys kept 64-bit digests."""
    if try_number < 0:
        raise MisconfiguredError(f"try_number must be >= 0, got {try_number}")
    parts = (dag_id, run_id, task_segment)
    return "/".join(encode_component(part, max_chars, legacy=legacy) for part in parts) + f"/{try_number}/"


@dataclass(frozen=True)
class KeyParts:
    """The five segments of a key, as stored (encoded); ``decode_segment`` gives their real values."""

    dag: str
    run: str
    task: str
    try_number: int
    name: str


def parse_key(key: str, max_chars: int = MAX_COMPONENT_CHARS) -> KeyParts | None:
    """The parts of ``<dag>/<run>/<task>/<try>/<name>`` if ``key`` is exactly a key ``artifact_key`` can make
    (with ``max_chars``) or made before (legacy 64-bit digests), else None: anything else was not made by this
    library and is never trusted."""
    segments = key.split("/")
    if len(segments) != 5:
        return None
    dag, run, task, try_segment, name = segments
    if not is_try_segment(try_segment) or not all(is_component_segment(s, max_chars) for s in (dag, run, task, name)):
        return None
    return KeyParts(dag, run, task, int(try_segment), name)


def is_safe_key(key: str, max_chars: int = MAX_COMPONENT_CHARS) -> bool:
    """True for a key ``artifact_key`` can make. Anything else (NUL, ``\\``, spaces, ``..``) is forged."""
    return parse_key(key, max_chars) is not None
