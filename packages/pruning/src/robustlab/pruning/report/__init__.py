"""The sweep report: figures, sweet-spot tables, ``report.md`` and a self-contained ``report.html``.

:func:`write_report` reads one or many run directories (or multirun directories), runs the
sweet-spot analysis (:mod:`robustlab.pruning.sweetspot`) and draws:

- ``metrics_<model>.png``: every metric against sparsity, accuracy on a twin axis, the
  bootstrap interval of the change from dense as a band, sweet spots shaded;
- ``heatmap.png``: every metric x sparsity, relative change from dense (better = green);
- ``gallery_<model>.png``: attribution maps of one image across sparsity;
- ``shape_bias.png``: cue-conflict shape bias against sparsity with the human reference;
- ``distortions_<model>.png``: accuracy per distortion level, one line per sparsity.

The figures are drawn in :mod:`.figures`, the document is written in :mod:`.document`.
"""

from robustlab.pruning.report.document import (
    Directions,
    eval_data_table,
    summary_values,
    write_report,
)
from robustlab.pruning.report.figures import (
    plot_distortions,
    plot_gallery,
    plot_heatmap,
    plot_metrics,
    plot_shape_bias,
)

__all__ = [
    "Directions", "eval_data_table", "plot_distortions", "plot_gallery", "plot_heatmap", "plot_metrics",
    "plot_shape_bias", "summary_values", "write_report",
]
