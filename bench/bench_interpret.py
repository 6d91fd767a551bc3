"""Batched attribution and object discovery vs the per-image loop of the study's code.

Integrated Gradients on 64 images and LOST on 256 images, each computed twice on the same
inputs and model: once image by image (Captum called per image, all quadrature steps in one
pass; one forward pass and one LOST per image), once batched (robustlab.pruning.interpret /
discovery). Prints the hardware, both wall times, the speed-up and the largest difference
between the two results.

    python bench/bench_interpret.py                              # CPU, the sweep's small ResNet
    python bench/bench_interpret.py --device cuda --model resnet50 --img-size 224 --min-speedup 5

With ``--min-speedup X`` the exit status is 1 when a batched path is less than X times faster.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import numpy as np
import torch
from small_resnet import small_resnet
from targets import row

warnings.filterwarnings("ignore", message=".*required_grads has been set automatically.*")


def _hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (torch {torch.__version__}, CUDA {torch.version.cuda})"
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
            f"{torch.get_num_threads()} torch threads (torch {torch.__version__})")


def _model(name: str, num_classes: int, device: torch.device) -> torch.nn.Module:
    import timm

    if name == "resnet_small":
        return small_resnet(num_classes).to(device)
    return timm.create_model(name, num_classes=num_classes).eval().to(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device: torch.device):
    _sync(device)
    start = time.perf_counter()
    out = fn()
    _sync(device)
    return out, time.perf_counter() - start


def bench_integrated_gradients(model, images, targets, n_steps: int, internal_batch_size: int,
                               device: torch.device) -> float:
    from captum.attr import IntegratedGradients

    from robustlab.pruning.interpret import attribute

    def per_image():
        ig = IntegratedGradients(model)
        return torch.cat([ig.attribute(images[i:i + 1], target=int(targets[i]), n_steps=n_steps).sum(dim=1)
                          for i in range(len(images))])

    def batched():
        return attribute("integrated_gradients", model, images, targets, arch="cnn", n_steps=n_steps,
                         internal_batch_size=internal_batch_size)

    batched()  # warm-up (kernels, allocator)
    loop, t_loop = _timed(per_image, device)
    batch, t_batch = _timed(batched, device)
    diff = (loop - batch).abs().max().item() / max(loop.abs().max().item(), 1e-12)
    print(f"integrated gradients, {len(images)} images x {n_steps} steps "
          f"(internal batch {internal_batch_size}):")
    print(f"  per-image loop {t_loop:8.2f} s   batched {t_batch:8.2f} s   speed-up {t_loop / t_batch:5.2f}x   "
          f"max |difference| / max |map| = {diff:.1e}")
    row(f"integrated gradients, {len(images)} images x {n_steps} steps, batched", f"{t_batch:.2f} s",
        f"per-image loop {t_loop:.2f} s", t_batch / t_loop, f"max relative difference {diff:.1e}")
    return t_loop / t_batch


def bench_lost(model, images, batch_size: int, device: torch.device) -> float:
    from robustlab.pruning.discovery.features import patch_features
    from robustlab.pruning.discovery.lost import lost
    from robustlab.pruning.interpret.layers import find_last_conv_block

    # The feature layer is resolved once, for both paths: only the batching differs.
    layer = find_last_conv_block(model, images[:1])[0]

    def per_image():
        boxes = []
        for i in range(len(images)):
            p = patch_features(model, images[i:i + 1], "cnn", feature_layer=layer)
            boxes.append(lost(p.features, p.grid, p.image_size, center=True)[0])
        return np.concatenate(boxes)

    def batched():
        boxes = []
        for i in range(0, len(images), batch_size):
            p = patch_features(model, images[i:i + batch_size], "cnn", feature_layer=layer)
            boxes.append(lost(p.features, p.grid, p.image_size, center=True)[0])
        return np.concatenate(boxes)

    batched()
    loop, t_loop = _timed(per_image, device)
    batch, t_batch = _timed(batched, device)
    same = int((loop == batch).all(axis=1).sum())
    print(f"LOST, {len(images)} images (batch {batch_size}):")
    print(f"  per-image loop {t_loop:8.2f} s   batched {t_batch:8.2f} s   speed-up {t_loop / t_batch:5.2f}x   "
          f"identical boxes {same}/{len(images)}")
    row(f"LOST, {len(images)} images, batched", f"{t_batch:.2f} s", f"per-image loop {t_loop:.2f} s",
        t_batch / t_loop, f"identical boxes {same}/{len(images)}")
    return t_loop / t_batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default="resnet_small", help="resnet_small or a timm CNN name")
    parser.add_argument("--img-size", type=int, default=64)
    parser.add_argument("--ig-images", type=int, default=64)
    parser.add_argument("--ig-steps", type=int, default=50, help="Captum's default quadrature points")
    parser.add_argument("--ig-internal-batch-size", type=int, default=None,
                        help="default: 64 on CPU (a cache-friendly pass), 256 on CUDA")
    parser.add_argument("--lost-images", type=int, default=256)
    parser.add_argument("--lost-batch-size", type=int, default=None, help="default: 64 on CPU, 256 on CUDA")
    parser.add_argument("--min-speedup", type=float, default=None,
                        help="exit with status 1 when a speed-up is below this (e.g. 5 on a GPU)")
    args = parser.parse_args()

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    ibs = args.ig_internal_batch_size or (256 if cuda else 64)
    lbs = args.lost_batch_size or (256 if cuda else 64)
    torch.manual_seed(0)
    model = _model(args.model, 10, device)
    g = torch.Generator().manual_seed(0)
    images = torch.randn(max(args.ig_images, args.lost_images), 3, args.img_size, args.img_size, generator=g).to(device)
    targets = torch.arange(args.ig_images, device=device) % 10
    print(f"hardware: {_hardware(device)}")
    print(f"model: {args.model} at {args.img_size} px")
    ratios = {"integrated gradients": bench_integrated_gradients(model, images[:args.ig_images], targets,
                                                                 args.ig_steps, ibs, device),
              "LOST": bench_lost(model, images[:args.lost_images], lbs, device)}
    if args.min_speedup is not None:
        slow = {k: v for k, v in ratios.items() if v < args.min_speedup}
        for k, v in ratios.items():
            print(f"{'FAIL' if k in slow else 'PASS'}: {k} speed-up {v:.2f}x (target >= {args.min_speedup}x)")
        if slow:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
