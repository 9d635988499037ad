"""The library's command line under the project's name (``champion``, ``promote --run-id RUN``, ``retention ...``),
with the project's settings where the environment names none (see this package)."""

from __future__ import annotations

import sys

from airflow_model_handoff.__main__ import main

if __name__ == "__main__":
    sys.exit(main(prog=f"python -m {__package__}"))
