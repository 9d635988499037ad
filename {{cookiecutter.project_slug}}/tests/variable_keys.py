"""Where the variables backend's artifacts are in the metadata DB, to look at them as an operator would."""

from __future__ import annotations

from urllib.parse import unquote


def variable_key(uri: str) -> str:
    """The Variable key an artifact URI names, as Airflow stores it.

    The library percent-encodes each key segment; Airflow's Execution API decodes the key on its way
    (it travels in the URL path), so the stored key holds the decoded text.
    """
    return unquote(uri.removeprefix("airflow-variable://"))
