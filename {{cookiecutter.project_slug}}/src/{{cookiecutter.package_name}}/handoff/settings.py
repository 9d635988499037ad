"""Settings every backend shares, read from environment variables (documented in the README)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .errors import MisconfiguredError
from .formats import FORMAT_NAMES
from .signing import configured_signing_keys


@dataclass(frozen=True)
class HandoffSettings:
    format: str = "joblib"
    skops_trusted: tuple[str, ...] = ()
    signing_keys: tuple[bytes, ...] = field(default=(), repr=False)  # secrets: never in a log line
    allowed_formats: tuple[str, ...] = ("joblib", "json")

    @classmethod
    def from_env(cls) -> HandoffSettings:
        fmt = os.environ.get("HANDOFF_FORMAT", cls.format)
        allowed = env_list("HANDOFF_ALLOWED_FORMATS") or tuple(dict.fromkeys((fmt, "json")))
        unknown = [name for name in (fmt, *allowed) if name not in FORMAT_NAMES]
        if unknown:
            raise MisconfiguredError(
                f"unknown handoff format {unknown[0]!r} in HANDOFF_FORMAT or HANDOFF_ALLOWED_FORMATS: "
                f"choose from {', '.join(FORMAT_NAMES)}"
            )
        return cls(
            format=fmt,
            skops_trusted=env_list("HANDOFF_SKOPS_TRUSTED"),
            signing_keys=configured_signing_keys(),
            allowed_formats=allowed,
        )


def env_list(name: str) -> tuple[str, ...]:
    """A comma-separated setting, blanks dropped."""
    return tuple(item.strip() for item in os.environ.get(name, "").split(",") if item.strip())


def env_int(name: str, default: int) -> int:
    """An integer setting; a malformed value is an error, never silently replaced by the default."""
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
