"""An evaluation suite: how confident the predictions are, per image, at every sparsity."""

import pandas as pd
import torch

from robustlab.common.constraints import PositiveInt
from robustlab.pruning.suites import SUITES, EvalContext, SuiteResult


@SUITES.register("confidence", directions=[("softmax", "entropy", -1),
                                           ("softmax", "max_probability", +1)])
def confidence(ctx: EvalContext, n_images: PositiveInt | None = 64) -> SuiteResult:
    """Max softmax probability (higher is better) and entropy in nats (lower is better)."""
    frames = []
    with torch.no_grad():
        for batch in ctx.batches(max_images=n_images):
            p = torch.softmax(ctx.model(batch.images).float(), dim=1)
            entropy = -(p * p.clamp_min(1e-12).log()).sum(dim=1)
            for metric, value in (("max_probability", p.amax(dim=1)), ("entropy", entropy)):
                frames.append(pd.DataFrame({"index": torch.as_tensor(batch.index).cpu().numpy(),
                                            "method": "softmax", "metric": metric,
                                            "value": value.cpu().double().numpy()}))
    per_image = pd.concat(frames, ignore_index=True)
    rows = [{"method": "softmax", "metric": metric, "mean": g["value"].mean(),
             "std": g["value"].std(ddof=1), "n": len(g)} for metric, g in per_image.groupby("metric")]
    return SuiteResult(rows, per_image)
