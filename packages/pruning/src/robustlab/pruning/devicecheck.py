"""Do a sweep's step-0 logits agree between CUDA and CPU?

Loads ``checkpoints/step000.pt`` of a run directory into the run's model twice, once on the CPU
and once on the GPU, and compares the logits on the first held-out images: in float32 (TF32
off) they must agree to ``rtol`` of the logit scale, ``max|cuda - cpu| <= rtol * max|cpu|``;
the bf16-autocast channels_last logits (how the sweep trains) are reported beside them with
their top-1 agreement.

    python -m robustlab.pruning.devicecheck <run dir> [--images 32] [--rtol 1e-3]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from robustlab.pruning.checkpoints import load_checkpoint, resize_to_state
from robustlab.pruning.data.sources import DataSpec, build_data, eval_batches
from robustlab.pruning.models import ModelSpec, create_model


def compare_logits(run_dir: str | Path, n_images: int = 32, rtol: float = 1e-3) -> dict[str, Any]:
    """Compare CPU and CUDA logits of a run's step-0 checkpoint (see the module docstring).

    Returns:
        ``max_abs_diff_fp32``, ``scale`` (max |CPU logit|), ``rel_diff_fp32``,
        ``max_abs_diff_bf16``, ``top1_agreement_bf16``, ``passed`` (fp32 within ``rtol``).

    Raises:
        RuntimeError: no CUDA device.
        FileNotFoundError: the run has no ``sweep_spec.json`` or step-0 checkpoint.
        CheckpointError: the checkpoint holds anything but tensors and plain containers.
    """
    if not torch.cuda.is_available():
        raise RuntimeError("compare_logits needs a CUDA device; torch sees none")
    run_dir = Path(run_dir)
    saved = json.loads((run_dir / "sweep_spec.json").read_text())
    data_spec = DataSpec(**{**saved["data"], "val_size": n_images, "train_size": 1,
                            "scale": tuple(saved["data"]["scale"]), "cache": False, "cache_dir": None,
                            "check_images": False})
    data = build_data(data_spec, "cpu")
    images = next(eval_batches(data, n_images, torch.device("cpu"))).images
    model = create_model(ModelSpec(**saved["model"]))
    state = load_checkpoint(run_dir / "checkpoints" / "step000.pt")
    resize_to_state(model, state["model"])  # a structurally pruned model has fewer channels
    model.load_state_dict(state["model"])
    model.eval()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    with torch.no_grad():
        cpu = model(images).float()
        gpu_model = model.to("cuda")
        gpu = gpu_model(images.cuda()).float().cpu()
        gpu_model = gpu_model.to(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            bf16 = gpu_model(images.cuda().contiguous(memory_format=torch.channels_last)).float().cpu()
    scale = float(cpu.abs().max())
    diff = float((gpu - cpu).abs().max())
    return {"images": n_images, "scale": scale, "max_abs_diff_fp32": diff,
            "rel_diff_fp32": diff / max(scale, 1e-12),
            "max_abs_diff_bf16": float((bf16 - cpu).abs().max()),
            "top1_agreement_bf16": float((bf16.argmax(1) == cpu.argmax(1)).float().mean()),
            "rtol": rtol, "passed": diff <= rtol * max(scale, 1e-12)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="CUDA vs CPU logits of a run's step-0 checkpoint")
    parser.add_argument("run_dir")
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--rtol", type=float, default=1e-3)
    args = parser.parse_args(argv)
    result = compare_logits(args.run_dir, args.images, args.rtol)
    print(json.dumps(result, indent=2))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
