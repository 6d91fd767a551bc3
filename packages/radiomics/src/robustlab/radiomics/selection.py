"""Selection: shape dependence, the voxel-shuffling texture test, and the robust feature list.

- Shape dependence: a non-shape feature whose Spearman rank correlation with a shape feature
  across the ROIs of an acquisition is ``|rho| > rho_threshold`` (default 0.8) carries shape
  information rather than texture. Computed per acquisition with one
  :func:`robustlab.common.stats.spearman_matrix` call (features x shape features); a feature
  is shape-dependent when the median over acquisitions of its largest ``|rho|`` exceeds the
  threshold (a feature computed with several parameter files is judged on the file with the
  most acquisitions).
- Texture test: voxel intensities inside each ROI are shuffled (a seeded permutation) and the
  features re-extracted; a feature whose value does not change on any ROI,
  ``|shuffled - original| <= atol + rtol * |original|`` (defaults ``rtol = 1e-6``,
  ``atol = 1e-9``), cannot distinguish textures ("texture-blind"). Shuffling keeps the
  intensity histogram, so first-order features of the original image are texture-blind by
  construction, while texture matrices (GLCM, GLRLM, ...) of a structured texture change.
- The robust list: features excellent in every selected comparison, not shape features, not
  shape-dependent and not texture-blind; every dropped feature gets its reasons.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from robustlab.common.stats import spearman_matrix
from robustlab.radiomics.features import is_shape, split_names


def shape_dependence(
    tables: Mapping[str, pd.DataFrame], rho_threshold: float = 0.8
) -> pd.DataFrame:
    """Spearman dependence of every non-shape feature on the shape features.

    Args:
        tables: acquisition -> wide table (index ROI, columns features incl. shape features).
        rho_threshold: a feature is shape-dependent when its median (over acquisitions)
            largest ``|rho|`` against any shape feature is ``> rho_threshold``.

    Returns:
        One row per non-shape feature: ``feature, max_abs_rho, shape_partner,
        n_acquisitions, shape_dependent`` (``max_abs_rho`` NaN when no acquisition gives a
        defined correlation, e.g. fewer than 3 ROIs or constant features).

    Reference:
        Spearman C (1904). Am J Psychol 15(1):72-101.
    """
    # Acquisitions sharing a feature set (one parameter file) are stacked: (n_acq, n_features).
    groups: dict[tuple[str, ...], list[tuple[np.ndarray, np.ndarray]]] = {}
    for table in tables.values():
        values = table.to_numpy(np.float64)
        values = values[~np.all(np.isnan(values), axis=1)]
        columns = tuple(map(str, table.columns.tolist()))
        shape = is_shape(columns)
        if len(values) < 3 or not shape.any() or shape.all():
            continue
        rho = np.abs(spearman_matrix(values[:, ~shape], values[:, shape], nan_policy="propagate"))
        rho = np.where(np.isnan(rho), -np.inf, rho)
        arg = np.argmax(rho, axis=1)
        groups.setdefault(columns, []).append((np.take_along_axis(rho, arg[:, None], 1)[:, 0], arg))
    frames = []
    for columns, results in groups.items():
        names = np.asarray(columns, dtype=object)
        shape = is_shape(columns)
        top = np.stack([r[0] for r in results])  # (n_acq, n_features), -inf where undefined
        arg = np.stack([r[1] for r in results])
        finite = np.isfinite(top)
        with warnings.catch_warnings():  # a feature undefined in every acquisition: NaN
            warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
            median = np.nanmedian(np.where(finite, top, np.nan), axis=0) if finite.any() else \
                np.full(top.shape[1], np.nan)
        strongest = np.argmax(top, axis=0)  # the partner of the most correlated acquisition
        partner = names[shape][arg[strongest, np.arange(top.shape[1])]]
        frames.append(pd.DataFrame({
            "feature": names[~shape], "max_abs_rho": median,
            "shape_partner": np.where(finite.any(axis=0), partner, None),
            "n_acquisitions": finite.sum(axis=0)}))
    if not frames:
        return pd.DataFrame({"feature": pd.Series(dtype=str), "max_abs_rho": pd.Series(dtype=float),
                             "shape_partner": pd.Series(dtype=str),
                             "n_acquisitions": pd.Series(dtype=int),
                             "shape_dependent": pd.Series(dtype=bool)})
    out = pd.concat(frames, ignore_index=True)
    if len(frames) > 1:  # a feature in several feature sets: weigh by acquisitions, keep one row
        out = out.sort_values("n_acquisitions", ascending=False, kind="stable")
        out = out.drop_duplicates("feature").sort_index()
    out["shape_dependent"] = out["max_abs_rho"].fillna(-np.inf) > rho_threshold
    return out.reset_index(drop=True)


def texture_test(
    original: Mapping[str, pd.DataFrame], shuffled: Mapping[str, pd.DataFrame],
    rtol: float = 1e-6, atol: float = 1e-9,
) -> pd.DataFrame:
    """Which features stay unchanged when voxel intensities are shuffled inside each ROI.

    Args:
        original: acquisition -> wide table of the original images.
        shuffled: acquisition -> wide table of the same ROIs after shuffling.
        rtol: a value is unchanged when ``|shuffled - original| <= atol + rtol *
            |original|`` (both NaN counts as unchanged).
        atol: see ``rtol``.

    Returns:
        One row per feature present in both: ``feature, max_rel_change, n_values,
        texture_blind`` (texture-blind: unchanged on every compared ROI).
    """
    orig_parts, shuf_parts = [], []
    for aid, table in shuffled.items():
        if aid not in original:
            continue
        base = original[aid]
        rois = [r for r in table.index if r in base.index]
        cols = [c for c in table.columns if c in base.columns]
        orig_parts.append(base.loc[rois, cols])
        shuf_parts.append(table.loc[rois, cols])
    if not orig_parts:
        return pd.DataFrame({"feature": pd.Series(dtype=str), "max_rel_change": pd.Series(dtype=float),
                             "n_values": pd.Series(dtype=int), "texture_blind": pd.Series(dtype=bool)})
    a = pd.concat(orig_parts, ignore_index=True)
    b = pd.concat(shuf_parts, ignore_index=True).reindex(columns=a.columns)
    x, y = a.to_numpy(np.float64), b.to_numpy(np.float64)
    both_nan = np.isnan(x) & np.isnan(y)
    diff = np.abs(y - x)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # a change from 0 is inf: texture-sensitive
        unchanged = np.where(both_nan, True, diff <= atol + rtol * np.abs(x))
        rel = np.where(both_nan, 0.0, diff / np.maximum(np.abs(x), np.finfo(float).tiny))
    rel = np.where(np.isnan(rel), np.inf, rel)
    return pd.DataFrame({"feature": a.columns, "max_rel_change": rel.max(axis=0),
                         "n_values": np.full(len(a.columns), len(a)),
                         "texture_blind": unchanged.all(axis=0)})


def select_features(
    per_feature: pd.DataFrame, select_on: Sequence[str], threshold: float,
    shape: pd.DataFrame | None = None, texture: pd.DataFrame | None = None,
    drop_shape: bool = True,
) -> pd.DataFrame:
    """The verdict for every feature, with the reasons of every drop.

    Args:
        per_feature: from :func:`robustlab.radiomics.comparisons.compare`.
        select_on: the comparison rows a feature must be excellent in (a feature absent from
            a comparison, e.g. a 3D-only feature in a 2D comparison, is not judged by it).
        threshold: the excellence cut (for the reason text).
        shape: from :func:`shape_dependence` (None: not tested).
        texture: from :func:`texture_test` (None: not tested).
        drop_shape: drop the shape features themselves (they describe the ROI, not the tissue).

    Returns:
        One row per feature: ``feature, image_type, feature_class, n_comparisons, robust,
        reason`` (``reason`` is empty for a robust feature, else every reason joined by ``; ``).
    """
    features = pd.unique(per_feature["feature"])
    out = split_names(features)[["feature", "image_type", "feature_class"]]
    index = pd.Index(out["feature"])
    reasons: list[np.ndarray] = []  # one array of texts per criterion ("" = passed)
    chosen = per_feature[per_feature["comparison"].isin(list(select_on))]
    n_comparisons = np.zeros(len(index), dtype=np.int64)
    for name, rows in chosen.groupby("comparison", sort=False):
        pos = index.get_indexer(rows["feature"])
        n_comparisons[pos] += 1
        failed = ~rows["excellent"].to_numpy(bool)
        value = rows["value"].to_numpy(np.float64)[failed]
        statistic = rows["statistic"].iloc[0]
        text = np.full(len(index), "", dtype=object)
        detail = np.where(np.isnan(value), "undefined",
                          np.char.mod(f"= %.3f <= {threshold:g}", value).astype(object))
        text[pos[failed]] = f"not excellent in {name}: {statistic} " + detail.astype(object)
        reasons.append(text)
    if drop_shape:
        reasons.append(np.where(out["feature_class"].isin(["shape", "shape2D"]).to_numpy(),
                                "shape feature (describes the ROI, not its texture)", ""))
    if shape is not None and not shape.empty:
        s = shape.set_index("feature").reindex(index)
        flag = s["shape_dependent"].astype("boolean").fillna(False).to_numpy(bool)
        text = np.full(len(index), "", dtype=object)
        text[flag] = [f"shape-dependent: |rho| = {r:.2f} with {p}" for r, p in
                      zip(s["max_abs_rho"].to_numpy()[flag], s["shape_partner"].to_numpy()[flag],
                          strict=True)]
        reasons.append(text)
    if texture is not None and not texture.empty:
        t = texture.set_index("feature").reindex(index)
        flag = t["texture_blind"].astype("boolean").fillna(False).to_numpy(bool)
        text = np.full(len(index), "", dtype=object)
        text[flag] = [f"texture-blind: unchanged by voxel shuffling (max relative change {c:.1e})"
                      for c in t["max_rel_change"].to_numpy()[flag]]
        reasons.append(text)
    joined = ["; ".join(r for r in parts if r) for parts in zip(*reasons, strict=True)] \
        if reasons else [""] * len(index)
    out["n_comparisons"] = n_comparisons
    out["reason"] = joined
    out["robust"] = out["reason"] == ""
    return out[["feature", "image_type", "feature_class", "n_comparisons", "robust", "reason"]]


def shape_only(shape: pd.DataFrame, texture: pd.DataFrame | None) -> pd.DataFrame:
    """Which non-shape features carry only shape information (after arXiv 2005.06833).

    The study flags non-shape features that "provide only shape information". Its two tests,
    as read here (where its text leaves a choice open, the choice is stated):

    1. shape dependence: Spearman ``|rho| > 0.8`` between the feature and at least one shape
       feature across the ROIs (:func:`shape_dependence`: the median over the acquisitions
       of the largest ``|rho|``);
    2. voxel-shuffle classification: the voxels inside each ROI are shuffled, which keeps the
       ROI's shape and intensity histogram and destroys its texture; a feature whose value
       does not change on any ROI (:func:`texture_test`) is classified as carrying no texture.

    A feature meeting both is *shape-only*; a shape-dependent feature that the shuffling does
    change is *shape-dependent with texture* (it follows the ROI's size and shape, yet also
    responds to texture). The percentage's denominator is every non-shape feature of the
    extraction family with a defined shape correlation and a texture-test result (the
    abstract's "non-shape features", not only the robust ones); :func:`shape_only_summary`
    also counts the shape-only features among those excellent in every selected comparison
    (the robust non-shape features the study's sentence is about).

    Args:
        shape: from :func:`shape_dependence`.
        texture: from :func:`texture_test` (None: no texture test, no verdict).

    Returns:
        One row per non-shape feature with both verdicts: ``feature, shape_dependent,
        texture_blind, shape_only, shape_with_texture``.
    """
    if texture is None or texture.empty or shape.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in (
            ("feature", str), ("shape_dependent", bool), ("texture_blind", bool),
            ("shape_only", bool), ("shape_with_texture", bool))})
    judged = shape.dropna(subset=["max_abs_rho"]).merge(
        texture[["feature", "texture_blind"]], on="feature", how="inner")
    dependent = judged["shape_dependent"].to_numpy(bool)
    blind = judged["texture_blind"].to_numpy(bool)
    return pd.DataFrame({"feature": judged["feature"], "shape_dependent": dependent,
                         "texture_blind": blind, "shape_only": dependent & blind,
                         "shape_with_texture": dependent & ~blind})


def shape_only_summary(verdicts: pd.DataFrame, excellent: Sequence[str]) -> dict[str, float]:
    """The shape-only and shape-dependent-with-texture counts and percentages of a family.

    Args:
        verdicts: from :func:`shape_only`.
        excellent: the features excellent in every selected comparison.

    Returns:
        ``n_non_shape`` (the denominator: non-shape features judged by both tests),
        ``n_shape_only``, ``pct_shape_only = 100 n_shape_only / n_non_shape``,
        ``n_shape_only_excellent`` (among the features excellent in every selected
        comparison), ``n_shape_with_texture`` and ``pct_shape_with_texture``.
    """
    n = len(verdicts)
    good = verdicts["feature"].isin(list(excellent)).to_numpy(bool)
    only = verdicts["shape_only"].to_numpy(bool)
    with_texture = verdicts["shape_with_texture"].to_numpy(bool)
    return {"n_non_shape": n, "n_shape_only": int(only.sum()),
            "pct_shape_only": 100.0 * only.sum() / n if n else np.nan,
            "n_shape_only_excellent": int((only & good).sum()),
            "n_shape_with_texture": int(with_texture.sum()),
            "pct_shape_with_texture": 100.0 * with_texture.sum() / n if n else np.nan}


def shape_correlated_excellent(shape: pd.DataFrame, excellent: Sequence[str]) -> dict[str, float]:
    """The second reading of the study's shape-only figure: robust features that follow shape.

    "Non-shape features excellent in every comparison of the family that correlate with a
    shape feature, ``|rho| > 0.8``": no texture test, so it can be computed on feature tables
    alone (the study's released CSVs). Neither this reading nor :func:`shape_only`'s is
    confirmed by the study's released code, which has no definition of the figure.

    Args:
        shape: from :func:`shape_dependence` (its ``shape_dependent`` verdict).
        excellent: the features excellent in every selected comparison of the family.

    Returns:
        ``n_shape_correlated_excellent`` and ``pct_shape_correlated_excellent = 100 n /
        n_non_shape``, the denominator every non-shape feature with a defined correlation.
    """
    judged = shape.dropna(subset=["max_abs_rho"])
    hit = judged["shape_dependent"].to_numpy(bool) & judged["feature"].isin(list(excellent)).to_numpy(bool)
    n = len(judged)
    return {"n_shape_correlated_excellent": int(hit.sum()),
            "pct_shape_correlated_excellent": 100.0 * hit.sum() / n if n else np.nan}
