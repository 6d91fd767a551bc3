"""Feature names and tables: pyradiomics' ``<imageType>_<class>_<feature>``, tidy and wide.

A *wide* table has one row per ROI (index ``roi``) and one column per feature, as pyradiomics
writes them. The *tidy* table has one row per value: ``acquisition, roi, image_type,
feature_class, feature, value`` (``feature`` is pyradiomics' full name, e.g.
``wavelet-LH_glcm_Idmn``; ``image_type`` is ``wavelet-LH``, ``feature_class`` is ``glcm``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

SHAPE_CLASSES = ("shape", "shape2D")
FIRST_ORDER = "firstorder"


def split_names(names: Iterable[str]) -> pd.DataFrame:
    """Split feature names into ``image_type``, ``feature_class`` and ``name``.

    Example:
        >>> split_names(["wavelet-LH_glcm_Idmn"]).iloc[0].tolist()
        ['wavelet-LH_glcm_Idmn', 'wavelet-LH', 'glcm', 'Idmn']
    """
    names = [str(n) for n in names]
    parts = [n.split("_", 2) for n in names]
    for n, p in zip(names, parts, strict=True):
        if len(p) != 3:
            raise ValueError(f"feature {n!r} is not named <imageType>_<class>_<feature>")
    return pd.DataFrame({
        "feature": names,
        "image_type": [p[0] for p in parts],
        "feature_class": [p[1] for p in parts],
        "name": [p[2] for p in parts],
    })


def is_shape(names: Iterable[str]) -> np.ndarray:
    """Boolean mask: True for shape features (classes ``shape`` and ``shape2D``)."""
    return split_names(names)["feature_class"].isin(SHAPE_CLASSES).to_numpy()


def tidy_table(wide: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Tidy table of every acquisition's wide table.

    Args:
        wide: acquisition id -> wide table (index ROI ids, columns feature names).

    Returns:
        Columns ``acquisition, roi, image_type, feature_class, feature, value``, rows in the
        order acquisition, ROI, feature.
    """
    frames = []
    for aid, table in wide.items():
        if table.empty:
            continue
        long = table.rename_axis(index="roi", columns="feature").stack(future_stack=True)
        frame = long.rename("value").reset_index()
        frame.insert(0, "acquisition", aid)
        frames.append(frame)
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in (
            ("acquisition", str), ("roi", str), ("image_type", str), ("feature_class", str),
            ("feature", str), ("value", float))})
    out = pd.concat(frames, ignore_index=True)
    names = split_names(pd.unique(out["feature"]))
    out = out.merge(names[["feature", "image_type", "feature_class"]], on="feature", how="left")
    out["roi"] = out["roi"].astype(str)
    return out[["acquisition", "roi", "image_type", "feature_class", "feature", "value"]]


def wide_table(tidy: pd.DataFrame) -> pd.DataFrame:
    """The wide view of a tidy table: one row per (acquisition, roi), one column per feature."""
    order = list(pd.unique(tidy["feature"]))
    wide = tidy.pivot_table(index=["acquisition", "roi"], columns="feature", values="value",
                            aggfunc="first", sort=False, dropna=False)
    return wide.reindex(columns=order)
