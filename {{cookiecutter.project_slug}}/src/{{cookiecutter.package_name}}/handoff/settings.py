"""Settings every backend shares, read from environment variables (documented in the README)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class HandoffSettings:
    format: str = "joblib"
    skops_trusted: tuple[str, ...] = ()

    @classmethod
    def from_env(cls) -> HandoffSettings:
        trusted = os.environ.get("HANDOFF_SKOPS_TRUSTED", "")
        return cls(
            format=os.environ.get("HANDOFF_FORMAT", cls.format),
            skops_trusted=tuple(t.strip() for t in trusted.split(",") if t.strip()),
        )


def env_int(name: str, default: int) -> int:
    """An integer setting; a malformed value is an error, never silently replaced by the default."""
    from .errors import MisconfiguredError

    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise MisconfiguredError(f"{name}={raw!r} is not an integer") from None
    if value <= 0:
        raise MisconfiguredError(f"{name}={raw!r} must be a positive integer")
    return value
