"""The project's Airflow Assets. Light on purpose: DAG files import it at parse time."""

from __future__ import annotations

from airflow.sdk import Asset

from .lifecycle import CHAMPION_ASSET_NAME

# Each event on it promotes a model (see handoff/champion.py); `score_champion` runs on every promotion.
CHAMPION = Asset(name=CHAMPION_ASSET_NAME)
