"""Fail a task at once on a handoff error that Airflow's retries cannot fix.

A refused or altered reference, a missing artifact or a bad setting fails the same way on every try: waiting
through the retries only delays the alert. Storage that is unreachable or full may recover: those are retried.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

from .errors import HandoffError
from .keys import RunScope


@contextlib.contextmanager
def fail_fast_in_task() -> Iterator[None]:
    """Inside a task, raise a handoff error that is not ``retryable`` as one that is also Airflow's
    ``AirflowFailException``, which Airflow fails without retrying. It keeps its class name, message and
    traceback, and ``except ArtifactNotFoundError`` (say) still catches it. Other errors, and every error outside
    a task, pass unchanged."""
    try:
        yield
        return
    except HandoffError as error:
        if error.retryable or RunScope.current_or_none() is None:
            raise
        final = failing_at_once(type(error))(*error.args).with_traceback(error.__traceback__)
        final.__cause__, final.__suppress_context__ = error.__cause__, error.__suppress_context__
        final.__context__ = error.__context__
    raise final  # outside the handler, so that the error replaced does not show as its context


@functools.cache
def failing_at_once(error_type: type[HandoffError]) -> type[HandoffError]:
    """``error_type``, also an ``AirflowFailException``, under the same name (Airflow is loaded: a task runs)."""
    from airflow.sdk.exceptions import AirflowFailException

    names = {"__module__": error_type.__module__, "__qualname__": error_type.__qualname__}
    return type(error_type.__name__, (error_type, AirflowFailException), names)
