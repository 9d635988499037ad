"""The digest of the handoff library's sources, recorded with every benchmark result: published figures can be
checked against the code as it stands (a template test compares them). Standard library only."""

from __future__ import annotations

import hashlib
from pathlib import Path


def handoff_sources_sha256(handoff_dir: Path) -> str:
    """SHA-256 over every ``.py`` file of the handoff package: each relative path and content, in path order."""
    digest = hashlib.sha256()
    for path in sorted(handoff_dir.rglob("*.py")):
        digest.update(path.relative_to(handoff_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()
