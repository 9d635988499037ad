"""The digest of the handoff library's sources, recorded with every benchmark result: published figures can be
checked against the code as it stands (a template test compares them). Standard library only."""

from __future__ import annotations

import hashlib
from pathlib import Path

# Not the handoff's own code: the benchmark itself, and the local servers it may start (a stand-in for a store).
NOT_MEASURED = ("benchmark", "local")


def handoff_sources_sha256(handoff_dir: Path) -> str:
    """SHA-256 over every ``.py`` file of the handoff library's package (``airflow_model_handoff``) but those of
    ``NOT_MEASURED``: each relative path and content, in path order."""
    digest = hashlib.sha256()
    sources = (path for path in handoff_dir.rglob("*.py") if path.relative_to(handoff_dir).parts[0] not in NOT_MEASURED)
    for path in sorted(sources):
        digest.update(path.relative_to(handoff_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()
