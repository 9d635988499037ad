"""Settings every backend shares, read from environment variables (documented in the README), and the check of
every setting the project's backend reads, made before Airflow starts."""

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
        check_format_names("HANDOFF_FORMAT", (fmt,))
        allowed = env_list("HANDOFF_ALLOWED_FORMATS") or tuple(dict.fromkeys((fmt, "json")))
        check_format_names("HANDOFF_ALLOWED_FORMATS", allowed)
        skops_trusted = env_list("HANDOFF_SKOPS_TRUSTED")
        untyped = [name for name in skops_trusted if not all(part.isidentifier() for part in name.split("."))]
        if untyped:
            raise MisconfiguredError(
                f"HANDOFF_SKOPS_TRUSTED={os.environ['HANDOFF_SKOPS_TRUSTED']!r}: {untyped[0]!r} is not a type's dotted "
                "name: list types as module.Type, comma-separated (e.g. sklearn.tree._tree.Tree)"
            )
        return cls(
            format=fmt,
            skops_trusted=skops_trusted,
            signing_keys=configured_signing_keys(),
            allowed_formats=allowed,
        )


def check_format_names(variable: str, names: tuple[str, ...]) -> None:
    unknown = [name for name in names if name not in FORMAT_NAMES]
    if unknown:
        raise MisconfiguredError(
            f"{variable}={os.environ.get(variable, '')!r}: {unknown[0]!r} is not a handoff format: "
            f"choose from {', '.join(FORMAT_NAMES)}"
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
