"""The fuzz suite's settings and contract (every module here is marked ``fuzz``).


Few examples per test in the default run (a few seconds in all), many under ``make fuzz``
(``HYPOTHESIS_PROFILE=fuzz``, see tests/conftest.py).
Every fuzz test asserts one contract: the function returns a correct result, or raises one of
the project's errors (:class:`~robustlab.common.errors.RobustlabError`) with a one-line
message; never another exception, never a silently different number.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st

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



def result_or_project_error(call: Callable[[], Any], done: str = "accepted") -> Any:
    """``call()``'s result, or None when it raised a project error in one line (recorded as a
    hypothesis event); any other exception fails the test."""
    try:
        result = call()
    except Exception as exc:  # noqa: BLE001 - the contract is checked on any exception
        check_project_error(exc)
        event(f"refused: {type(exc).__name__}")
        return None
    event(done)
    return result


def write_body(path: Path, body: bytes | str) -> None:
    """Write fuzzed bytes, or text (lone surrogates kept as they are), to ``path``."""
    if isinstance(body, bytes):
        path.write_bytes(body)
    else:
        path.write_text(body, encoding="utf-8", errors="surrogatepass")


def write_yaml(path: Path, doc: Any) -> bool:
    """Write ``doc`` as YAML to ``path``; False when YAML cannot represent it (nothing to read)."""
    import yaml

    try:
        path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    except yaml.YAMLError:
        return False
    return True


#: Any bytes or text, for a file the project reads.
bodies = st.one_of(st.binary(max_size=200), st.text(max_size=200))
#: Small values of every YAML kind, nested: what a careless edit may put under any key.
junk = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(), st.text(max_size=4)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=3), inner, max_size=3)),
    max_leaves=6,
)
