"""Result objects as tidy tables (one row per feature)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from robustlab.common.errors import DataError

if TYPE_CHECKING:
    import pandas as pd


def per_feature_frame(result: object, columns: Sequence[str], features: Iterable[Any] | None = None
                      ) -> pd.DataFrame:
    """The attributes ``columns`` of ``result`` as a table indexed by ``features`` (default 0..n-1)."""
    value = np.atleast_1d(getattr(result, columns[0]))
    import pandas as pd

    index = pd.Index(range(value.size) if features is None else list(features), name="feature")
    if len(index) != value.size:
        raise DataError(f"got {len(index)} feature names for {value.size} features")
    return pd.DataFrame({n: np.atleast_1d(getattr(result, n)) for n in columns}, index=index)
