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
