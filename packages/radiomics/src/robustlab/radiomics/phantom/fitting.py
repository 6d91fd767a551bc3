"""Fit the paper protocol's scanner settings to the study's released repeatability features.

Each fitted setting moves one training comparison's share of excellent features (the median
over the fitting seeds) and hardly any other, so the fit is a sequence of one-dimensional root
findings, solved together within a stage (:data:`STAGES`):

1. each scanner's ``snr_factor`` -> its fixed-position repeat (scans 1 and 2 share a set-up:
   only the noise and the series drift tell them apart);
2. each scanner's ``setup_field.amplitude`` -> its repositioned repeat (the field a new set-up
   brings acts on scan 3 only; :mod:`.scanner_effects`).

The seventh training comparison, between field strengths (B 1.5 T against B 3 T, both in their
first set-up), is not fitted: no setting of one scanner moves it alone, and the one that moves
it most, vendor B 3 T's residual non-uniformity, fits it only at a field a phantom QA would
fail (``docs/reference/phantom.md``). It is evaluated with the others and reported.

Every root is found by the secant method on ``log x`` (the settings are positive scale
factors): with ``g(x) = median share(x) - real share``,

    u_{k+1} = u_k - g_k (u_k - u_{k-1}) / (g_k - g_{k-1}),   u = log x,

started from the protocol's value and that value times :data:`FIRST_STEP`, each step kept
within a factor :data:`MAX_FACTOR`, until ``|g| <= tol`` points. The share is monotone in each
setting (more noise, a stronger field: fewer excellent features), which the secant needs. The
evaluations are the caller's (``scripts/fit_phantom.py`` simulates the training comparisons
at the fitting seeds, resumably); this module holds the bookkeeping, so it is tested without
any simulation.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setting:
    """A fitted setting: a scanner key, a dotted path in its entry, the comparison it moves."""

    scanner: str
    path: str
    comparison: str

    @property
    def name(self) -> str:
        return f"{self.scanner}.{self.path}"


STAGES: tuple[tuple[Setting, ...], ...] = (
    tuple(Setting(s, "snr_factor", f"repeat_fixed_{s}") for s in ("A15", "B15", "B30")),
    tuple(Setting(s, "setup_field.amplitude", f"repeat_repositioned_{s}") for s in ("A15", "B15", "B30")),
)
#: The second point of every secant: the start times this factor.
FIRST_STEP = 1.5
#: No step moves a setting by more than this factor.
MAX_FACTOR = 4.0


def get_value(protocol: Mapping[str, Any], setting: Setting) -> float:
    """The setting's value in ``protocol`` (an override of the scanner entry, else the scanner file's)."""
    from robustlab.radiomics.seed_runs import resolve_scanners

    node: Any = resolve_scanners(protocol)["scanners"][setting.scanner]
    for part in setting.path.split("."):
        node = node[part]
    return float(node)


def with_value(protocol: Mapping[str, Any], setting: Setting, value: float) -> dict[str, Any]:
    """A copy of ``protocol`` whose scanner entry overrides the setting with ``value``."""
    out = copy.deepcopy(dict(protocol))
    entry = out["scanners"][setting.scanner]
    if isinstance(entry, str):
        entry = {"base": entry}
    first, *rest = setting.path.split(".")
    if rest:  # a nested mapping (setup_field, nonuniformity): complete it from the resolved scanner
        from robustlab.radiomics.seed_runs import resolve_scanners

        nested = dict(resolve_scanners(out)["scanners"][setting.scanner].get(first) or {})
        nested[rest[0]] = value
        entry = {**entry, first: nested}
    else:
        entry = {**entry, first: value}
    out["scanners"][setting.scanner] = entry
    return out


def secant_step(u0: float, g0: float, u1: float, g1: float) -> float:
    """The next ``log x`` of the secant method, within ``log MAX_FACTOR`` of ``u1`` (``g0 != g1``)."""
    limit = math.log(MAX_FACTOR)
    step = -g1 * (u1 - u0) / (g1 - g0)
    return u1 + max(-limit, min(limit, step))


def fit(protocol: Mapping[str, Any], real: Mapping[str, float],
        evaluate: Callable[[dict[str, Any]], Mapping[str, float]], tol: float = 1.0,
        max_evaluations: int = 6, stages: tuple[tuple[Setting, ...], ...] = STAGES,
        report: Callable[[dict[str, Any]], None] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Fit ``stages`` in turn; returns the fitted protocol and one history row per setting and
    evaluation, then one per comparison of ``real`` of a final evaluation at the fitted values
    (``stage`` ``"final"``: what every comparison's median is once all stages are done; an
    unfitted comparison has no setting and a NaN value).

    Args:
        real: comparison -> real % excellent (the targets).
        evaluate: protocol -> comparison -> simulated median % excellent at the fitting seeds.
        tol: a setting is fitted when its median lies within ``tol`` points of its target.
        max_evaluations: evaluations per stage at most.
        report: called with each history row as it is made (progress).
    """
    current = copy.deepcopy(dict(protocol))
    history: list[dict[str, Any]] = []
    for number, stage in enumerate(stages, 1):
        points: dict[str, list[tuple[float, float]]] = {s.name: [] for s in stage}
        values = {s.name: get_value(current, s) for s in stage}
        for evaluation in range(1, max_evaluations + 1):
            for s in stage:
                current = with_value(current, s, values[s.name])
            medians = evaluate(current)
            open_settings = []
            for s in stage:
                g = float(medians[s.comparison]) - float(real[s.comparison])
                row = {"stage": number, "evaluation": evaluation, "setting": s.name, "value": values[s.name],
                       "comparison": s.comparison, "median": float(medians[s.comparison]),
                       "real": float(real[s.comparison]), "residual": g}
                history.append(row)
                if report is not None:
                    report(row)
                points[s.name].append((math.log(values[s.name]), g))
                if abs(g) > tol:
                    open_settings.append(s)
            if not open_settings:
                break
            for s in open_settings:
                pts = points[s.name]
                u1, g1 = pts[-1]
                # the first step, and any step after two equal medians (no slope to follow),
                # goes FIRST_STEP in the direction the share is known to move
                u_next = (u1 + math.log(FIRST_STEP) * (1 if g1 > 0 else -1) * _direction(s)
                          if len(pts) == 1 or pts[-2][1] == g1 else secant_step(*pts[-2], u1, g1))
                values[s.name] = math.exp(u_next)
    # a later stage can move an earlier stage's comparison (a repositioned scan's noise is its
    # scanner's): every comparison once more at the fitted values, the unfitted ones too
    medians = evaluate(current)
    fitted_by = {s.comparison: s for stage in stages for s in stage}
    for comparison in real:
        fitted = fitted_by.get(comparison)
        row = {"stage": "final", "evaluation": 1, "setting": fitted.name if fitted else "",
               "value": get_value(current, fitted) if fitted else math.nan, "comparison": comparison,
               "median": float(medians[comparison]), "real": float(real[comparison]),
               "residual": float(medians[comparison]) - float(real[comparison])}
        history.append(row)
        if report is not None:
            report(row)
    return current, history


def _direction(setting: Setting) -> int:
    """The sign of the first step per point of residual: a share above its target needs more
    noise (a lower ``snr_factor``) or a stronger field (a larger amplitude)."""
    return -1 if setting.path == "snr_factor" else 1
