"""``variables``: small artifacts in Airflow Variables, one Variable per run, task try and artifact.

Only for small models and parameters: the serialised size is capped
(``HANDOFF_VARIABLES_MAX_BYTES``, default 48 KiB) and a larger artifact is
refused before anything is written. Variables are global and not cleaned up
by Airflow, so every save also records its key and time in a per-task index
Variable, and ``delete_run_artifacts`` (the DAG's teardown task) deletes them
all when the run ends, whether it succeeded or failed. Retention finds the
runs that never reached their teardown through those indexes.

Variables can only be written from inside a running task (Task SDK).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import BinaryIO
from urllib.parse import quote, unquote

from .errors import ArtifactNotFoundError, IntegrityError, MisconfiguredError
from .keys import RunScope, artifact_key, parse_key
from .reference import ArtifactRef
from .settings import HandoffSettings, env_int
from .store import ArtifactStore, Inventory, Skipped, StoredRun, verify

DEFAULT_MAX_BYTES = 48 * 1024
# Airflow's Variable key column holds 250 characters: keep every component short.
KEY_COMPONENT_CHARS = 56
MAX_VARIABLE_KEY_CHARS = 250
INDEX_NAME = "index"


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
        self.prefix = (prefix or os.environ.get("HANDOFF_VARIABLES_PREFIX") or "handoff").strip("/")
        self.max_bytes = env_int("HANDOFF_VARIABLES_MAX_BYTES", DEFAULT_MAX_BYTES)

    def uri_for(self, key: str) -> str:
        return f"airflow-variable://{self.variable_key(key)}"

    def variable_key(self, key: str) -> str:
        variable_key = f"{self.prefix}/{key}"
        if len(variable_key) > MAX_VARIABLE_KEY_CHARS:
            raise MisconfiguredError(
                f"Variable key {variable_key!r} is longer than Airflow's {MAX_VARIABLE_KEY_CHARS} characters: "
                "shorten HANDOFF_VARIABLES_PREFIX or the artifact name"
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

    @contextmanager
    def open_for_write(self, key: str) -> Iterator[BinaryIO]:
        from airflow.sdk import Variable

        if "%5B" in key.split("/")[2]:  # "task[3]": a mapped task instance, whose index cleanup cannot find
            raise MisconfiguredError("the variables backend does not support mapped tasks: use s3 or shared_fs")
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
            raise IntegrityError(f"Variable {self.variable_key(key)!r} is not base64: refusing to load it") from None
        source = io.BytesIO(data)
        verify(source, ref, f"Variable {self.variable_key(key)!r}")
        yield source

    def delete_run_artifacts(
        self, dag_id: str, run_id: str, task_ids: list[str], keep_uris: Collection[str] = ()
    ) -> list[str]:
        """Delete every artifact the run's tasks recorded (but those in ``keep_uris``), and their indexes.

        Returns the deleted keys. A kept artifact (a champion's model) is then tracked by the champion's history.
        """
        from airflow.sdk import Variable

        deleted = []
        for task_id in task_ids:
            index_key = self.index_key(artifact_key(RunScope(dag_id, run_id, task_id), INDEX_NAME, KEY_COMPONENT_CHARS))
            for key in json.loads(Variable.get(index_key, default="{}")):
                if self.uri_for(key) not in keep_uris:
                    Variable.delete(self.variable_key(key))
                    deleted.append(self.variable_key(key))
            Variable.delete(index_key)
        return deleted

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
                if parts is None or unquote(self.index_key(key)) != stored_key:
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
