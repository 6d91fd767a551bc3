#!/usr/bin/env python
"""Fit the paper protocol's scanner settings to the study's released repeatability features.

    python scripts/fit_phantom.py --seeds 1-8 --jobs 2 --out outputs/phantom_fit
    python scripts/fit_phantom.py --textures ...     # the inserts' textures first

With ``--textures``, the inserts' textures and vendor B 1.5 T's ``snr_factor`` are first fitted
to the per-insert statistics of that scanner's first scan
(:mod:`robustlab.radiomics.phantom.texture_fitting`, at ``--texture-seed``, by default the first
fitting seed; each evaluation
kept under ``--out/textures`` by content hash), and the scanner stages start from them.

The training data are the released per-ROI features of the repeatability scans (``--data``, by
default ``../shared/data/radiomics/phantomstudy`` beside the checkout), analysed like the
simulation (:mod:`robustlab.radiomics.phantom.released`). Each evaluation simulates the seven
training comparisons of the protocol at the fitting seeds (``--seeds``; the validity report
checks at other seeds, ``scripts/validate_phantom.py --seeds 101-120``) and takes each
comparison's median share of excellent features; :mod:`robustlab.radiomics.phantom.fitting`
moves one setting per repeat comparison (the secant method on its logarithm) until every median
lies within ``--tol`` points of the real share, stage by stage, and ends with one evaluation of
every comparison at the fitted values (the field strengths, which no setting is fitted to, too).
Seeds run ``--jobs`` at a time; each evaluation's
seed folders are kept by content hash under ``--out/seeds``, so a rerun replays what it has.

Writes ``--out/history.csv`` (every setting, value, median and residual of every evaluation,
the last one's stage ``final``)
and ``--out/scanners.yaml``, the protocol's fitted ``scanners:`` entries to put into
``conf/radiomics/protocol/paper.yaml``; with ``--textures`` also ``--out/textures.csv`` (every
evaluation of the texture fit) and ``--out/phantom.yaml``, the fitted ``inserts:`` of
``conf/radiomics/phantom/pelvic.yaml``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Annotated, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from calibrate_phantom import parse_seeds  # noqa: E402  (the calibration's seed syntax)
from validate_phantom import DATA  # noqa: E402  (the released features beside the checkout)


def training_protocol(protocol: dict[str, Any]) -> dict[str, Any]:
    """``protocol`` with only the comparisons the released features hold and their acquisitions."""
    from robustlab.radiomics.phantom.released import TRAINING_COMPARISONS
    from robustlab.radiomics.seed_runs import published_only

    kept = [c for c in protocol["comparisons"] if c["name"] in TRAINING_COMPARISONS]
    groups = {c["group"] for c in kept}
    return published_only({**protocol, "comparisons": kept,
                           "published": {g: v for g, v in (protocol.get("published") or {}).items()
                                         if g in groups}})


def real_shares(data: Path, work: Path) -> dict[str, float]:
    """Per training comparison, the real % excellent (the released features, analysed)."""
    from validate_phantom import real_verdicts

    real, _ = real_verdicts(data, None, work)
    return (real.groupby("comparison")["excellent"].mean() * 100.0).to_dict()


#: The scan whose per-insert statistics the textures are fitted to, and its scanner.
TEXTURE_REFERENCE, TEXTURE_SCANNER = "B15_rep1", "B15"


def fit_texture_stage(args: argparse.Namespace, protocol: dict[str, Any], phantom: dict[str, Any],
                      ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The texture fit; returns the protocol with the reference scanner's fitted ``snr_factor``
    and the phantom with the fitted inserts, and writes ``textures.csv`` and ``phantom.yaml``."""
    import json

    import numpy as np
    import pandas as pd
    import yaml

    from robustlab.common.hashing import json_hash
    from robustlab.common.io import write_table, write_text
    from robustlab.radiomics.phantom.fitting import Setting, get_value, with_value
    from robustlab.radiomics.phantom.released import read_features, training_paths
    from robustlab.radiomics.phantom.texture_fitting import (
        TextureParameters,
        fit_textures,
        insert_statistics,
        simulated_statistics,
    )

    snr = Setting(TEXTURE_SCANNER, "snr_factor", f"repeat_fixed_{TEXTURE_SCANNER}")
    real = insert_statistics(read_features(training_paths(args.data)[TEXTURE_REFERENCE]), len(phantom["inserts"]))
    seed = args.seeds[0] if args.texture_seed is None else args.texture_seed

    def simulate(params: TextureParameters) -> np.ndarray:
        case = (with_value(protocol, snr, params.snr_factor), params.apply(phantom), TEXTURE_REFERENCE, seed)
        path = args.out / "textures" / f"{json_hash(case)}.json"
        if path.is_file():  # resumable: an evaluation already made is read back
            return np.asarray(json.loads(path.read_text()))
        stats = simulated_statistics(*case)
        write_text(path, json.dumps(stats.tolist()))
        return stats

    def report(row: dict[str, Any]) -> None:
        print(f"textures evaluation {row['evaluation']}: sum of squares {row['sum_of_squares']:.3g}", flush=True)

    min_grain_mm = float(phantom["model"]["resolution_mm"][0])
    fitted, history = fit_textures(TextureParameters.read(phantom, get_value(protocol, snr)), real, simulate,
                                   min_grain_mm, args.texture_evaluations, report)
    write_table(pd.DataFrame(history), args.out / "textures", ("csv",))
    phantom = fitted.apply(phantom)
    write_text(args.out / "phantom.yaml", yaml.safe_dump({"inserts": phantom["inserts"]}, sort_keys=False))
    print(f"fitted textures: {args.out / 'phantom.yaml'} ({TEXTURE_SCANNER} snr_factor {fitted.snr_factor:.3g})")
    return with_value(protocol, snr, fitted.snr_factor), phantom


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from robustlab.common.config import Seed, arg_type
    from robustlab.common.constraints import Interval, NonEmpty, PositiveInt, Unique

    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the released training features")
    parser.add_argument("--seeds", default=parse_seeds("1-8"), help="fitting seeds (default 1-8)",
                        type=arg_type(Annotated[list[Seed], NonEmpty(), Unique()], parse_seeds))
    parser.add_argument("--tol", type=arg_type(Annotated[float, Interval(0.0, 50.0, closed="right")]),
                        default=1.0, help="points between a median and its target (default 1)")
    parser.add_argument("--max-evaluations", type=arg_type(PositiveInt), default=6,
                        help="evaluations per stage at most (default 6)")
    parser.add_argument("--textures", action="store_true",
                        help="first fit the inserts' textures to the released per-insert statistics")
    parser.add_argument("--texture-seed", type=arg_type(Seed), default=None,
                        help="the texture fit's seed (default: the first fitting seed)")
    parser.add_argument("--texture-evaluations", type=arg_type(PositiveInt), default=12,
                        help="the texture fit's solver evaluations, Jacobians not counted (default 12)")
    parser.add_argument("--jobs", type=arg_type(PositiveInt), default=2, help="seeds at once (default 2)")
    parser.add_argument("--nice", type=arg_type(Annotated[int, Interval(0, 19)]), default=10,
                        help="niceness of each seed's process (0-19)")
    parser.add_argument("--cache", type=Path, default=Path(".cache/radiomics"))
    parser.add_argument("--out", type=Path, default=Path("outputs/phantom_fit"))
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"argument --data: {args.data} is not a folder of the released phantom features")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import pandas as pd
    import yaml

    from robustlab.common.errors import RobustlabError
    from robustlab.common.io import write_table, write_text
    from robustlab.radiomics.phantom import load_config
    from robustlab.radiomics.phantom.fitting import fit
    from robustlab.radiomics.seed_runs import load_seeds, run_seeds

    try:  # bad real data is found before any simulation
        real = real_shares(args.data, args.out / "real")
    except RobustlabError as exc:
        print(f"fit_phantom.py: error: {exc}", file=sys.stderr)
        return 2
    phantom = load_config("phantom", "pelvic")
    protocol = training_protocol(load_config("protocol", "paper"))
    if args.textures:
        protocol, phantom = fit_texture_stage(args, protocol, phantom)

    def evaluate(protocol: dict[str, Any]) -> dict[str, float]:
        folders = run_seeds(protocol, phantom, args.seeds, args.out / "seeds", args.cache.resolve(),
                            {"texture": False}, n_jobs=args.jobs, nice=args.nice)
        summary = load_seeds(folders, "summary")
        return summary.groupby("comparison")["pct_excellent"].median().to_dict()

    def report(row: dict[str, Any]) -> None:
        setting = f"{row['setting']} = {row['value']:.4g}" if row["setting"] else "not fitted"
        print(f"stage {row['stage']} evaluation {row['evaluation']}: {setting}: "
              f"{row['comparison']} {row['median']:.1f} (real {row['real']:.1f})", flush=True)

    fitted, history = fit(protocol, real, evaluate, tol=args.tol,
                          max_evaluations=args.max_evaluations, report=report)
    write_table(pd.DataFrame(history), args.out / "history", ("csv",))
    write_text(args.out / "scanners.yaml", yaml.safe_dump({"scanners": fitted["scanners"]}, sort_keys=False))
    print(f"fitted scanners: {args.out / 'scanners.yaml'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
