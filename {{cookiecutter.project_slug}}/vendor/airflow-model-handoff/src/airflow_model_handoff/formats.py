"""Serialisation formats. Each writes to / reads from a binary file object, never a whole bytes copy.

- ``joblib`` (default): any Python object; numpy arrays are streamed in chunks.
  Loading runs pickle, so it is only safe on bytes whose SHA-256 was verified first.
- ``skops``: scikit-learn models without code execution on load; only types in
  skops' trusted list (plus ``HANDOFF_SKOPS_TRUSTED``) are accepted.
- ``json``: plain parameters and metrics.
"""

from __future__ import annotations

import io
import json
from typing import Any, BinaryIO, Protocol

from .errors import MisconfiguredError, UntrustedTypesError


class Format(Protocol):
    name: str

    def dump(self, obj: Any, sink: BinaryIO) -> None: ...

    def load(self, source: BinaryIO) -> Any: ...


class JoblibFormat:
    name = "joblib"

    def dump(self, obj: Any, sink: BinaryIO) -> None:
        import joblib

        joblib.dump(obj, sink)

    def load(self, source: BinaryIO) -> Any:
        import joblib

        return joblib.load(source)


class SkopsFormat:
    name = "skops"

    def __init__(self, extra_trusted: tuple[str, ...] = ()) -> None:
        self.extra_trusted = extra_trusted

    def dump(self, obj: Any, sink: BinaryIO) -> None:
        """Refuse, before a byte is stored, a model the loader would refuse: its types are known only once
        serialised, so the bytes are held in memory (as skops' own loading does too)."""
        import skops.io

        data = skops.io.dumps(obj)
        self.refuse_untrusted(skops.io.get_untrusted_types(data=data), "the model holds")
        sink.write(data)

    def load(self, source: BinaryIO) -> Any:
        import skops.io

        data = source.read()
        self.refuse_untrusted(skops.io.get_untrusted_types(data=data), "the skops artifact holds")
        return skops.io.loads(data, trusted=list(self.extra_trusted) or None)

    def refuse_untrusted(self, found: list[str], what: str) -> None:
        untrusted = [name for name in found if name not in self.extra_trusted]
        if untrusted:
            raise UntrustedTypesError(
                f"{what} types skops does not trust: {untrusted}. If you trust them, set "
                f"HANDOFF_SKOPS_TRUSTED={','.join(untrusted)} on every Airflow component (comma-separated)"
            )


class JsonFormat:
    name = "json"

    def dump(self, obj: Any, sink: BinaryIO) -> None:
        text = io.TextIOWrapper(sink, encoding="utf-8", write_through=True)
        json.dump(obj, text, allow_nan=False, separators=(",", ":"))
        text.detach()  # leave the sink open: the store commits it

    def load(self, source: BinaryIO) -> Any:
        return json.load(source)


FORMAT_NAMES = ("joblib", "skops", "json")


def get_format(name: str, extra_trusted: tuple[str, ...] = ()) -> Format:
    formats: dict[str, Format] = {"joblib": JoblibFormat(), "skops": SkopsFormat(extra_trusted), "json": JsonFormat()}
    try:
        return formats[name]
    except KeyError:
        raise MisconfiguredError(f"unknown handoff format {name!r}: choose one of {', '.join(FORMAT_NAMES)}") from None
