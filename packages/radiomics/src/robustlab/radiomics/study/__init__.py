# ruff: noqa: F401 - the names imported for type checkers only are re-exported
"""The study: its file read, its files checked, one module per job.

- :mod:`.model`: what a study is (acquisitions, comparisons; the validated study);
- :mod:`.bundled`: the bundled parameter files and studies, names and paths resolved;
- :mod:`.schema`: the keys of a study file and of a planner's design, each with its declared
  constraint, and the one binder that checks them;
- :mod:`.load`: the study YAML read into a :class:`~.model.Study`;
- :mod:`.images`: reading an image (all that extraction workers import of this package);
- :mod:`.feature_csv`: pyradiomics feature CSVs read into wide tables;
- :mod:`.validate` and :mod:`.integrity`: every check, before any extraction.

The names below are importable from ``robustlab.radiomics.study`` itself; each module is
imported on first use of one of its names, so that importing :mod:`.images` alone (an
extraction worker) imports nothing else of the package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from robustlab.radiomics.errors import StudyError
from robustlab.radiomics.lazy import lazy_exports

#: name -> the module of this package that defines it
_MODULES = {
    "Acquisition": "model", "Comparison": "model", "RoiMask": "model", "Study": "model",
    "ValidatedStudy": "model",
    "extraction_dir": "bundled", "list_extractions": "bundled", "list_studies": "bundled",
    "resolve_extraction": "bundled", "resolve_study": "bundled", "study_dir": "bundled",
    "COMBINE": "load", "load_study": "load",
    "read_image": "images",
    "NON_FEATURE_COLUMNS": "feature_csv", "csv_family": "feature_csv",
    "drop_repeated_headers": "feature_csv", "feature_columns": "feature_csv",
    "identifier_table": "feature_csv", "read_feature_csv": "feature_csv",
    "check_distinct": "validate", "check_geometry": "validate", "check_members": "validate",
    "check_pyradiomics_geometry": "validate", "check_same_columns": "validate",
    "check_scalar_volume": "validate", "texture_targets": "validate", "validate_study": "validate",
}
__all__ = ["StudyError", *sorted(_MODULES)]


__getattr__, __dir__ = lazy_exports(__name__, _MODULES)

if TYPE_CHECKING:  # the same names, for type checkers
    from robustlab.radiomics.study.bundled import (
        extraction_dir,
        list_extractions,
        list_studies,
        resolve_extraction,
        resolve_study,
        study_dir,
    )
    from robustlab.radiomics.study.feature_csv import (
        NON_FEATURE_COLUMNS,
        csv_family,
        drop_repeated_headers,
        feature_columns,
        identifier_table,
        read_feature_csv,
    )
    from robustlab.radiomics.study.images import read_image
    from robustlab.radiomics.study.load import COMBINE, load_study
    from robustlab.radiomics.study.model import (
        Acquisition,
        Comparison,
        RoiMask,
        Study,
        ValidatedStudy,
    )
    from robustlab.radiomics.study.validate import (
        check_distinct,
        check_geometry,
        check_members,
        check_pyradiomics_geometry,
        check_same_columns,
        check_scalar_volume,
        texture_targets,
        validate_study,
    )
