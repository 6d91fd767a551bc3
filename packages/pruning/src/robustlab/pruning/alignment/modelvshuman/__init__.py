"""The model-vs-human benchmark (Geirhos et al. 2021), computed as bethgelab/model-vs-human computes it.

- :mod:`.categories`: the 16 categories and the 16-class decision of a 1000-class ImageNet model.
- :mod:`.experiments`: the 17 datasets, their conditions and the excluded ones.
- :mod:`.raw_data`: the raw-data CSV reader (their parsing rules).
- :mod:`.metrics`: accuracy difference, observed and error consistency, shape bias.
- :mod:`.benchmark`: :func:`benchmark`, the benchmark table from decision CSVs alone.
- :mod:`.decisions`: stimuli, preprocessing, a torch model's decisions written as raw-data CSVs.
- :mod:`.evaluate`: a model end to end, and the sweep's alignment rows.

Reference:
    Geirhos R, Narayanappa K, Mitzkus B, Thieringer T, Bethge M, Wichmann FA, Brendel W (2021).
    Partial success in closing the gap between human and machine vision. NeurIPS.
    Code and data: https://github.com/bethgelab/model-vs-human
"""

from robustlab.pruning.alignment.modelvshuman.benchmark import METRICS, benchmark
from robustlab.pruning.alignment.modelvshuman.categories import CATEGORIES, IMAGENET_INDICES, decide
from robustlab.pruning.alignment.modelvshuman.decisions import (
    list_stimuli,
    model_decisions,
    write_decisions,
)
from robustlab.pruning.alignment.modelvshuman.evaluate import (
    evaluate_model,
    modelvshuman_suite,
    run_benchmark,
)
from robustlab.pruning.alignment.modelvshuman.experiments import (
    DATASETS,
    EXCLUDED_CONDITIONS,
    benchmark_conditions,
)
from robustlab.pruning.alignment.modelvshuman.metrics import shape_bias, shape_bias_per_category
from robustlab.pruning.alignment.modelvshuman.raw_data import read_trials

__all__ = [
    "CATEGORIES", "DATASETS", "EXCLUDED_CONDITIONS", "IMAGENET_INDICES", "METRICS", "benchmark",
    "benchmark_conditions", "decide", "evaluate_model", "list_stimuli", "model_decisions",
    "modelvshuman_suite", "read_trials", "run_benchmark", "shape_bias", "shape_bias_per_category",
    "write_decisions",
]
