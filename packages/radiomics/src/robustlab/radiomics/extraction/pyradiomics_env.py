"""pyradiomics' process-wide state: its version and its loggers.

Extraction (:mod:`robustlab.radiomics.extraction.worker`) and the validation of parameter files
(:mod:`robustlab.radiomics.extraction.params`) both quiet pyradiomics before they call it.
"""

from __future__ import annotations

import logging


def pyradiomics_version() -> str:
    """The installed pyradiomics version (part of every cache key)."""
    import radiomics

    return str(radiomics.__version__)


class _KnownNotices(logging.Filter):
    """Drops pyradiomics' per-ROI notice that GLCM Sum Average is 2 x Joint Average.

    It is emitted at WARNING for every ROI whenever GLCM is symmetrical (the default) and says
    nothing about the data; every other warning passes.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "Sum Average = 2 * Joint Average" not in record.getMessage()


def quiet_pyradiomics() -> None:
    """Set pyradiomics' loggers to WARNING (it logs every feature class at INFO), and pykwalify's."""
    import radiomics

    radiomics.setVerbosity(logging.WARNING)
    logging.getLogger("pykwalify").setLevel(logging.WARNING)  # "validation.valid" per parameter file
    logger = logging.getLogger("radiomics")
    logger.setLevel(logging.WARNING)
    glcm = logging.getLogger("radiomics.glcm")
    if not any(isinstance(f, _KnownNotices) for f in glcm.filters):
        glcm.addFilter(_KnownNotices())
