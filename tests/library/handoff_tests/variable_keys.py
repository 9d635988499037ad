"""Where the variables backend's artifacts are in the metadata DB, to look at them as an operator would."""

from __future__ import annotations

from urllib.parse import unquote

from airflow_model_handoff.airflow_api import AirflowApi
from airflow_model_handoff.champion import (
    KEEP_CHAMPIONS,
    pinned_promotions,
    promotion_history,
)

from handoff_tests.project import CHAMPION_ASSET_NAME


def variable_key(uri: str) -> str:
    """The Variable key an artifact URI names, as Airflow stores it.

    The library percent-encodes each key segment; Airflow's Execution API decodes the key on its way
    (it travels in the URL path), so the stored key holds the decoded text.
    """
    return unquote(uri.removeprefix("airflow-variable://"))


def champion_variable_keys(api: AirflowApi) -> set[str]:
    """The Variables of the pinned champions' models: the only handoff Variables that outlive their run."""
    history = promotion_history(api.asset_events(CHAMPION_ASSET_NAME))
    return {variable_key(promotion.reference.uri) for promotion in pinned_promotions(history, KEEP_CHAMPIONS)}
