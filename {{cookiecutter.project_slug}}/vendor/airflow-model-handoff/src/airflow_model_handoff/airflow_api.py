"""A small client of Airflow's REST API (v2), as any external client would use it: token, trigger, poll.

Used by the scripts, the tests and the handoff command line (which finds Airflow through ``from_env``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from .airflow_home import airflow_home

FINISHED = {"success", "failed"}
# A request that fails on the server's side without changing anything is tried again for this long: a GET that
# answers 500 (Airflow 3.3.2's asset events listing does, while a run that an event triggered is still queued:
# its start_date is not set yet), or any request a database error rolled back (SQLite busy under load).
SERVER_ERROR_RETRY_SECONDS = 30


# What the Task SDK logs when a task raises; its `error_detail` holds the exception and its causes.
FAILURE_EVENT = "Task failed with exception"
# The header Airflow puts before a task log: where the API server read it (a file on its disk, or a worker's URL).
SOURCES_GROUP = "::group::Log message source details"


def failed_without_effect(method: str, response: httpx.Response) -> bool:
    return response.status_code >= 500 and (method == "GET" or "Database error" in response.text)


class ApiError(RuntimeError):
    """The API refused a request; the message carries its answer."""


def refusal(response: httpx.Response) -> str:
    """The API's answer on one line: status, reason, and Airflow's `detail` up to its first blank line (a param
    refused by a DAG is followed by the JSON schema that refused it)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    detail = body.get("detail", body) if isinstance(body, dict) else response.text
    if isinstance(detail, list):  # the request did not validate: one entry per field
        detail = "; ".join(f"{'.'.join(map(str, item.get('loc', ())))}: {item.get('msg')}" for item in detail)
    elif isinstance(detail, dict):  # a database error: its reason (the rest is hidden or in the server's log)
        detail = detail.get("reason") or json.dumps(detail)
    first_paragraph = " ".join(str(detail).strip().split("\n\n")[0].split())
    return f"{response.status_code} {response.reason_phrase}: {first_paragraph}"


@dataclass(frozen=True)
class TaskLog:
    """One task try's log as the API serves it: structured events (Airflow 3 task logs are JSON lines)."""

    events: tuple[dict[str, Any], ...]

    @property
    def sources(self) -> list[str]:
        """Where the API server read the log: its files on disk (under AIRFLOW_HOME/logs by default), or the URL
        of the log server of the worker that ran the task."""
        if not self.events or self.events[0].get("event") != SOURCES_GROUP:
            return []
        header = [str(event.get("event")) for event in self.events[1:]]
        return header[: header.index("::endgroup::")] if "::endgroup::" in header else []

    def failure(self) -> list[str]:
        """Why the try failed, one line each: the exception (type: message), then its causes; without one (a
        process killed by a signal, say), the last error the log records; none if it records none."""
        failure = next((event for event in self.events if event.get("event") == FAILURE_EVENT), None)
        if failure is None:
            errors = [event for event in self.events if event.get("level") in ("error", "critical")]
            failure = errors[-1] if errors else None
        if failure is None:
            return []
        chain = failure.get("error_detail") or []
        if not chain:
            return [str(failure["event"])]
        raised, *causes = (f"{item.get('exc_type')}: {item.get('exc_value')}" for item in chain)
        return [raised, *(f"caused by {cause}" for cause in causes)]

    def text(self) -> str:
        """One line per event, with the exception when there was one."""
        return "\n".join(
            " ".join(str(event[key]) for key in ("event", "error_detail") if key in event) for event in self.events
        )


def health(base_url: str, timeout: float = 5) -> dict[str, Any] | None:
    """Each component's status from GET /api/v2/monitor/health (no login needed); None while the API does not
    answer."""
    try:
        return httpx.get(f"{base_url}/api/v2/monitor/health", timeout=timeout).json()
    except (httpx.HTTPError, ValueError):
        return None


def admin_login(airflow_home: Path) -> tuple[str, str]:
    """The simple auth manager's admin user and the password it generated on first start."""
    passwords = json.loads((airflow_home / "simple_auth_manager_passwords.json.generated").read_text())
    return "admin", passwords["admin"]


class AirflowApi:
    def __init__(self, base_url: str, username: str, password: str, timeout: float = 30) -> None:
        try:
            response = httpx.post(
                f"{base_url}/auth/token", json={"username": username, "password": password}, timeout=timeout
            )
        except httpx.TransportError as exc:
            raise ApiError(f"cannot reach Airflow's API at {base_url} ({exc}): is Airflow running?") from None
        if response.status_code >= 400:
            raise ApiError(f"login as {username!r} refused: {refusal(response)}")
        token = response.json()["access_token"]
        self.http = httpx.Client(
            base_url=f"{base_url}/api/v2", headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        )

    @classmethod
    def from_env(cls) -> AirflowApi:
        """The API at AIRFLOW_API_URL (default: the local stack's), as AIRFLOW_API_USERNAME / AIRFLOW_API_PASSWORD,
        or else as the admin whose password the simple auth manager generated in AIRFLOW_HOME."""
        url = os.environ.get("AIRFLOW_API_URL") or f"http://localhost:{os.environ.get('API_PORT', '8080')}"
        if os.environ.get("AIRFLOW_API_USERNAME"):
            return cls(url, os.environ["AIRFLOW_API_USERNAME"], os.environ.get("AIRFLOW_API_PASSWORD", ""))
        home = airflow_home()
        try:
            login = admin_login(home)
        except FileNotFoundError:
            raise ApiError(
                f"no login for Airflow's API at {url}: set AIRFLOW_API_USERNAME and AIRFLOW_API_PASSWORD "
                f"(no generated admin password in {home})"
            ) from None
        return cls(url, *login)

    def request(self, method: str, path: str, *, missing_ok: bool = False, **kwargs: Any) -> Any:
        """The answer's JSON; with ``missing_ok``, None where the API answers 404."""
        response = self.http.request(method, path, **kwargs)
        deadline = time.monotonic() + SERVER_ERROR_RETRY_SECONDS
        while failed_without_effect(method, response) and time.monotonic() < deadline:
            time.sleep(1)
            response = self.http.request(method, path, **kwargs)
        if missing_ok and response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise ApiError(f"{method} {path}: {refusal(response)}")
        return response.json() if response.content else None

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> None:
        """Wait until the DAG processor has parsed the DAG, then make sure it is not paused."""
        deadline = time.monotonic() + timeout
        while self.http.get(f"/dags/{quote(dag_id, safe='')}").status_code == 404:
            if time.monotonic() > deadline:
                raise ApiError(f"DAG {dag_id!r} did not appear within {timeout:.0f} s (check `make stack` logs)")
            time.sleep(1)
        self.request("PATCH", f"/dags/{quote(dag_id, safe='')}", json={"is_paused": False})

    def trigger(self, dag_id: str, run_id: str | None = None, conf: dict | None = None) -> str:
        body: dict[str, Any] = {"logical_date": None, "conf": conf or {}}
        if run_id is not None:
            body["dag_run_id"] = run_id
        return self.request("POST", f"/dags/{quote(dag_id, safe='')}/dagRuns", json=body)["dag_run_id"]

    def runs(self, dag_id: str) -> dict[str, dict]:
        """Every run of the DAG by run id (listed, since a run id may hold a '/', which no URL path keeps)."""
        found = self.request("POST", "/dags/~/dagRuns/list", json={"dag_ids": [dag_id], "page_limit": 1000})
        return {run["dag_run_id"]: run for run in found["dag_runs"]}

    def run_state(self, dag_id: str, run_id: str) -> str:
        """One run's state, cheaply (for a run id that a URL path can carry: no '/')."""
        return self.request("GET", f"/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}")["state"]

    def wait_for_runs(self, dag_id: str, run_ids: list[str], timeout: float = 600) -> dict[str, str]:
        """Poll until every run has finished; return each run's final state."""
        deadline = time.monotonic() + timeout
        while True:
            states = {run_id: self.runs(dag_id).get(run_id, {}).get("state") for run_id in run_ids}
            if all(state in FINISHED for state in states.values()):
                return states
            if time.monotonic() > deadline:
                raise ApiError(f"runs still unfinished after {timeout:.0f} s: {states}")
            time.sleep(2)

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict]:
        """The run's task instances by task id (pid, hostname, try_number, state...)."""
        found = self.request(
            "POST", "/dags/~/dagRuns/~/taskInstances/list", json={"dag_ids": [dag_id], "dag_run_ids": [run_id]}
        )
        return {ti["task_id"]: ti for ti in found["task_instances"]}

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        """What a task returned (None if it returned nothing or has not run)."""
        path = f"/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"
        found = self.request("GET", f"{path}/xcomEntries/{key}", missing_ok=True)
        return None if found is None else found["value"]

    def log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        """A task try's log: one line per event, with the exception when there was one."""
        return self.task_log(dag_id, run_id, task_id, try_number).text()

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> TaskLog:
        """A task try's log, event by event (a line that is not JSON becomes an event of its own)."""
        path = f"/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"
        content = self.request("GET", f"{path}/logs/{try_number}", headers={"Accept": "application/json"})["content"]
        return TaskLog(tuple(line if isinstance(line, dict) else {"event": line} for line in content))

    def asset_id(self, name: str) -> int | None:
        """The id of the asset called ``name``; None until a DAG that uses it has been parsed."""
        found = self.request("GET", "/assets", params={"name_pattern": name, "limit": 100})["assets"]
        return next((asset["id"] for asset in found if asset["name"] == name), None)

    def asset_events(self, name: str, limit: int = 100, **filters: Any) -> list[dict]:
        """The asset's events, newest first (``filters``: e.g. source_run_id=...); none if there is no such asset."""
        asset_id = self.asset_id(name)
        if asset_id is None:
            return []
        params = {"asset_id": asset_id, "order_by": "-timestamp", "limit": limit, **filters}
        return self.request("GET", "/assets/events", params=params)["asset_events"]

    def asset_events_newest_first(self, name: str, page: int = 100) -> Iterator[dict]:
        """Every event of the asset, newest first, a page of ``page`` at a time and only as far as they are read.
        An event added meanwhile shifts the pages: events seen already are dropped by id."""
        asset_id, seen, offset = self.asset_id(name), set(), 0
        while asset_id is not None:
            params = {"asset_id": asset_id, "order_by": "-timestamp", "limit": page, "offset": offset}
            batch = self.request("GET", "/assets/events", params=params)["asset_events"]
            yield from (event for event in batch if event["id"] not in seen)
            if len(batch) < page:
                return
            seen.update(event["id"] for event in batch)
            offset += page

    def create_asset_event(self, name: str, extra: dict[str, Any]) -> dict:
        """An event on the asset, as a producer task would emit it; DAGs scheduled on the asset run on it."""
        asset_id = self.asset_id(name)
        if asset_id is None:
            raise ApiError(f"Airflow has no asset named {name!r}: has the DAG processor parsed the project's DAGs?")
        return self.request("POST", "/assets/events", json={"asset_id": asset_id, "extra": extra})

    def wait_for_triggered_run(self, asset_name: str, event_id: int, dag_id: str, timeout: float = 120) -> str:
        """The id of the run of ``dag_id`` that an asset event triggered (the scheduler creates it shortly after;
        several events may fold into one run)."""
        deadline = time.monotonic() + timeout
        while True:
            event = next((e for e in self.asset_events(asset_name, limit=50) if e["id"] == event_id), None)
            if event is None:
                raise ApiError(f"no event {event_id} among the newest 50 of asset {asset_name!r}")
            runs = [run["run_id"] for run in event["created_dagruns"] if run["dag_id"] == dag_id]
            if runs:
                return runs[0]
            if time.monotonic() > deadline:
                raise ApiError(f"no run of {dag_id!r} was created for event {event_id} within {timeout:.0f} s")
            time.sleep(1)

    def variable(self, key: str) -> str | None:
        """A Variable's value (None if there is none): the Task SDK reads Variables only inside a task."""
        found = self.request("GET", f"/variables/{quote(key, safe='/')}", missing_ok=True)
        return None if found is None else found["value"]
