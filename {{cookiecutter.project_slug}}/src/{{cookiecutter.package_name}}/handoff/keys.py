"""Storage keys: ``<dag_id>/<run_id>/<task_id>/<try>/<name>``, one per DAG run and task try.

Every component is percent-encoded so that any run id a user can choose
(``../x``, ``a/b``, spaces, unicode, very long) becomes a single safe path
segment, and two different values never share a key.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .errors import MisconfiguredError

# Encoded components longer than this are shortened to a prefix plus a digest of the full value.
MAX_COMPONENT_CHARS = 120
_DIGEST_CHARS = 16
# Every character ``encode_component`` can output: ``quote``'s unreserved set, ``%`` escapes, the ``~`` marker.
_SEGMENT_RE = re.compile(r"[A-Za-z0-9_.%~-]+")


def encode_component(value: str, max_chars: int = MAX_COMPONENT_CHARS) -> str:
    """Encode ``value`` as one path segment that cannot be ``.``, ``..`` or contain ``/``.

    ``quote`` escapes everything but ``A-Za-z0-9_.-~``; we also escape ``~``
    (reserved for the digest marker) and a leading ``.``. The mapping is
    injective: shortened values carry a SHA-256 digest of the original.
    """
    if not value:
        raise MisconfiguredError("a storage key component must not be empty")
    encoded = quote(value, safe="").replace("~", "%7E")
    if encoded.startswith("."):
        encoded = "%2E" + encoded[1:]
    if len(encoded) > max_chars:
        digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:_DIGEST_CHARS]
        head = re.sub(r"%[0-9A-F]?$", "", encoded[: max_chars - _DIGEST_CHARS - 1])  # no cut-off escape
        encoded = head + "~" + digest
    return encoded


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
        """Build the scope from an Airflow task context (``get_current_context()``)."""
        ti = context["ti"]
        return cls(ti.dag_id, ti.run_id, ti.task_id, int(ti.try_number), int(getattr(ti, "map_index", -1)))

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
        """The scope of the running Airflow task, or None outside a task."""
        try:
            return cls.current()
        except MisconfiguredError:
            return None

    @property
    def task_segment(self) -> str:
        """The task id, plus the map index for mapped tasks so their instances never collide."""
        return self.task_id if self.map_index < 0 else f"{self.task_id}[{self.map_index}]"

    def run_prefix(self, max_chars: int = MAX_COMPONENT_CHARS) -> str:
        return f"{encode_component(self.dag_id, max_chars)}/{encode_component(self.run_id, max_chars)}"


def artifact_key(scope: RunScope, name: str, max_chars: int = MAX_COMPONENT_CHARS) -> str:
    """The key of artifact ``name`` saved by ``scope``: unique per DAG run and task try."""
    if scope.try_number < 1:
        raise MisconfiguredError(f"try_number must be >= 1, got {scope.try_number}")
    parts = (scope.run_prefix(max_chars), encode_component(scope.task_segment, max_chars), str(scope.try_number))
    return "/".join((*parts, encode_component(name, max_chars)))


def is_safe_key(key: str) -> bool:
    """True for a key of the form this module produces: 5 segments of ``encode_component``'s alphabet, none
    starting with ``.``. Anything else (NUL, ``\\``, spaces, unicode) comes from a forged reference."""
    segments = key.split("/")
    return len(segments) == 5 and all(_SEGMENT_RE.fullmatch(s) and not s.startswith(".") for s in segments)
