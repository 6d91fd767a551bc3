"""``python -m robustlab.pruning.alignment.modelvshuman RAW_DATA_DIR``: the benchmark table of decision CSVs.

Prints one row per model (and ``humans`` with ``--humans``), one column per metric over all
datasets (``dataset == "all"``) plus the cue-conflict shape bias; ``--out`` writes the long table.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from robustlab.common.io import write_table
from robustlab.pruning.alignment.modelvshuman.benchmark import benchmark


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m robustlab.pruning.alignment.modelvshuman", description=__doc__)
    parser.add_argument("raw_data_dir", help="model-vs-human's raw-data/ folder (human CSVs, maybe model CSVs)")
    parser.add_argument("--model-dir", action="append", default=[],
                        help="a folder of model CSVs in the same layout (repeatable)")
    parser.add_argument("--models", nargs="+", default=None, help="subj names to score (default: every non-human subj)")
    parser.add_argument("--datasets", nargs="+", default=None, help="default: those of the 17 present")
    parser.add_argument("--humans", action="store_true", help="add the human observers' row")
    parser.add_argument("--out", default=None, help="write the long table here (.csv; a .parquet beside it)")
    args = parser.parse_args(argv)
    table = benchmark(args.raw_data_dir, args.models, model_dirs=args.model_dir, datasets=args.datasets,
                      include_humans=args.humans)
    wide = table[table["dataset"] == "all"].pivot(index="model", columns="metric", values="value")
    shape = table[table["metric"] == "shape_bias"].set_index("model")["value"]
    if not shape.empty:
        wide["shape_bias"] = shape
    print(wide.to_string(float_format=lambda v: f"{v:.3f}"))
    if args.out:
        write_table(table, args.out)


if __name__ == "__main__":
    main()
