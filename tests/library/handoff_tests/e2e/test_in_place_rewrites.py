"""An attacker who can write the shared directory rewrites a stored model in place while a run of the main DAG
loads it: same file, same size, genuine bytes or a pickle that runs code. Two attackers, one run each, at the
same time:

- ``flip``: flips the file between the two as fast as it can, from the moment the model is saved to the run's end;
- ``on-read``: waits (inotify) for a reader's first read to write the pickle, and puts the genuine bytes back when
  the reader closes the file, as in issue 25: a loader that hashed the file, then read it again to deserialise,
  ran the pickle in 3 runs out of 3 and left no trace.

Each load hashes the stored bytes as it copies them into a private spool file and deserialises that copy, so it
either gets the genuine model or refuses the copy (TamperedArtifactError); the attacker's code never runs. Which
of the two happens is up to the race: a run may succeed or fail, and both are fine.
"""

from __future__ import annotations

import ctypes
import os
import select
import struct
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from airflow_model_handoff.airflow_api import AirflowApi

from handoff_tests.e2e.conftest import use_stack_storage
from handoff_tests.e2e.expectations import expected_predictions
from handoff_tests.e2e.metadata import MetadataDb
from handoff_tests.payloads import padded_malicious_pickle
from handoff_tests.stores import FileBackdoor

from scripts.stack import Stack

MAIN = "train_and_score"
CONF = {"seed": 1, "c": 1.0, "promote": "never"}  # not promoted: test_lifecycle.py follows the champion
LOADERS = ("evaluate_model", "score_batch")  # the tasks that load the model
MODES = ("flip", "on-read") if sys.platform.startswith("linux") else ("flip",)  # inotify is Linux's
IN_ACCESS, IN_CLOSE_NOWRITE = 0x1, 0x10  # <sys/inotify.h>
INOTIFY_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len (then len bytes of name: none for a watched file)

pytestmark = pytest.mark.usefixtures("stack_storage")


class Attacker(threading.Thread):
    """Rewrites ``path`` from its first byte, in place, with ``forged`` or ``genuine`` until stopped; then leaves
    the genuine bytes, so that the tests after this one find the artifact as it was saved."""

    def __init__(self, mode: str, path: Path, genuine: bytes, forged: bytes) -> None:
        super().__init__(daemon=True)
        self.mode, self.path, self.genuine, self.forged = mode, path, genuine, forged
        self.done, self.rewrites, self.since = threading.Event(), 0, 0.0
        self.watch = inotify_watch(path) if mode == "on-read" else None

    def run(self) -> None:
        fd = os.open(self.path, os.O_WRONLY)
        self.since = time.time()
        try:
            if self.watch is None:
                self.flip(fd)
            else:
                self.on_read(fd, self.watch)
        finally:
            os.pwrite(fd, self.genuine, 0)
            os.close(fd)
            if self.watch is not None:
                os.close(self.watch)

    def flip(self, fd: int) -> None:
        while not self.done.is_set():
            os.pwrite(fd, self.forged, 0)
            os.pwrite(fd, self.genuine, 0)
            self.rewrites += 2

    def on_read(self, fd: int, watch: int) -> None:
        while not self.done.is_set():
            if not select.select([watch], [], [], 0.05)[0]:
                continue
            events = os.read(watch, 4096)
            for offset in range(0, len(events), INOTIFY_EVENT.size):  # no names: every event is the same size
                mask = INOTIFY_EVENT.unpack_from(events, offset)[1]
                if mask & (IN_ACCESS | IN_CLOSE_NOWRITE):  # read: the pickle; closed: the genuine bytes again
                    os.pwrite(fd, self.forged if mask & IN_ACCESS else self.genuine, 0)
                    self.rewrites += 1

    def stop(self) -> None:
        self.done.set()
        self.join()


def inotify_watch(path: Path) -> int:
    """A non-blocking inotify descriptor reporting reads and read-only closes of ``path`` (Linux only)."""
    libc = ctypes.CDLL(None, use_errno=True)
    watch = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    if watch < 0 or libc.inotify_add_watch(watch, os.fsencode(path), IN_ACCESS | IN_CLOSE_NOWRITE) < 0:
        raise OSError(ctypes.get_errno(), f"cannot watch {path} with inotify")
    return watch


def wait_for_models(db: MetadataDb, run_ids: list[str], timeout: float = 300) -> Iterator[tuple[str, dict]]:
    """Each run's ``train_model`` reference, as soon as the metadata DB has it (before any consumer starts)."""
    deadline, waiting = time.monotonic() + timeout, list(run_ids)
    while waiting:
        for run_id in list(waiting):
            if (ref := db.xcom(MAIN, run_id, "train_model")) is not None:
                waiting.remove(run_id)
                yield run_id, ref
        assert time.monotonic() < deadline, f"train_model returned nothing in {waiting}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def raced_runs(
    local_api: AirflowApi, local_db: MetadataDb, local_stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    """Per attacker, one run of the main DAG whose model file it rewrites from the moment the model is saved to the
    run's end; the runs go at the same time."""
    runs = {f"in-place-rewrites-{mode}": mode for mode in MODES}
    markers = {mode: tmp_path_factory.mktemp("in-place") / "pwned" for mode in MODES}
    local_api.wait_for_dag(MAIN)
    for run_id in runs:
        local_api.trigger(MAIN, run_id=run_id, conf=CONF)
    attackers, genuine = {}, {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        use_stack_storage(local_stack, monkeypatch)
        backdoor = FileBackdoor()
        try:
            for run_id, ref in wait_for_models(local_db, list(runs)):
                mode, genuine[run_id] = runs[run_id], backdoor.read(ref)
                forged = padded_malicious_pickle(markers[mode], len(genuine[run_id]))
                attackers[run_id] = Attacker(mode, backdoor.path(ref), genuine[run_id], forged)
                attackers[run_id].start()
            states = local_api.wait_for_runs(MAIN, list(runs))
        finally:
            for attacker in attackers.values():
                attacker.stop()
        stored_as_saved = {run_id: backdoor.read(local_db.xcom(MAIN, run_id, "train_model")) for run_id in runs}
    results = {}
    for run_id, mode in runs.items():
        instances = local_api.task_instances(MAIN, run_id)
        results[mode] = {
            "attacker": attackers[run_id],
            "state": states[run_id],
            "marker": markers[mode],
            "instances": instances,
            "logs": {task: local_api.log(MAIN, run_id, task, 1) for task in LOADERS if instances[task]["try_number"]},
            "scored": local_db.xcom(MAIN, run_id, "score_batch"),
            "stored_as_saved": stored_as_saved[run_id] == genuine[run_id],
        }
    return results


@pytest.fixture(params=MODES)
def raced_run(request: pytest.FixtureRequest, raced_runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return raced_runs[request.param]


def test_the_rewritten_bytes_never_run(raced_run: dict[str, Any]) -> None:
    attacker = raced_run["attacker"]
    print(f"{attacker.mode}: run {raced_run['state']} after {attacker.rewrites} rewrites of the model file")
    assert not raced_run["marker"].exists(), "a task deserialised the attacker's bytes: their code ran"
    assert attacker.rewrites >= (100 if attacker.mode == "flip" else 2), "the race did not happen"
    first_load = datetime.fromisoformat(raced_run["instances"]["evaluate_model"]["start_date"]).timestamp()
    assert attacker.since < first_load, "the attack started after the first load"
    assert raced_run["stored_as_saved"]


def test_each_load_gets_the_genuine_model_or_refuses_the_copy(raced_run: dict[str, Any]) -> None:
    assert raced_run["state"] in ("success", "failed")
    states = {task: raced_run["instances"][task]["state"] for task in LOADERS}
    for task, state in states.items():
        if state == "failed":
            assert "TamperedArtifactError" in raced_run["logs"][task], raced_run["logs"][task]
    if raced_run["state"] == "success":
        assert states == dict.fromkeys(LOADERS, "success")
        expected = expected_predictions(CONF["seed"], CONF["c"])
        assert raced_run["scored"]["predicted_benign"] == sum(p["prediction"] for p in expected)
    else:
        assert "failed" in states.values(), f"the run failed, but not in a load: {raced_run['instances']}"
