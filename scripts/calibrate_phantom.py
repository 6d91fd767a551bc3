#!/usr/bin/env python
"""Run the phantom's `paper` protocol over many seeds and write its calibration table.

    python scripts/calibrate_phantom.py --seeds 1-20 --jobs 2 --out calibration_runs
    python scripts/calibrate_phantom.py --seeds 1-20 --write   # also the table shipped with the package

Each seed simulates the protocol's acquisitions of a published group (the others draw from
their own random streams and are left out) and analyses them like `make radiomics` without
the texture test and the report (the shares of excellent features do not depend on either).
Seeds run `--jobs` at a time, each process at `nice` 10; every seed's tables are kept under
`--out/seed<k>` with the hash of the protocol, the scanner files, the phantom and the seed, so
a rerun resumes, and images and features are cached in `--cache`. The table (per published
figure: median, 5th and 95th percentile over seeds of the same share of excellent features: a
comparison's, or a ranged group's lowest and highest comparison) is printed, written to
`--out/calibration.csv` and, with `--write`, to
`robustlab/radiomics/phantom/calibration/<protocol>.csv`, which the report of a simulated run
shows beside its own figures.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Annotated


def parse_seeds(text: str) -> list[int]:
    """``"1-20"`` or ``"1,3,5"`` (or both, comma-separated) -> the seeds.

    Raises:
        ValueError: a part that is not a seed or an increasing range of seeds.
    """
    seeds: list[int] = []
    for part in text.split(","):
        lo, dash, hi = part.strip().partition("-")
        if not lo.isdigit() or (dash and not hi.isdigit()):
            raise ValueError(f"{part!r} is not a seed (a whole number >= 0) or a range of seeds (1-20)")
        first, last = int(lo), int(hi or lo)
        if last < first:
            raise ValueError(f"{part!r} is an empty range; write {last}-{first}")
        seeds += range(first, last + 1)
    return seeds


def main(argv: list[str] | None = None) -> int:
    from robustlab.common.config import Seed, arg_type
    from robustlab.common.constraints import Interval, NonEmpty, PositiveInt, Unique
    from robustlab.common.resources import data_dir

    def names(group: str) -> list[str]:
        return sorted(p.stem for p in data_dir("radiomics", group).glob("*.yaml"))

    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seeds", default="1-20", help="e.g. 1-20 or 1,2,5 (default 1-20)",
                        type=arg_type(Annotated[list[Seed], NonEmpty(), Unique()], parse_seeds))
    parser.add_argument("--jobs", type=arg_type(PositiveInt), default=2, help="seeds at once (default 2)")
    parser.add_argument("--nice", type=arg_type(Annotated[int, Interval(0, 19)]), default=10,
                        help="niceness of each seed's process (0-19)")
    parser.add_argument("--protocol", default="paper", choices=names("protocol"))
    parser.add_argument("--phantom", default="pelvic", choices=names("phantom"))
    parser.add_argument("--out", type=Path, default=Path("outputs/calibration"))
    parser.add_argument("--cache", type=Path, default=Path(".cache/radiomics"))
    parser.add_argument("--write", action="store_true",
                        help="write the table shipped with the package")
    args = parser.parse_args(argv)

    from robustlab.common.io import write_table
    from robustlab.radiomics.phantom import load_config
    from robustlab.radiomics.phantom.calibration import calibration_path
    from robustlab.radiomics.seed_runs import (
        calibration_table,
        load_seeds,
        published_only,
        run_seeds,
    )

    protocol = published_only(load_config("protocol", args.protocol))
    phantom = load_config("phantom", args.phantom)
    start = time.perf_counter()
    folders = run_seeds(protocol, phantom, args.seeds, args.out, args.cache.resolve(),
                        {"texture": False}, n_jobs=args.jobs, nice=args.nice)
    wall = time.perf_counter() - start
    table = calibration_table(load_seeds(folders, "summary"), protocol.get("published") or {})
    write_table(table, args.out / "calibration", ("csv",))
    if args.write:
        write_table(table, calibration_path(args.protocol).with_suffix(""), ("csv",))
    print(table.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    print(f"{len(folders)} seeds in {wall:.0f} s wall ({args.jobs} at a time)")
    return 0 if bool(table["median_ok"].all() and table["inside"].all()) else 1


if __name__ == "__main__":
    sys.exit(main())
