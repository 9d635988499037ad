"""Parse DAG files as the DAG processor does, and say which of their lines load a heavy module.

test_dag_integrity.py runs it in a fresh process, ``python -m tests.dags.parse_time RESULT_FILE DAG_FILE...`` from
the project root. Like the DAG processor, it loads Airflow once and parses each file in a fork of itself, so a
module one file loaded is not already loaded, unnoticed, when the next imports it. The messages go to RESULT_FILE as
JSON, so nothing a DAG file prints while it is parsed (deprecation warnings, Airflow's log lines) can be taken
for them.
"""

from __future__ import annotations

import json
import multiprocessing
import runpy
import sys
from importlib.abc import MetaPathFinder
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import airflow.sdk  # noqa: F401  every DAG file imports it, and the DAG processor has it loaded before it forks

from .dag_policy import HEAVY_AT_PARSE_TIME


class HeavyImportWatch(MetaPathFinder):
    """Finds no module: notes where the DAG file loads each heavy one, and which module it was importing then."""

    def __init__(self, dag_file: str) -> None:
        self.dag_file = dag_file
        self.found: dict[str, tuple[str, list[str]]] = {}  # "file:line" -> (the module that line imports, heavy ones)

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname in HEAVY_AT_PARSE_TIME:
            self.note(fullname)
        return None  # the next finder finds it

    def note(self, heavy: str) -> None:
        via, frame = heavy, sys._getframe(1)
        while frame is not None and frame.f_code.co_filename != self.dag_file:
            if frame.f_code.co_name == "<module>":  # a module being imported; the outermost is the line's own import
                via = frame.f_globals["__name__"]
            frame = frame.f_back
        where = self.dag_file if frame is None else f"{self.dag_file}:{frame.f_lineno}"
        self.found.setdefault(where, (via, []))[1].append(heavy)

    def messages(self) -> list[str]:
        """One per line of the DAG file that loaded a heavy module (an import that failed, as optional ones do, is
        not one)."""
        messages = []
        for where, (via, attempted) in self.found.items():
            loaded = [module for module in attempted if module in sys.modules]
            if loaded:
                messages.append(
                    f"{where} imports {', '.join(loaded)} at parse time (via {via}): "
                    "move the import inside the task that uses it"
                )
        return messages


def parse(dag_file: str, channel: Connection) -> None:
    """In a fork: run the DAG file with the watch on and send back what it found."""
    watch = HeavyImportWatch(dag_file)
    sys.meta_path.insert(0, watch)
    try:
        runpy.run_path(dag_file)
    except Exception as exc:
        channel.send([f"{dag_file} could not be parsed: {exc!r}"])
    else:
        channel.send(watch.messages())


def main() -> None:
    result_file, *dag_files = sys.argv[1:]
    fork = multiprocessing.get_context("fork")
    messages = []
    for dag_file in dag_files:
        receiver, sender = fork.Pipe(duplex=False)
        child = fork.Process(target=parse, args=(dag_file, sender))
        child.start()
        sender.close()  # the child's copy is the only one left: a child that dies makes recv() fail, not hang
        messages += receiver.recv()
        child.join()
    Path(result_file).write_text(json.dumps(messages))


if __name__ == "__main__":
    main()
