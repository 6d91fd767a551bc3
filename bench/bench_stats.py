"""ICC with confidence intervals: one vectorized call against a loop of pingouin.intraclass_corr.

Run with ``make bench`` (or ``python bench/bench_stats.py``). For each problem size it times our
``icc`` over all features (best of 5) and pingouin feature by feature (on a random sample of
features when the whole loop would take too long, and then says so), prints the speed ratio and the
largest difference (absolute, relative above 1) over every field (ICC, F, df, p, CI) of the sampled
features. Target: at least 1000x faster, identical numbers.
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import numpy as np
import pandas as pd
import pingouin as pg
from targets import row

from robustlab.common.stats import icc

warnings.filterwarnings("ignore")


def pingouin_icc_a1(x: np.ndarray) -> np.ndarray:
    n, k = x.shape
    long = pd.DataFrame({"t": np.repeat(np.arange(n), k), "r": np.tile(np.arange(k), n), "y": x.ravel()})
    row = pg.intraclass_corr(long, targets="t", raters="r", ratings="y").set_index("Type").loc["ICC(A,1)"]
    return np.array([row["ICC"], row["F"], row["df1"], row["df2"], row["pval"], *row["CI95"]], float)


def bench(n_features: int, n_targets: int, k: int, max_pingouin: int, rng: np.random.Generator) -> None:
    truth = rng.normal(size=(n_targets, 1, n_features))
    ratings = truth + rng.uniform(0.05, 1.0, n_features) * rng.normal(size=(n_targets, k, n_features))
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        res = icc(ratings, model="twoway", type="agreement", unit="single")
        times.append(time.perf_counter() - t0)
    ours = min(times)
    sample = np.sort(rng.choice(n_features, size=min(max_pingouin, n_features), replace=False))
    pg.options["round.column.CI95"] = None  # compare unrounded intervals
    t0 = time.perf_counter()
    ref = np.stack([pingouin_icc_a1(ratings[:, :, j]) for j in sample])
    loop = time.perf_counter() - t0
    loop_all = loop * n_features / sample.size
    mine = np.stack([res.value, res.f, res.df1, res.df2, res.p, res.ci_low, res.ci_high], axis=1)[sample]
    diff = np.max(np.abs(mine - ref) / np.maximum(np.abs(ref), 1.0))
    sampled = "" if sample.size == n_features else f" (pingouin timed on {sample.size} sampled features, extrapolated)"
    print(f"ICC(A,1)+CI, {n_features} features x {n_targets} targets x {k} raters: "
          f"robustlab {ours * 1e3:.1f} ms, pingouin loop {loop_all:.1f} s{sampled}; "
          f"speed-up {loop_all / ours:,.0f}x; largest difference {diff:.1e} "
          "(absolute, relative where a value exceeds 1)")
    row(f"ICC(A,1) with F test and CI, {n_features} features x {n_targets} targets x {k} raters",
        f"{ours * 1e3:.1f} ms", f"pingouin per feature {loop_all:.1f} s{' (extrapolated)' if sampled else ''}",
        ours / loop_all, f"largest difference {diff:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-pingouin", type=int, default=300, help="features timed with pingouin at most")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    rng = np.random.default_rng(0)
    bench(944, 18, 2, args.max_pingouin, rng)
    bench(20000, 50, 3, args.max_pingouin, rng)


if __name__ == "__main__":
    main()
