"""Feature names and tables: pyradiomics' ``<imageType>_<class>_<feature>``, tidy and wide.

A *wide* table has one row per ROI (index ``roi``) and one column per feature, as pyradiomics
writes them. The *tidy* table has one row per value: ``acquisition, roi, image_type,
feature_class, feature, value`` (``feature`` is pyradiomics' full name, e.g.
``wavelet-LH_glcm_Idmn``; ``image_type`` is ``wavelet-LH``, ``feature_class`` is ``glcm``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

SHAPE_CLASSES = ("shape", "shape2D")


def split_names(names: Iterable[str]) -> pd.DataFrame:
    """Split feature names into ``image_type``, ``feature_class`` and ``name``.

    Example:
        >>> split_names(["wavelet-LH_glcm_Idmn"]).iloc[0].tolist()
        ['wavelet-LH_glcm_Idmn', 'wavelet-LH', 'glcm', 'Idmn']
    """
    parts = _split(_as_tuple(names))
    return pd.DataFrame(dict(zip(("feature", "image_type", "feature_class", "name"), parts,
                                 strict=True)))


@functools.lru_cache(maxsize=64)
def _split(names: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    """Name parts as four object arrays (cached: a study asks for the same names often)."""
    parts = [n.split("_", 2) for n in names]
    for n, p in zip(names, parts, strict=True):
        if len(p) != 3:
            raise ValueError(f"feature {n!r} is not named <imageType>_<class>_<feature>")
    out = (np.array(names, dtype=object), *np.array(parts, dtype=object).reshape(-1, 3).T)
    for arr in out:
        arr.flags.writeable = False
    return out


def feature_parts(names: Iterable[str]) -> tuple[np.ndarray, ...]:
    """``(feature, image_type, feature_class, name)`` as four read-only object arrays."""
    return _split(_as_tuple(names))


def is_shape(names: Iterable[str]) -> np.ndarray:
    """Boolean mask: True for shape features (classes ``shape`` and ``shape2D``)."""
    return np.isin(_split(_as_tuple(names))[2], SHAPE_CLASSES)


def _as_tuple(names: Iterable[str]) -> tuple[str, ...]:
    listed = names.tolist() if hasattr(names, "tolist") else list(names)
    return tuple(map(str, listed))


def tidy_table(wide: Mapping[str, pd.DataFrame],
               extraction: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Tidy table of every acquisition's wide table.

    Args:
        wide: acquisition id -> wide table (index ROI ids, columns feature names).
        extraction: acquisition id -> the settings it was extracted with (a column
            ``extraction`` after ``acquisition`` when given).

    Returns:
        Columns ``acquisition, [extraction,] roi, image_type, feature_class, feature, value``,
        rows in the order acquisition, ROI, feature.
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
    columns = ["acquisition", "roi", "image_type", "feature_class", "feature", "value"]
    if extraction is not None:
        out["extraction"] = out["acquisition"].map(dict(extraction)).astype(object)
        columns.insert(1, "extraction")
    return out[columns]


def wide_table(wide: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Every acquisition's wide table stacked: index ``(acquisition, roi)``, one column per feature."""
    frames = {aid: t for aid, t in wide.items() if not t.empty}
    if not frames:
        return pd.DataFrame(index=pd.MultiIndex.from_arrays([[], []], names=["acquisition", "roi"]))
    return pd.concat(frames, names=["acquisition", "roi"], sort=False)
