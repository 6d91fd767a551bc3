"""The study file: load it, resolve its paths, and validate everything before any extraction."""

from robustlab.radiomics.study.load import *  # noqa: F403 - the module's names, as before the package
