"""The small, JSON-serialisable reference a task hands to the next one through XCom.

It names where the artifact is and what it must be; the model itself never
travels through XCom. ``from_dict`` refuses anything that is not exactly this shape.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any

from .errors import IntegrityError
from .keys import RunScope

_SHA256_RE = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ArtifactRef:
    uri: str
    sha256: str
    size_bytes: int
    format: str
    dag_id: str
    run_id: str
    task_id: str
    try_number: int
    created_at: str

    @classmethod
    def create(cls, uri: str, sha256: str, size_bytes: int, fmt: str, scope: RunScope) -> ArtifactRef:
        created_at = datetime.now(UTC).isoformat(timespec="seconds")
        run = (scope.dag_id, scope.run_id, scope.task_id, scope.try_number)
        return cls(uri, sha256, size_bytes, fmt, *run, created_at)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> ArtifactRef:
        """Validate and build a reference; any deviation raises ``IntegrityError``."""
        if isinstance(data, cls):
            return data
        if not isinstance(data, dict):
            raise IntegrityError(f"an artifact reference must be a dict, got {type(data).__name__}")
        expected = {f.name: f.type for f in fields(cls)}
        missing, extra = expected.keys() - data.keys(), data.keys() - expected.keys()
        if missing or extra:
            raise IntegrityError(f"malformed artifact reference: missing {sorted(missing)}, unexpected {sorted(extra)}")
        for name, type_name in expected.items():
            value = data[name]
            wanted = int if type_name == "int" else str
            if type(value) is not wanted:  # bool is an int subclass: refuse it too
                raise IntegrityError(f"malformed artifact reference: {name} must be {wanted.__name__}")
        if not _SHA256_RE.fullmatch(data["sha256"]):
            raise IntegrityError("malformed artifact reference: sha256 must be 64 lowercase hex digits")
        if data["size_bytes"] < 0 or data["try_number"] < 1:
            raise IntegrityError("malformed artifact reference: size_bytes must be >= 0 and try_number >= 1")
        return cls(**data)
