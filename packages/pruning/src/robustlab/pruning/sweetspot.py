"""Sweet spots: sparsities where a metric is better than at the dense step by a practical margin.

Runs (one sweep job each: a seed, a model, a pruning method) are gathered into one long table
of per-image values, ``model, prune_method, seed, step, sparsity, table, method, metric, level,
index, value`` (:func:`robustlab.pruning.runs.load_per_image`). A *curve* is one ``(model,
prune_method, table, method, metric, level)``; its step 0 is the dense model.

The test, per curve and sparse step ``t``:

1. Per seed ``s`` and image ``i``, the paired gain ``d_{s,i,t} = direction x (x_{s,i,t} -
   x_{s,i,0})``, direction +1 where higher is better and -1 where lower is, so ``d > 0`` always
   means "better than dense"; a pair with a NaN side (a value the metric leaves undefined, a
   seed stopped before step ``t``) is left out.
2. The gain is the mean of the finite pairs, and seeds and images are *crossed* random factors
   (every seed scores the same images): its variance is the sum of the seed term and the image
   term of :func:`robustlab.common.stats.crossed_mean` (formula, references and the level it
   holds there), with Student's t on the images' degrees of freedom. With one seed the
   inference is over images only: it speaks for that trained model, not for retraining
   (``scope`` says so).
3. The hypothesis of a step is one-sided, ``H0: gain <= margin``, the metric's practical margin
   (:data:`DEFAULT_MARGINS`, :func:`metric_margin`): a finding is a gain that is both certain
   and large enough to matter, and ``p`` is the one-sided p-value of that hypothesis. A step
   with fewer than ``min_pairs`` finite pairs (``n_pairs``) is untestable: p is NaN, and NaN p
   are outside the Holm family.
4. Holm's step-down adjustment (:func:`robustlab.common.stats.holm`) across every test of the
   report (``holm_scope="report"``, the default: every curve and sparse step, one family), or
   across each curve's sparse steps (``"curve"``); the family-wise rate of false sweet spots is
   at most alpha.
5. A sweet spot where the Holm-adjusted p < alpha, that is where the one-sided lower confidence
   bound at the level Holm's step-down gives that hypothesis, ``1 - alpha / (m - r + 1)`` for
   the r-th smallest of ``m`` p-values (``ci_low_adj``), lies above the margin.

References:
    Holm S (1979). A simple sequentially rejective multiple test procedure. Scand J Stat 6(2):65-70.
    Lakens D, Scheel AM, Isager PM (2018). Equivalence testing for psychological research: a
    tutorial. Adv Methods Pract Psychol Sci 1(2):259-269 (the smallest effect of interest).
"""

from __future__ import annotations

import fnmatch
import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import pandas as pd

from robustlab.common.constraints import Interval, OneOf
from robustlab.common.errors import ConfigError
from robustlab.common.stats import crossed_mean, holm
from robustlab.pruning.suites import suite_tables

log = logging.getLogger(__name__)

CURVE_KEYS = ["model", "prune_method", "table", "method", "metric", "level"]
HOLM_SCOPES = ("curve", "report")
#: Fewest finite (dense, sparse) pairs for a step to be tested; below it the step's p is NaN.
MIN_PAIRS = 5
#: A curve whose images hold a finite pair at a step on less than this share is named in the report.
MOSTLY_UNDEFINED = 0.5
SCOPE_IMAGES = "images (one seed: this trained model, not retraining)"
SCOPE_CROSSED = "seeds x images"


#: The directions of the sweep's own table, ``metrics.csv`` (top-1, top-5: higher is better);
#: every suite declares its own when it registers (:func:`robustlab.pruning.suites.register_suite`).
ACCURACY_DIRECTIONS: tuple[tuple[str, str, int], ...] = (("*", "top*", +1),)


def table_directions() -> dict[str, tuple[tuple[str, str, int], ...]]:
    """Table -> its ``(method, metric, direction)`` patterns: accuracy and every registered suite."""
    return {"accuracy": ACCURACY_DIRECTIONS, **suite_tables()}


def metric_direction(table: str, method: str, metric: str,
                     directions: Sequence[tuple[str, str, str, int]] | None = None) -> int:
    """The declared direction of a metric: +1 higher is better, -1 lower is better, 0 untested.

    ``directions`` (``(table, method, metric, direction)`` glob patterns) are searched before
    the directions the metric's suite declared (:func:`table_directions`); the first match
    wins, and a metric that matches nothing is not tested (0).
    """
    for t, m, k, d in directions or []:
        if (fnmatch.fnmatchcase(str(table), t) and fnmatch.fnmatchcase(str(method), m)
                and fnmatch.fnmatchcase(str(metric), k)):
            return int(d)
    for m, k, d in table_directions().get(str(table), ()):
        if fnmatch.fnmatchcase(str(method), m) and fnmatch.fnmatchcase(str(metric), k):
            return int(d)
    return 0




#: The practical margin a sweet spot's lower bound must clear, as ``(table, method, metric,
#: margin)`` glob patterns (first match wins): a number is in the metric's own units, a string
#: ``"N%"`` is N % of the dense value's magnitude. Every tested metric of the bundled suites lies
#: on [0, 1] or [-1, 1] (accuracy, RMA, RRA, pointing game, deletion and insertion AUC,
#: randomisation Spearman, CorLoc, shape bias, OOD accuracy, error consistency) except Quantus'
#: complexity and sensitivity scores, which have no fixed scale. Default: 0.01, one percentage
#: point, on the bounded metrics and 1 % of the dense value on the others. A margin is a choice
#: of the smallest gain worth reporting (Lakens, Scheel and Isager 2018), not a statistic: one
#: point is the smallest change a [0, 1] curve is read at, and it stops a gain such as 0.0008
#: (one image in 1250) from being a finding however many images make it certain.
DEFAULT_MARGINS: tuple[tuple[str, str, str, float | str], ...] = (
    ("interpretability", "*", "*complexity*", "1%"),
    ("interpretability", "*", "*sensitivity*", "1%"),
    ("*", "*", "*", 0.01),
)
Margins = Sequence[tuple[str, str, str, float | str]]


def parse_margins(spec: Mapping[str, float | str] | Sequence[str] | None) -> list[tuple[str, str, str, float | str]]:
    """``sweetspot.margin`` (``{"table/method/metric": margin}``) or ``--margin`` items
    (``"table/method/metric=margin"``) as :func:`metric_margin` patterns.

    Raises:
        ConfigError: a pattern without two ``/``, or a margin that is neither a number >= 0
            nor ``"N%"`` with N >= 0 (the message names the entry).
    """
    items = spec.items() if isinstance(spec, Mapping) else [str(s).rpartition("=")[::2] for s in spec or []]
    out: list[tuple[str, str, str, float | str]] = []
    for key, value in items:
        parts = str(key).split("/")
        if len(parts) != 3 or not all(parts[::2]):
            raise ConfigError(f"sweetspot.margin: {key!r} is not a table/method/metric pattern "
                              "(e.g. 'accuracy/*/top1' or 'interpretability/gradcam/*')")
        out.append((parts[0], parts[1], parts[2], _check_margin(str(key), value)))
    return out


def _check_margin(key: str, value: float | str) -> float | str:
    text = str(value).strip()
    try:
        number = float(text[:-1] if text.endswith("%") else text)
    except ValueError:
        number = float("nan")
    if not number >= 0 or not np.isfinite(number):
        raise ConfigError(f"sweetspot.margin: {key}={value!r}; expected a number >= 0 or a share such as '1%'")
    return text if text.endswith("%") else number


def metric_margin(table: str, method: str, metric: str, dense: float, margins: Margins | None = None) -> float:
    """The margin of a metric in its own units: ``margins`` searched before :data:`DEFAULT_MARGINS`
    (first match wins); a share (``"1%"``) is taken of ``|dense|``."""
    for t, m, k, v in [*(margins or []), *DEFAULT_MARGINS]:
        if (fnmatch.fnmatchcase(str(table), t) and fnmatch.fnmatchcase(str(method), m)
                and fnmatch.fnmatchcase(str(metric), k)):
            return float(v[:-1]) / 100 * abs(float(dense)) if isinstance(v, str) else float(v)
    return 0.0


@dataclass(frozen=True)
class SweetSpotOptions:
    """``sweetspot``: the settings of the sweet-spot test (each field's declared range is checked
    when the config is bound, :func:`robustlab.common.config.from_dict`; the margins always).

    Attributes:
        alpha: family-wise error rate of the Holm family, in (0, 1).
        holm_scope: ``"report"`` (every test of the report one family) or ``"curve"``.
        min_pairs: fewest finite (dense, sparse) pairs for a step to be tested, at least 2.
        margin: ``"table/method/metric"`` glob -> practical margin (a number in the metric's
            units, or ``"N%"`` of the dense value), searched before :data:`DEFAULT_MARGINS`
            (None: the defaults alone).
    """

    alpha: Annotated[float, Interval(0, 1, closed="neither")] = 0.05
    holm_scope: Annotated[str, OneOf(*HOLM_SCOPES)] = "report"
    min_pairs: Annotated[int, Interval(2, None)] = MIN_PAIRS
    margin: dict[str, float | str] | None = None

    def __post_init__(self) -> None:
        parse_margins(self.margin)

    def margins(self) -> list[tuple[str, str, str, float | str]]:
        """:attr:`margin` as :func:`metric_margin` patterns."""
        return parse_margins(self.margin)


# --------------------------------------------------------------------------------------------
# The test
# --------------------------------------------------------------------------------------------

def _raw_test(x: np.ndarray, alpha: float, min_pairs: int, margin: np.ndarray) -> dict[str, np.ndarray]:
    """Gain, two-sided interval and the one-sided p of ``gain <= margin`` (``(C,)``) per (curve,
    sparse step) of ``(S, N, C, T)`` signed values, unadjusted; a step with fewer than
    ``min_pairs`` finite pairs has p NaN."""
    gains = x[..., 1:] - x[..., :1]
    margin = np.broadcast_to(np.asarray(margin, dtype=np.float64), (x.shape[-2],))[:, None]
    res = crossed_mean(gains, alpha=alpha, null=margin, alternative="greater")
    pairs = np.isfinite(gains)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        dense = np.where(pairs, x[..., :1], 0.0).sum(axis=(0, 1)) / res.n_cells
    testable = np.isfinite(res.p_value) & (res.n_cells >= max(int(min_pairs), 2))
    return {"gain": res.estimate, "se": res.standard_error, "df": res.df, "ci_low": res.ci_low,
            "ci_high": res.ci_high, "p": np.where(testable, res.p_value, np.nan), "n_pairs": res.n_cells,
            "n_seeds_paired": res.n_rows, "n_images_paired": res.n_cols, "dense": dense, "result": res,
            "margin": np.broadcast_to(margin, res.estimate.shape)}


def _holm_levels(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Holm-adjusted p-values of all entries of ``p`` as one family, and each entry's divisor
    ``m - r + 1`` (its level is ``alpha / divisor``, ``r`` its rank among the ``m`` finite p)."""
    flat = p.reshape(-1)
    m = int(np.isfinite(flat).sum())
    order = np.argsort(np.where(np.isfinite(flat), flat, np.inf), kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(flat.size)
    return holm(flat).reshape(p.shape), (m - rank).reshape(p.shape)


def _holm_adjust(results: list[dict[str, np.ndarray]], scope: str) -> None:
    """Add ``p_holm`` and ``divisor`` to each group's results: per curve (row), or over all."""
    if scope == "curve":
        for out in results:
            levels = [_holm_levels(row) for row in out["p"]]
            out["p_holm"] = np.vstack([lv[0] for lv in levels])
            out["divisor"] = np.vstack([lv[1] for lv in levels])
        return
    if not results:
        return
    sizes = [out["p"].size for out in results]
    p_holm, divisor = _holm_levels(np.concatenate([out["p"].reshape(-1) for out in results]))
    for out, part_p, part_d in zip(results, np.split(p_holm, np.cumsum(sizes)[:-1]),
                                   np.split(divisor, np.cumsum(sizes)[:-1]), strict=True):
        out["p_holm"], out["divisor"] = part_p.reshape(out["p"].shape), part_d.reshape(out["p"].shape)


def _decide(out: dict[str, Any], alpha: float) -> None:
    """Add ``ci_low_adj`` (the one-sided lower bound at each testable hypothesis' Holm level) and
    ``sweet_spot`` (Holm rejects ``gain <= margin``: that bound lies above the margin)."""
    testable = np.isfinite(out["p"])
    with np.errstate(divide="ignore", invalid="ignore"):
        low = out["result"].lower_bound(alpha / np.where(testable, np.maximum(out["divisor"], 1), 1))
    out["ci_low_adj"] = np.where(testable, low, np.nan)
    out["sweet_spot"] = out["p_holm"] < alpha


def curve_test(values: np.ndarray, alpha: float = 0.05, margin: float | np.ndarray = 0.0,
               min_pairs: int = MIN_PAIRS, holm_scope: str = "report") -> dict[str, np.ndarray]:
    """Sweet-spot test of many curves measured on the same images (vectorized over curves).

    Args:
        values: ``(n_images, n_curves, n_steps)`` for one seed, or ``(n_seeds, n_images,
            n_curves, n_steps)``, already signed so that higher is better; step 0 is the dense
            model; NaN marks a missing value.
        alpha: family-wise error rate of the Holm family.
        margin: the practical margin, one for all curves or ``(n_curves,)``, in the values' units.
        min_pairs: fewest finite (dense, sparse) pairs for a step to be tested (p NaN below).
        holm_scope: ``"report"`` (every curve and step one family) or ``"curve"`` (per curve).

    Returns:
        Arrays of shape ``(n_curves, n_steps - 1)``: ``gain`` (sparse - dense), ``se``, ``df``,
        ``ci_low``, ``ci_high`` (two-sided, level ``1 - alpha``), ``p`` (one-sided, of ``gain
        <= margin``; NaN where untestable), ``p_holm``, ``ci_low_adj`` (the one-sided lower
        bound at the Holm level of each hypothesis), ``margin``, ``sweet_spot``, ``dense`` (the
        dense mean over the pairs), ``n_pairs``, ``n_seeds_paired`` and ``n_images_paired``.
    """
    if holm_scope not in HOLM_SCOPES:
        raise ConfigError(f"holm_scope must be one of {HOLM_SCOPES}, got {holm_scope!r}")
    x = np.asarray(values, dtype=np.float64)
    if x.ndim not in (3, 4) or x.shape[-1] < 2:
        raise ValueError("values must be (n_images, n_curves, n_steps) or (n_seeds, n_images, n_curves, n_steps) "
                         f"with a dense and a sparse step; got shape {x.shape}")
    out = _raw_test(x if x.ndim == 4 else x[None], alpha, min_pairs, np.asarray(margin, dtype=np.float64))
    _holm_adjust([out], holm_scope)
    _decide(out, alpha)
    return out


def _curve_arrays(df: pd.DataFrame, keys: list[str]) -> dict[tuple[Any, ...], list[tuple[tuple[Any, ...], np.ndarray]]]:
    """Curves grouped by their shared seeds, images and steps: signature -> [(curve, array)].

    An array is ``(n_seeds, n_images, n_steps)`` of per-image values (NaN where a seed lacks
    an image or a step), each image the mean of its rows.
    """
    table = df.groupby([*keys, "seed", "index", "step"], sort=True, dropna=False)["value"].mean().unstack("step")
    groups: dict[tuple[Any, ...], list[tuple[tuple[Any, ...], np.ndarray]]] = {}
    for curve, block in table.groupby(level=list(range(len(keys))), sort=True, dropna=False):
        block = block.dropna(axis=1, how="all").droplevel(list(range(len(keys))))
        if 0 not in block.columns or block.shape[1] < 2:
            log.info("sweet spots: curve %s has no dense step or no sparse step; skipped", curve)
            continue
        seeds = sorted(set(block.index.get_level_values("seed")))
        images = sorted(set(block.index.get_level_values("index")))
        full = block.reindex(pd.MultiIndex.from_product([seeds, images], names=["seed", "index"]))
        array = full.to_numpy(dtype=np.float64).reshape(len(seeds), len(images), -1)
        groups.setdefault((tuple(seeds), tuple(images), tuple(block.columns)), []).append((curve, array))
    return groups


SWEET_COLUMNS = [*CURVE_KEYS, "direction", "step", "sparsity", "n_images", "n_seeds", "dense", "value", "gain", "se",
                 "df", "ci_low", "ci_high", "p", "p_holm", "ci_low_adj", "margin", "sweet_spot", "scope",
                 "holm_scope", "n_pairs", "n_images_defined", "defined_share", "testable"]


def find_sweet_spots(per_image: pd.DataFrame, directions: Sequence[tuple[str, str, str, int]] | None = None,
                     alpha: float = 0.05, holm_scope: str = "report", min_pairs: int = MIN_PAIRS,
                     margins: Margins | None = None) -> pd.DataFrame:
    """Test every curve of a per-image table (:func:`robustlab.pruning.runs.load_per_image`).

    Args:
        per_image: the long table of per-image values.
        directions: extra ``(table, method, metric, direction)`` patterns, searched before
            the suites' own (:func:`metric_direction`).
        alpha: family-wise error rate of the Holm family.
        holm_scope: ``"report"`` (Holm across every test of the table: every curve, every
            sparse step; the default) or ``"curve"`` (across each curve's sparse steps).
        min_pairs: fewest finite (dense, sparse) pairs for a step to be tested.
        margins: extra ``(table, method, metric, margin)`` patterns, searched before
            :data:`DEFAULT_MARGINS` (:func:`metric_margin`; :func:`parse_margins` reads them).

    Returns:
        One row per (curve, sparse step): the curve's keys, ``direction``, ``step``,
        ``sparsity`` (mean over seeds), ``n_images``, ``n_seeds`` (the seeds that reached the
        step), ``dense`` and ``value`` (the metric over the step's finite pairs, in its own
        units), ``gain`` (better-positive difference), ``se``, ``df``, ``ci_low``, ``ci_high``
        (two-sided, level ``1 - alpha``), ``p`` (one-sided, of ``gain <= margin``), ``p_holm``,
        ``ci_low_adj`` (the one-sided lower bound at Holm's level), ``margin`` (in the metric's units),
        ``sweet_spot``, ``scope`` (``"seeds x images"``, or images only with one seed),
        ``holm_scope``, ``n_pairs`` (finite seed-image pairs), ``n_images_defined`` (images
        with a finite pair), ``defined_share`` (their share of ``n_images``) and ``testable``
        (``n_pairs >= min_pairs`` with a finite p). Curves without a declared direction or
        without a dense step are left out.
    """
    if holm_scope not in HOLM_SCOPES:
        raise ConfigError(f"holm_scope must be one of {HOLM_SCOPES}, got {holm_scope!r}")
    df = _directed(per_image, directions)
    if df.empty:
        return pd.DataFrame(columns=SWEET_COLUMNS)
    keys = [*CURVE_KEYS, "direction"]
    tested = []
    for (_, images, steps), members in _curve_arrays(df, keys).items():
        stacked = np.stack([a * c[-1] for c, a in members], axis=-2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            margin = np.array([metric_margin(c[2], c[3], c[4], np.nanmean(a[..., 0]), margins) for c, a in members])
        tested.append((members, images, steps, _raw_test(stacked, alpha, min_pairs, margin)))
    _holm_adjust([t[-1] for t in tested], holm_scope)
    rows = []
    for members, images, steps, out in tested:
        _decide(out, alpha)
        rows += _rows(members, len(images), steps, out, keys, holm_scope)
    sweet = pd.DataFrame(rows, columns=SWEET_COLUMNS)
    by_step = df.groupby([*keys, "step"], dropna=False)
    at = pd.MultiIndex.from_frame(sweet[[*keys, "step"]])
    sweet["sparsity"] = by_step["sparsity"].mean().reindex(at).to_numpy()
    sweet["n_seeds"] = by_step["seed"].nunique().reindex(at).to_numpy()
    return sweet


def _directed(per_image: pd.DataFrame, directions: Sequence[tuple[str, str, str, int]] | None) -> pd.DataFrame:
    """The rows of metrics with a declared direction, with a ``direction`` column."""
    if per_image.empty:
        return per_image
    names = per_image[["table", "method", "metric"]].drop_duplicates()
    names["direction"] = [metric_direction(t, m, k, directions) for t, m, k in names.itertuples(index=False)]
    df = per_image.merge(names, on=["table", "method", "metric"], how="left")
    untested = df.loc[df["direction"] == 0, ["table", "method", "metric"]].drop_duplicates()
    if len(untested):
        log.info("sweet spots: %d metric(s) without a declared direction are not tested", len(untested))
    return df[df["direction"] != 0]


def _rows(members: list[tuple[tuple[Any, ...], np.ndarray]], n_images: int, steps: tuple[Any, ...],
          out: dict[str, Any], keys: list[str], holm_scope: str) -> list[dict[str, Any]]:
    """One ``sweet_spots.csv`` row per curve and sparse step of a tested group, in metric units."""
    rows = []
    for ci, (curve, _) in enumerate(members):
        direction = curve[-1]
        for si, step in enumerate(steps[1:]):
            at = (ci, si)
            dense = float(out["dense"][at]) * direction
            rows.append({
                **dict(zip(keys, curve, strict=True)), "step": int(step), "n_images": n_images,
                "dense": dense, "value": dense + float(out["gain"][at]) * direction,
                **{k: float(out[k][at]) for k in ("gain", "se", "df", "ci_low", "ci_high", "p", "p_holm",
                                                  "ci_low_adj", "margin")},
                "sweet_spot": bool(out["sweet_spot"][at]),
                "scope": SCOPE_CROSSED if out["n_seeds_paired"][at] > 1 else SCOPE_IMAGES,
                "holm_scope": holm_scope, "n_pairs": int(out["n_pairs"][at]),
                "n_images_defined": int(out["n_images_paired"][at]),
                "defined_share": float(out["n_images_paired"][at]) / n_images,
                "testable": bool(np.isfinite(out["p"][at])),
            })
    return rows


def summarize_sweet_spots(sweet: pd.DataFrame, metrics: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per curve: how many sparsities were tested and are sweet spots, their range, and the peak.

    Args:
        sweet: from :func:`find_sweet_spots`.
        metrics: the gathered ``metrics.csv`` tables, for the model's size (``params_nonzero`` at
            step 0, the mean over runs).

    Returns:
        One row per curve: keys, ``params_dense``, ``n_tested``, ``n_untestable`` (steps with p
        NaN), ``n_sweet``, ``sweet_min`` and ``sweet_max`` (sparsity range of the sweet spots),
        ``peak_sparsity``, ``peak_gain`` (the largest gain among the sweet spots; NaN without
        one), ``peak_ci_low``, ``peak_ci_high`` (its two-sided interval, level ``1 - alpha``),
        ``peak_ci_low_adj`` (its one-sided lower bound at Holm's level), ``margin``,
        ``scope`` (images only where a step has one seed), ``n_images`` and
        ``defined_min``, ``defined_max`` (the fewest and most images with a finite pair over
        the steps).
    """
    cols = [*CURVE_KEYS, "params_dense", "n_tested", "n_untestable", "n_sweet", "sweet_min", "sweet_max",
            "peak_sparsity", "peak_gain", "peak_ci_low", "peak_ci_high", "peak_ci_low_adj", "margin", "scope",
            "n_images", "defined_min", "defined_max"]
    if sweet.empty:
        return pd.DataFrame(columns=cols)
    size: dict[str, float] = {}
    if metrics is not None and not metrics.empty and {"model", "step", "params_nonzero"} <= set(metrics.columns):
        dense = metrics[metrics["step"] == 0]
        size = dense.groupby(dense["model"].astype(str))["params_nonzero"].mean().to_dict()
    rows = []
    for curve, block in sweet.groupby(CURVE_KEYS, sort=True, dropna=False):
        hits = block[block["sweet_spot"].astype(bool)]
        peak = hits.loc[hits["gain"].idxmax()] if len(hits) else None
        rows.append({
            **dict(zip(CURVE_KEYS, curve, strict=True)), "params_dense": size.get(str(curve[0]), np.nan),
            "n_tested": len(block), "n_untestable": int((~block["p"].notna()).sum()), "n_sweet": len(hits),
            "sweet_min": hits["sparsity"].min() if len(hits) else np.nan,
            "sweet_max": hits["sparsity"].max() if len(hits) else np.nan,
            **{f"peak_{k}": peak[k] if peak is not None else np.nan
               for k in ("sparsity", "gain", "ci_low", "ci_high", "ci_low_adj")},
            "margin": block["margin"].iloc[0],
            "scope": SCOPE_IMAGES if (block["scope"] == SCOPE_IMAGES).any() else SCOPE_CROSSED,
            "n_images": int(block["n_images"].iloc[0]), "defined_min": int(block["n_images_defined"].min()),
            "defined_max": int(block["n_images_defined"].max()),
        })
    return pd.DataFrame(rows, columns=cols)


def curve_name(row: Any) -> str:
    """``table/method/metric[@level]`` of a row with those fields (an empty method left out)."""
    name = "/".join(str(v) for v in (row.table, row.method, row.metric) if str(v))
    return name + (f"@{row.level:g}" if row.level else "")


def summarize_by_model(summary: pd.DataFrame) -> pd.DataFrame:
    """Sweet spots per architecture and size: one row per ``(model, prune_method)``.

    Args:
        summary: from :func:`summarize_sweet_spots`.

    Returns:
        ``model, prune_method, params_dense, curves_tested, curves_with_sweet_spot, sweet_min,
        sweet_max`` (the sparsity range over all its sweet spots) and ``metrics`` (the curves
        with a sweet spot, ``table/method/metric``).
    """
    cols = ["model", "prune_method", "params_dense", "curves_tested", "curves_with_sweet_spot", "sweet_min",
            "sweet_max", "metrics"]
    if summary.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for (model, pm), g in summary.groupby(["model", "prune_method"], sort=True):
        hits = g[g["n_sweet"] > 0]
        names = [curve_name(r) for r in hits.itertuples(index=False)]
        rows.append({"model": model, "prune_method": pm, "params_dense": g["params_dense"].iloc[0],
                     "curves_tested": len(g), "curves_with_sweet_spot": len(hits),
                     "sweet_min": hits["sweet_min"].min() if len(hits) else np.nan,
                     "sweet_max": hits["sweet_max"].max() if len(hits) else np.nan, "metrics": ", ".join(names)})
    return pd.DataFrame(rows, columns=cols)
