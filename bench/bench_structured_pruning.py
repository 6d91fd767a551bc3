"""Torch-Pruning at 50 % of channels: CPU latency of the pruned small ResNet against the dense one.

Target: pruned latency below 0.7x the dense latency (the issue's bar). Both models are timed
side by side in the same process, interleaved, on the same threads; the median of the repeats
is compared. Run: ``.venv/bin/python bench/bench_structured_pruning.py``.
"""

from __future__ import annotations

import argparse
import time

import torch
from small_resnet import small_resnet
from targets import exit_status, row, verdict

from robustlab.pruning.masks import PruneScope, prunable_targets
from robustlab.pruning.methods import METHODS, PruneContext
from robustlab.pruning.models import classifier_head

TARGET_RATIO = 0.7


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ratio", type=float, default=0.5, help="fraction of channels removed")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    dense = small_resnet(num_classes=6)
    pruned = small_resnet(num_classes=6)
    x = torch.randn(args.batch, 3, 64, 64)
    head = classifier_head(pruned)
    ctx = PruneContext(model=pruned, targets=prunable_targets(pruned, PruneScope()), ignored=[head],
                       batches=lambda: iter(()), example_inputs=x[:1], step=1, rate=args.ratio, seed=0)
    METHODS.get("structured_channels").prune(ctx, args.ratio)

    import torch_pruning as tp

    macs_d, params_d = tp.utils.count_ops_and_params(dense, x[:1])
    macs_p, params_p = tp.utils.count_ops_and_params(pruned, x[:1])
    times: dict[str, list[float]] = {"dense": [], "pruned": []}
    with torch.no_grad():
        for model in (dense, pruned):  # warm-up
            for _ in range(3):
                model(x)
        for _ in range(args.repeats):
            for name, model in (("dense", dense), ("pruned", pruned)):
                start = time.perf_counter()
                model(x)
                times[name].append(time.perf_counter() - start)
    med = {k: sorted(v)[len(v) // 2] * 1000 for k, v in times.items()}
    ratio = med["pruned"] / med["dense"]
    print(f"structured pruning, {args.ratio:.0%} of channels, batch {args.batch}, {args.threads} thread(s)")
    print(f"  params  dense {params_d:,.0f}  pruned {params_p:,.0f}  ratio {params_p / params_d:.3f}")
    print(f"  MACs    dense {macs_d:,.0f}  pruned {macs_p:,.0f}  ratio {macs_p / macs_d:.3f}")
    met = verdict(f"latency ratio < {TARGET_RATIO}", ratio < TARGET_RATIO)
    print(f"  latency dense {med['dense']:.2f} ms  pruned {med['pruned']:.2f} ms  ratio {ratio:.3f} "
          f"(target < {TARGET_RATIO}) {met}")
    row(f"CPU latency, {args.ratio:.0%} of the channels pruned (Torch-Pruning), batch {args.batch}",
        f"{med['pruned']:.2f} ms", f"dense {med['dense']:.2f} ms", ratio, f"< {TARGET_RATIO} {met}")
    return exit_status()


if __name__ == "__main__":
    raise SystemExit(main())
