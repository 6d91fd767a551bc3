"""The sweep report (:func:`write_report`)."""

from robustlab.pruning.report.figures import (
    Directions,
    eval_data_table,
    plot_distortions,
    plot_gallery,
    plot_heatmap,
    plot_metrics,
    plot_shape_bias,
    summary_values,
    write_report,
)

__all__ = [
    "Directions", "eval_data_table", "plot_distortions", "plot_gallery", "plot_heatmap", "plot_metrics",
    "plot_shape_bias", "summary_values", "write_report",
]
