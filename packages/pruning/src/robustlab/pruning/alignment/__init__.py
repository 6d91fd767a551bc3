"""Human alignment of a (pruned) model, after model-vs-human (Geirhos et al. 2019, 2020, 2021).

- :mod:`.shape_bias`: cue-conflict shape bias.
- :mod:`.distortions`: a registry of seeded image distortions with a level (0 = identity).
- :mod:`.consistency`: error consistency (Cohen's kappa of trial-wise correctness).
- :mod:`.human_data`: a reader for model-vs-human's stimuli and human raw-data folders.
- :mod:`.suite`: the ``alignment`` evaluation suite run by the sweep at every sparsity.
- :mod:`.modelvshuman`: the model-vs-human benchmark on its own stimuli and human raw data,
  computed as its authors' code computes it.
"""

from robustlab.pruning.alignment.consistency import error_consistency
from robustlab.pruning.alignment.distortions import (
    DISTORTIONS,
    distort,
    get_distortion,
    list_distortions,
    register_distortion,
)
from robustlab.pruning.alignment.shape_bias import HUMAN_SHAPE_BIAS, shape_bias, shape_decisions

__all__ = [
    "DISTORTIONS", "HUMAN_SHAPE_BIAS", "distort", "error_consistency", "get_distortion", "list_distortions",
    "register_distortion", "shape_bias", "shape_decisions",
]
