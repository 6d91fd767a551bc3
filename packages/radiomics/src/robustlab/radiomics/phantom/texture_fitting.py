"""Fit the inserts' textures and one scanner's noise to the released per-insert statistics.

The repeatability of a feature depends on how much of its value is the material's (fixed
between repeats) and how much the noise's (new in every repeat), so the phantom's textures
are fitted to what the study's released features say of each insert before any scanner is
fitted to the shares of excellent features (:mod:`.fitting`).

Data: the first fixed-position scan of one scanner (``B15_rep1``: vendor B 1.5 T), per insert
the mean over its four ROI sizes of three original-image features (:data:`STATISTICS`): the
normalised mean intensity ``m``, its variance ``v`` and the GLCM correlation ``c`` (neighbouring
pixels' grey-level correlation: the grain size against the noise).

Parameters (:class:`TextureParameters`, all positive, fitted as logarithms within
:data:`BOUNDS`): per insert its first grain component's ``1 + contrast``, the matrix proton
density and the grain size (every component's ``scale_mm`` scaled together, their ratios kept);
and the scanner's ``snr_factor``. No grain is finer than the texture grid
(``model.resolution_mm``): below it a grain field is white noise on the grid, a texture the
model cannot represent. Thirteen parameters (four inserts) for twelve residuals: the fit is
not unique, and the trust region keeps it near its start.

Objective: least squares over inserts ``i`` of the residuals

    (m_sim,i - m_real,i) / 10,   2 log(v_sim,i / v_real,i),   (c_sim,i - c_real,i) / 0.05,

each about one at a mismatch one would notice (ten normalised units of mean, a factor
``sqrt(e)`` in variance, 0.05 of correlation). Solver: ``scipy.optimize.least_squares``
(trust-region reflective) with a forward-difference Jacobian (steps :data:`JACOBIAN_STEP`).
One simulation per evaluation at a fixed seed, so the objective is a deterministic
function of the parameters (common random numbers):
:func:`simulated_statistics` simulates the one acquisition in memory and extracts the three
features with its own extraction settings (``scripts/fit_phantom.py --textures`` runs the fit).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

#: Original-image features whose per-insert means are fitted.
STATISTICS: tuple[str, ...] = (
    "original_firstorder_Mean", "original_firstorder_Variance", "original_glcm_Correlation")
#: Residual scales: a mean 10 normalised units off, a log variance ratio of 1/2, 0.05 of correlation.
MEAN_SCALE, LOG_VARIANCE_WEIGHT, CORRELATION_SCALE = 10.0, 2.0, 0.05
#: Step of the forward-difference Jacobian: ``0.05 max(1, |log x|)`` in ``log x`` (scipy's
#: ``diff_step``), about 5 % on a parameter near 1.
JACOBIAN_STEP = 0.05
#: Each parameter's range: ``1 + contrast`` (grains 50 times darker to 50 times brighter than
#: the matrix), matrix PD relative to water, grain size (mm; its lower end is the texture grid's
#: in-plane resolution, given to :func:`fit_textures`), SNR factor.
BOUNDS: dict[str, tuple[float, float]] = {
    "grain_pd_ratio": (0.02, 50.0), "matrix_pd": (0.02, 2.0), "grain_mm": (0.0, 20.0),
    "snr_factor": (0.01, 100.0)}


def insert_statistics(features: pd.DataFrame, n_inserts: int) -> np.ndarray:
    """``(n_inserts, 3)``: per insert, the mean of each of :data:`STATISTICS` over its ROIs.

    ``features`` has one row per ROI, insert by insert (the released files' order and the
    phantom's label order, ``10 x insert + size``), the same number of sizes for each.
    """
    if len(features) % n_inserts:
        raise ValueError(f"{len(features)} ROIs do not split into {n_inserts} inserts")
    values = features.loc[:, list(STATISTICS)].to_numpy(float)
    return values.reshape(n_inserts, -1, len(STATISTICS)).mean(axis=1)


def simulated_statistics(protocol: Mapping[str, Any], phantom: Mapping[str, Any], acquisition: str,
                         seed: int) -> np.ndarray:
    """:func:`insert_statistics` of one simulated acquisition of ``protocol``, in memory.

    Only :data:`STATISTICS` are extracted, with the acquisition's own pyradiomics settings
    (normalisation, bin width, 2D) as the study file would give them; the pipeline's whole
    extraction (944 features per ROI and filtered images) would take ten times longer per
    evaluation.
    """
    from radiomics.featureextractor import RadiomicsFeatureExtractor
    from robustlab.common.errors import ConfigError
    from robustlab.radiomics.extraction.pyradiomics_env import quiet_pyradiomics
    from robustlab.radiomics.phantom.protocol import plan_study
    from robustlab.radiomics.phantom.simulate import simulate_acquisitions
    from robustlab.radiomics.phantom.study_writer import acquisition_extractions, as_image

    plan = plan_study(dict(protocol), dict(phantom), seed)
    sim = simulate_acquisitions(plan, [acquisition])[acquisition]
    extraction, where = acquisition_extractions(plan)[acquisition]
    if extraction is None:
        raise ConfigError(f"{where}: no pyradiomics parameter file for {acquisition!r}")
    settings = {k: v for k, v in extraction.params()["setting"].items() if k != "label"}
    quiet_pyradiomics()
    extractor = RadiomicsFeatureExtractor(**settings)
    extractor.disableAllFeatures()
    by_class: dict[str, list[str]] = {}
    for name in STATISTICS:
        _, cls, feature = name.split("_")
        by_class.setdefault(cls, []).append(feature)
    extractor.enableFeaturesByName(**by_class)
    image = as_image(sim.image, sim.spacing_mm, sim.origin_mm)
    masks = [as_image(labels.astype(np.int32), sim.spacing_mm, sim.origin_mm) for labels in sim.mask]
    n_inserts, n_sizes = len(plan.phantom.inserts), len(plan.rois.diameters_mm)
    rows = []
    for i in range(n_inserts):
        for j in range(n_sizes):
            result = extractor.execute(image, masks[j], label=int(plan.rois.label(i, j)))
            rows.append({name: float(result[name]) for name in STATISTICS})
    return insert_statistics(pd.DataFrame(rows), n_inserts)


def residuals(simulated: np.ndarray, real: np.ndarray) -> np.ndarray:
    """The objective's residuals (module docstring), means, then variances, then correlations."""
    return np.concatenate([
        (simulated[:, 0] - real[:, 0]) / MEAN_SCALE,
        LOG_VARIANCE_WEIGHT * np.log(simulated[:, 1] / real[:, 1]),
        (simulated[:, 2] - real[:, 2]) / CORRELATION_SCALE,
    ])


@dataclass(frozen=True)
class TextureParameters:
    """The fitted values: per insert ``1 + contrast`` of its first component, matrix PD and
    grain size (mm, of the first component), and the scanner's ``snr_factor``."""

    grain_pd_ratio: tuple[float, ...]
    matrix_pd: tuple[float, ...]
    grain_mm: tuple[float, ...]
    snr_factor: float

    @classmethod
    def bounds(cls, n_inserts: int, min_grain_mm: float) -> tuple[TextureParameters, TextureParameters]:
        """The lowest and the highest parameters (:data:`BOUNDS`, grains at least ``min_grain_mm``)."""
        def at(k: int) -> TextureParameters:
            grain = max(BOUNDS["grain_mm"][k], min_grain_mm) if k == 0 else BOUNDS["grain_mm"][k]
            return cls((BOUNDS["grain_pd_ratio"][k],) * n_inserts, (BOUNDS["matrix_pd"][k],) * n_inserts,
                       (grain,) * n_inserts, BOUNDS["snr_factor"][k])
        return at(0), at(1)

    def to_log(self) -> np.ndarray:
        """The solver's vector: ``log`` of every value, insert by insert, then the SNR factor."""
        per_insert = np.stack([self.grain_pd_ratio, self.matrix_pd, self.grain_mm], axis=1).ravel()
        return np.log(np.append(per_insert, self.snr_factor))

    @classmethod
    def from_log(cls, x: Sequence[float] | np.ndarray) -> TextureParameters:
        values = np.exp(np.asarray(x, dtype=float))
        per_insert = values[:-1].reshape(-1, 3)
        return cls(tuple(per_insert[:, 0]), tuple(per_insert[:, 1]), tuple(per_insert[:, 2]),
                   float(values[-1]))

    @classmethod
    def read(cls, phantom: Mapping[str, Any], snr_factor: float) -> TextureParameters:
        """The values a phantom config (and the scanner's ``snr_factor``) hold now."""
        inserts = phantom["inserts"]
        first = [ins["texture"]["components"][0] for ins in inserts]
        return cls(tuple(1.0 + float(c["contrast"]) for c in first),
                   tuple(float(ins["tissue"]["pd"]) for ins in inserts),
                   tuple(float(c["scale_mm"]) for c in first), float(snr_factor))

    def apply(self, phantom: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of the phantom config holding these textures (the SNR factor is the caller's)."""
        out = copy.deepcopy(dict(phantom))
        if len(out["inserts"]) != len(self.matrix_pd):
            raise ValueError(f"{len(self.matrix_pd)} fitted inserts for a phantom of {len(out['inserts'])}")
        for i, ins in enumerate(out["inserts"]):
            comps = ins["texture"]["components"]
            ratio = self.grain_mm[i] / float(comps[0]["scale_mm"])
            for comp in comps:
                comp["scale_mm"] = round(float(comp["scale_mm"]) * float(ratio), 4)
            comps[0]["contrast"] = round(float(self.grain_pd_ratio[i]) - 1.0, 4)
            ins["tissue"]["pd"] = round(float(self.matrix_pd[i]), 4)
        return out


def fit_textures(start: TextureParameters, real: np.ndarray,
                 simulate: Callable[[TextureParameters], np.ndarray], min_grain_mm: float,
                 max_evaluations: int = 10,
                 report: Callable[[dict[str, Any]], None] | None = None,
                 ) -> tuple[TextureParameters, list[dict[str, Any]]]:
    """Least squares of :func:`residuals` from ``start``.

    Args:
        real: ``(n_inserts, 3)`` real statistics (:func:`insert_statistics`).
        simulate: parameters -> simulated ``(n_inserts, 3)`` statistics.
        min_grain_mm: the finest grain (the texture grid's in-plane resolution); a start
            outside :data:`BOUNDS` is moved inside.
        max_evaluations: the solver's budget of evaluations, its Jacobians not counted (each
            costs one evaluation per parameter).
        report: called with each history row as it is made (progress).

    Returns:
        The parameters of the least sum of squares met and one history row per evaluation
        (its parameters, statistics and sum of squares).
    """
    from scipy.optimize import least_squares

    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {}

    def objective(x: np.ndarray) -> np.ndarray:
        params = TextureParameters.from_log(x)
        simulated = simulate(params)
        r = residuals(simulated, real)
        row: dict[str, Any] = {"evaluation": len(history) + 1, "sum_of_squares": float(r @ r),
                               "snr_factor": params.snr_factor}
        for i in range(len(params.matrix_pd)):
            row |= {f"insert{i + 1}_grain_pd_ratio": params.grain_pd_ratio[i],
                    f"insert{i + 1}_matrix_pd": params.matrix_pd[i],
                    f"insert{i + 1}_grain_mm": params.grain_mm[i]}
            row |= {f"insert{i + 1}_{name.split('_')[-1].lower()}": float(simulated[i, k])
                    for k, name in enumerate(STATISTICS)}
        history.append(row)
        if not best or row["sum_of_squares"] < best["sum_of_squares"]:
            best.update(row, params=params)
        if report is not None:
            report(row)
        return r

    low, high = (b.to_log() for b in TextureParameters.bounds(len(start.matrix_pd), min_grain_mm))
    # a hair inside the bounds: the solver needs a strictly feasible start
    x0 = np.clip(start.to_log(), low + 1e-9, high - 1e-9)
    least_squares(objective, x0, bounds=(low, high), diff_step=JACOBIAN_STEP, max_nfev=max_evaluations)
    return best["params"], history
