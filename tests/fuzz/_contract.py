"""The fuzz suite's settings and contract (every module here is marked ``fuzz``).


Few examples per test in the default run (a few seconds in all), many under ``make fuzz``
(``HYPOTHESIS_PROFILE=fuzz``, see tests/conftest.py).
Every fuzz test asserts one contract: the function returns a correct result, or raises one of
the project's errors (:class:`~robustlab.common.errors.RobustlabError`) with a one-line
message; never another exception, never a silently different number.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

from robustlab.common.errors import RobustlabError

LONG = os.environ.get("HYPOTHESIS_PROFILE") == "fuzz"

#: The settings of every fuzz test: the loaded profile's example count under ``make fuzz``,
#: else a handful (the default run stays at a few seconds in all).
fuzz_settings = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture],
    **({} if LONG else {"max_examples": 12}),
)


def check_project_error(exc: BaseException) -> None:
    """Fail unless ``exc`` is a project error with a one-line message."""
    if not isinstance(exc, RobustlabError):
        raise AssertionError(f"not a project error: {type(exc).__name__}: {exc}") from exc
    message = str(exc)
    assert message and "\n" not in message, f"not one line: {message!r}"

