"""Report blocks: numbers formatted by kind, empty columns left out, long tables folded, Markdown
rendered in the HTML page."""

from __future__ import annotations

import numpy as np
import pandas as pd

from robustlab.common.report import Document, Paragraph, Table, column_formats


def test_numbers_are_formatted_by_kind():
    df = pd.DataFrame({"n_features": [930.0, np.nan], "pct_excellent": [86.33475, 4.6],
                       "median_wcv": [2.0, 3.0], "value": [0.123456, 12345.6], "name": ["a", "b"]})
    fmt = column_formats(df)
    assert fmt["n_features"](930.0) == "930"                 # a count stored as float
    assert fmt["pct_excellent"](86.33475) == "86.3"
    assert fmt["median_wcv"](2.0) == "2"                    # whole numbers here, not a count by name
    assert fmt["value"](0.123456) == "0.123"
    assert "name" not in fmt


def test_a_table_leaves_empty_columns_out_and_folds_when_asked(tmp_path):
    df = pd.DataFrame({"a": [1, 2], "blank": [np.nan, np.nan], "empty": ["", ""]})
    doc = Document("T", [Table(df, collapsed="2 rows"), Paragraph(["`code` and **bold**"])])
    md, page = doc.markdown(tmp_path), doc.html()
    assert "blank" not in md and "empty" not in md and "| a |" in md
    assert "<details><summary>2 rows</summary>" in md and "<details><summary>2 rows</summary>" in page
    assert "<code>code</code>" in page and "<strong>bold</strong>" in page
    assert "`" not in page.split("<body>")[1]
    kept = Document("T", [Table(df, keep_empty=True)]).markdown(tmp_path)
    assert "blank" in kept
