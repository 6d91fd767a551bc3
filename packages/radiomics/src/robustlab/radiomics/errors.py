"""The radiomics package's error type (a :class:`~robustlab.common.errors.RobustlabError`)."""

from __future__ import annotations

from robustlab.common.errors import RobustlabError


class StudyError(RobustlabError, ValueError):
    """A study file that cannot be analysed; the message names the file and the key at fault."""
