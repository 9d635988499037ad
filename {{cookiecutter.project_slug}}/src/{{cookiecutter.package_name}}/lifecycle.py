"""The model lifecycle's names and defaults (see handoff/champion.py).

Nothing but constants, on purpose: DAG files import them at parse time, and so does the handoff library,
which must not pull Airflow in.
"""

from __future__ import annotations

# The Airflow Asset whose events are promotions.
CHAMPION_ASSET_NAME = "{{ cookiecutter.package_name }}_champion"
# Besides the current champion, how many earlier champions stay stored for a rollback.
KEEP_CHAMPIONS = 2
PROMOTE_MODES = ("if_better", "always", "never")
