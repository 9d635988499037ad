"""``variables``: small artifacts in Airflow Variables, one Variable per run, task try and artifact.

Only for small models and parameters: the serialised size is capped
(``HANDOFF_VARIABLES_MAX_BYTES``, default 48 KiB) and a larger artifact is
refused before anything is written. Variables are global and not cleaned up
by Airflow, so every save also records its key and time in a per-task index
Variable, and ``delete_run_artifacts`` (the DAG's teardown task) finds the
run's indexes by listing its prefix and deletes them and all they list when
the run ends, whether it succeeded or failed. Retention finds the runs that
never reached their teardown through those indexes.

Variables can only be written from inside a running task (Task SDK).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, BinaryIO
from urllib.parse import quote, unquote

from .errors import ArtifactNotFoundError, MisconfiguredError, TamperedArtifactError
from .keys import RunScope, encode_component, parse_key
from .reference import ArtifactRef
from .settings import HandoffSettings, env_int
from .store import ArtifactStore, Inventory, Skipped, StoredRun, verify

DEFAULT_MAX_BYTES = 48 * 1024
# Airflow's Variable key column holds 250 characters: keep every component short.
KEY_COMPONENT_CHARS = 56
MAX_VARIABLE_KEY_CHARS = 250
INDEX_NAME = "index"

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "handoff"


def read_variable_in_task(key: str) -> str | None:
    from airflow.sdk import Variable

    return Variable.get(key, default=None)


class VariablesStore(ArtifactStore):
    key_component_chars = KEY_COMPONENT_CHARS

    def __init__(
        self,
        prefix: str | None = None,
        settings: HandoffSettings | None = None,
        read_variable: Callable[[str], str | None] | None = None,
    ) -> None:
        super().__init__(settings)
        # Inside a task the Task SDK reads Variables; outside one (the command line) the REST API does.
        self.read_variable = read_variable or read_variable_in_task
        self.prefix = (prefix or DEFAULT_PREFIX).strip("/")
        self.max_bytes = env_int("HANDOFF_VARIABLES_MAX_BYTES", DEFAULT_MAX_BYTES)

    def uri_for(self, key: str) -> str:
        return f"airflow-variable://{self.variable_key(key)}"

    def variable_key(self, key: str) -> str:
        variable_key = f"{self.prefix}/{key}"
        if len(variable_key) > MAX_VARIABLE_KEY_CHARS:
            raise MisconfiguredError(
                f"Variable key {variable_key!r} is longer than Airflow's {MAX_VARIABLE_KEY_CHARS} characters: "
                "shorten the prefix of HANDOFF_STORAGE (variables://prefix) or the artifact name"
            )
        return variable_key

    def index_key(self, key: str) -> str:
        """The Variable listing every artifact one task saved in one run (all its tries)."""
        dag, run, task, _try, _name = key.split("/")
        return self.variable_key(f"{dag}/{run}/{INDEX_NAME}/{task}")

    def too_large_message(self, size: int) -> str:
        return (
            f"the serialised artifact is {size} bytes, over the Variables limit of {self.max_bytes} bytes "
            "(HANDOFF_VARIABLES_MAX_BYTES); nothing was written. Variables are for small models and "
            "parameters: use the s3 or shared_fs backend for this model"
        )

    def save(self, obj: Any, name: str = "model", *, fmt: str | None = None, scope: RunScope | None = None) -> dict:
        """Refuse a mapped task instance before anything is written, then save as every store does."""
        scope = scope or RunScope.current()
        if scope.map_index >= 0:
            raise MisconfiguredError("the variables backend does not support mapped tasks: use s3 or shared_fs")
        return super().save(obj, name, fmt=fmt, scope=scope)

    @contextmanager
    def open_for_write(self, key: str) -> Iterator[BinaryIO]:
        from airflow.sdk import Variable

        buffer = io.BytesIO()  # bounded: HashingWriter stops forwarding past max_bytes
        yield buffer
        index_key = self.index_key(key)
        recorded = json.loads(Variable.get(index_key, default="{}"))
        # The index is written first, so a crash between the two writes leaves nothing untracked.
        if key not in recorded:
            recorded[key] = datetime.now(UTC).isoformat(timespec="seconds")
            Variable.set(index_key, json.dumps(recorded), description="handoff: artifacts of one task, when saved")
        Variable.set(
            self.variable_key(key),
            base64.b64encode(buffer.getvalue()).decode("ascii"),
            description="handoff artifact; deleted by the run's teardown",
        )

    @contextmanager
    def open_verified(self, key: str, ref: ArtifactRef) -> Iterator[BinaryIO]:
        encoded = self.read_variable(self.variable_key(key))
        if encoded is None:
            raise ArtifactNotFoundError(
                f"artifact not found in Variable {self.variable_key(key)!r}: was the run's teardown already run?"
            )
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise TamperedArtifactError(
                f"Variable {self.variable_key(key)!r} is not base64: refusing to load it"
            ) from None
        source = io.BytesIO(data)
        verify(source, ref, f"Variable {self.variable_key(key)!r}")
        yield source

    def delete_run_artifacts(self, dag_id: str, run_id: str, *, keep_uris: Collection[str] = ()) -> list[str]:
        """Delete every artifact the run saved, of any task and try (but those in ``keep_uris``), and its indexes.

        The indexes are found by listing the run's prefix, not from the DAG's task ids, so a task that is no
        longer in the DAG, or that saved under a scope of its own, is cleaned up too. Returns the deleted keys.
        A kept artifact (a champion's model) is then tracked by the champion's history.
        """
        from airflow.sdk import Variable

        deleted = []
        for stored_index_key, keys in self.run_indexes(dag_id, run_id):
            for key in keys:
                if self.uri_for(key) not in keep_uris:
                    Variable.delete(self.variable_key(key))
                    deleted.append(self.variable_key(key))
            Variable.delete(quote(stored_index_key, safe="/"))
        return deleted

    def run_indexes(self, dag_id: str, run_id: str) -> Iterator[tuple[str, list[str]]]:
        """The run's index Variables (keys as stored) with the artifact keys each lists.

        Airflow stores keys percent-decoded, so another run whose id extends this one past a '/' lists under the
        same prefix: an index is this run's only when it sits right under the prefix and lists only this run's keys.
        """
        from airflow.sdk import Variable

        run_prefix = "/".join(encode_component(part, KEY_COMPONENT_CHARS) for part in (dag_id, run_id)) + "/"
        listed_prefix = unquote(self.variable_key(run_prefix))
        for stored_key in Variable.keys(prefix=listed_prefix):
            if stored_key.removeprefix(listed_prefix).split("/")[:-1] != [INDEX_NAME]:
                continue
            recorded = self.read_index(stored_key)
            if recorded is None:
                log.warning("left %r alone: under run %r but not an index of this store", stored_key, run_id)
            elif all(key.startswith(run_prefix) and self.index_lists(stored_key, key) for key in recorded):
                yield stored_key, list(recorded)
            else:
                log.warning("left %r alone: it lists keys that are not this run's", stored_key)

    def index_lists(self, stored_index_key: str, key: str) -> bool:
        """True if ``key`` is an artifact key that belongs in the index stored at ``stored_index_key``."""
        return parse_key(key, KEY_COMPONENT_CHARS) is not None and unquote(self.index_key(key)) == stored_index_key

    def delete_references(self, refs: list[ArtifactRef]) -> list[str]:
        """Delete the artifacts these references name that are still stored. Returns the deleted keys."""
        from airflow.sdk import Variable

        # Airflow stores a key as its Execution API received it, percent-decoded from the URL path.
        stored = set(Variable.keys(prefix=f"{self.prefix}/"))
        keys = (self.variable_key(self.key_from_uri(ref.uri)) for ref in refs)
        deleted = [variable_key for variable_key in keys if unquote(variable_key) in stored]
        for variable_key in deleted:
            Variable.delete(variable_key)
        return deleted

    def inventory(self) -> Inventory:
        """The runs whose artifacts are still indexed (their teardown never ran), from inside a task.

        A Variable under the prefix that no index lists (a champion's model, kept for its promotion, or one
        this store did not make) is left alone and reported.
        """
        from airflow.sdk import Variable

        # Airflow returns keys as stored: percent-decoded from the URL path they travelled in.
        stored = set(Variable.keys(prefix=f"{self.prefix}/"))
        by_run: dict[tuple[str, str], dict[str, datetime]] = {}
        indexed, skipped = set(), []
        for stored_key in sorted(stored):
            if stored_key.split("/")[-2:-1] != [INDEX_NAME]:
                continue
            recorded = self.read_index(stored_key)
            if recorded is None:
                skipped.append(Skipped(stored_key, "not an index of this store"))
                continue
            indexed.add(stored_key)
            for key, saved_at in recorded.items():
                parts = parse_key(key, KEY_COMPONENT_CHARS)
                if parts is None or not self.index_lists(stored_key, key):
                    skipped.append(Skipped(stored_key, f"lists {key!r}, which is not one of its task's keys"))
                    continue
                by_run.setdefault((parts.dag, parts.run), {})[key] = saved_at
                indexed.add(unquote(self.variable_key(key)))
        skipped += [
            Skipped(key, "no run's index lists it: a champion's model, or not made by this store")
            for key in sorted(stored - indexed)
        ]
        runs = tuple(
            StoredRun(dag, run, max(saved.values()), tuple(sorted(saved)))
            for (dag, run), saved in sorted(by_run.items())
        )
        return Inventory(runs, tuple(skipped))

    def read_index(self, stored_key: str) -> dict[str, datetime] | None:
        """An index Variable's artifact keys and save times; None for anything else."""
        from airflow.sdk import Variable

        try:
            recorded = json.loads(Variable.get(quote(stored_key, safe="/"), default="null"))
            return {key: datetime.fromisoformat(saved_at) for key, saved_at in recorded.items()}
        except (ValueError, TypeError, AttributeError):
            return None

    def delete(self, keys: Sequence[str]) -> tuple[Skipped, ...]:
        """Delete the artifacts, then the indexes that listed them (retention deletes whole runs)."""
        from airflow.sdk import Variable

        for key in keys:
            Variable.delete(self.variable_key(key))
        for index_key in sorted({self.index_key(key) for key in keys}):
            Variable.delete(index_key)
        return ()
