"""The benchmark's module for the store ``HANDOFF_STORAGE`` names: its methods, its storage and its loads."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..storage import configured_location

# Each store's benchmark module, by the URL's scheme; its NAME is the backend of the results.
MODULES = {"file": "shared_fs", "s3": "s3", "variables": "variables"}


def current_backend() -> ModuleType:
    """The benchmark module of the configured store."""
    return importlib.import_module(f"{__package__}.{MODULES[configured_location().scheme]}")


def every_size_fits(size_mb: float) -> str | None:
    """A store that takes every size: no reason to skip one (a backend module's ``skip_reason``)."""
    return None


def run_in_this_process(args: dict) -> None:
    """Run the phase in this process, as a task's code runs in its task process (a backend module's
    ``run_phase``; Variables are reachable from a task only, so that one runs it as a DAG's task)."""
    from .phase import measure_and_write

    measure_and_write(**args)
