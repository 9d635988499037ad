"""Read a stack's metadata database directly: what tasks returned and where they ran, for any run id.

Airflow's REST API cannot address a run whose id holds a '/' in a URL path, so the tests read the
database the scheduler wrote, as an operator with a SQL prompt would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa


@dataclass
class MetadataDb:
    url: str

    def __post_init__(self) -> None:
        self.engine = sa.create_engine(self.url)

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> Any:
        """The value ``task_id`` returned in the run (None if nothing)."""
        query = sa.text(
            "SELECT value FROM xcom WHERE dag_id = :dag AND run_id = :run AND task_id = :task"
            " AND key = 'return_value' AND map_index = -1"
        )
        with self.engine.connect() as connection:
            value = connection.execute(query, {"dag": dag_id, "run": run_id, "task": task_id}).scalar()
        return json.loads(value) if isinstance(value, str) else value

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict]:
        """The run's task instances by task id: state, try_number, pid, hostname."""
        query = sa.text(
            "SELECT task_id, state, try_number, pid, hostname FROM task_instance WHERE dag_id = :dag AND run_id = :run"
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query, {"dag": dag_id, "run": run_id}).mappings().all()
        return {row["task_id"]: dict(row) for row in rows}

    def variable_keys(self, prefix: str) -> list[str]:
        query = sa.text("SELECT key FROM variable WHERE key LIKE :prefix")
        with self.engine.connect() as connection:
            return list(connection.execute(query, {"prefix": f"{prefix}%"}).scalars())
