"""A digital pelvic phantom and an MRI acquisition simulator (after arXiv 2005.06833).

- :mod:`.model`: the phantom (elliptic body, fat-like shell, gel filling, textured inserts).
- :mod:`.textures`: granular grain fields of the inserts.
- :mod:`.geometry`: the pose, the reconstruction grid and the ROI plan.
- :mod:`.acquisition`: partial volume, spin-echo contrast, receive bias, k-space
  truncation and reconstruction filter, Rician noise, vendor scaling.
- :mod:`.scanner_effects`: what makes scanners disagree: residual intensity non-uniformity,
  parallel-imaging noise (g-factor), geometric distortion.
- :mod:`.roi_drawing`: an operator's ROI circles and the label map they make.
- :mod:`.scanner`: a scanner file or a protocol's scanner entry, validated.
- :mod:`.protocol`: protocols and their validation.
- :mod:`.simulate`: :func:`simulate_study`, the entry point.
- :mod:`.study_writer`: NIfTI images, masks and the study file of the pipeline.
- :mod:`.released`: the study's released per-ROI features, the data the phantom is judged on.
- :mod:`.validity`: shares, intervals and per-feature scores of simulated against real verdicts.

Example:
    >>> from robustlab.radiomics.phantom import load_config, simulate_study   # doctest: +SKIP
    >>> study = simulate_study(load_config("protocol", "quick"), load_config("phantom", "pelvic"),
    ...                        out_dir, seed=0)
"""

from robustlab.radiomics.phantom.acquisition import list_filters, register_filter
from robustlab.radiomics.phantom.config import get_scanner, list_scanners, load_config
from robustlab.radiomics.phantom.protocol import plan_study
from robustlab.radiomics.phantom.simulate import (
    checked_plan,
    simulate_acquisitions,
    simulate_study,
    study_folder_name,
)

__all__ = [
    "checked_plan", "get_scanner", "list_filters", "list_scanners", "load_config", "plan_study",
    "register_filter", "simulate_acquisitions", "simulate_study", "study_folder_name",
]
