"""What bounds training: the input pipeline alone, the model alone and both together, in images/s.

A small JPEG ImageFolder is written to a temporary folder (or ``--folder`` names one), then
three rates are measured side by side for each way of decoding:

* loader alone: batches from the sweep's training stream (read, decode, random-resized crop,
  flip, normalise, onto the device), nothing trained;
* model alone: forward, backward and SGD step on a batch already on the device;
* both: the sweep's training loop body on the stream's batches.

Decoding ``workers``: PIL in ``--workers`` DataLoader processes (pinned memory, persistent
workers, prefetching); ``device``: the workers read bytes, ``torchvision.io.decode_jpeg`` and
the crops run on the device (nvJPEG on a GPU; on a CPU the same code in this process).
The slower of "loader alone" and "model alone" bounds "both".

Run: ``.venv/bin/python bench/bench_input.py`` (CPU, the small ResNet at 64 px) or, on a GPU,
``bench/bench_input.py --device cuda --model resnet50 --img-size 224 --images 2048 --batch 256``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from small_resnet import small_resnet
from targets import row

from robustlab.pruning.data.loader import LoaderOptions, TrainStream
from robustlab.pruning.data.sources import DataSpec, build_data
from robustlab.pruning.models import ModelSpec, create_model


def write_folder(root: Path, n_images: int, classes: int, side: int) -> None:
    """``n_images`` random smooth RGB JPEGs of about ``side`` px in ``classes`` class folders."""
    from torchvision.io import encode_jpeg

    g = torch.Generator().manual_seed(0)
    for i in range(n_images):
        folder = root / "train" / f"class{i % classes}"
        folder.mkdir(parents=True, exist_ok=True)
        h, w = side + int(torch.randint(-side // 4, side // 4, (1,), generator=g)), side
        low = torch.rand(3, h // 8 + 1, w // 8 + 1, generator=g)
        img = torch.nn.functional.interpolate(low[None], size=(h, w), mode="bilinear")[0]
        (folder / f"{i:05d}.jpg").write_bytes(encode_jpeg((img * 255).to(torch.uint8), quality=90).numpy().tobytes())


def rate(batches, step, n_batches: int, batch: int, device: torch.device) -> float:
    """Images/s over ``n_batches`` batches after one warm-up batch."""
    it = iter(batches)
    step(next(it))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(n_batches):
        step(next(it))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return n_batches * batch / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default="small", choices=("small", "resnet50"))
    parser.add_argument("--img-size", type=int, default=64)
    parser.add_argument("--images", type=int, default=384, help="images written when no --folder is given")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--batches", type=int, default=8, help="timed batches per measure")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of this process")
    parser.add_argument("--folder", help="an existing ImageFolder (with a train/ split)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.folder) if args.folder else Path(tmp)
        if not args.folder:
            write_folder(root, args.images, classes=8, side=int(args.img_size * 1.5))
        data = build_data(DataSpec(name="imagefolder", root=str(root), img_size=args.img_size, train_split="train",
                                   val_split="train"))
        if args.model == "small":
            model = small_resnet(data.num_classes, args.img_size).to(device)
        else:
            model = create_model(ModelSpec("torchvision.resnet50", data.num_classes, args.img_size)).to(device)
        fmt = torch.channels_last if cuda else torch.contiguous_format
        model = model.to(memory_format=fmt).train()
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

        def train_step(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
            images, labels = batch
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=cuda):
                loss = torch.nn.functional.cross_entropy(model(images.contiguous(memory_format=fmt)), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        def endless(stream: TrainStream):
            epoch = 0
            while True:
                yield from stream.epoch(epoch)
                epoch += 1

        fixed = (torch.randn(args.batch, 3, args.img_size, args.img_size, device=device),
                 torch.randint(data.num_classes, (args.batch,), device=device))
        model_alone = rate(iter(lambda: fixed, None), train_step, args.batches, args.batch, device)
        print(f"{len(data.train)} JPEGs, {args.img_size} px, batch {args.batch}, {args.model} on {device}, "
              f"{args.workers} loader workers, {torch.get_num_threads()} torch threads")
        print(f"{'decoding':>10} {'loader alone':>14} {'model alone':>13} {'both':>10}  bound by")
        for decode in ("workers", "device"):
            options = LoaderOptions(num_workers=args.workers, pin_memory=cuda, prefetch_factor=4,
                                    gpu_decode=decode == "device")
            loader_alone = rate(endless(TrainStream(data, args.batch, 0, device, options=options)), lambda b: None,
                                args.batches, args.batch, device)
            both = rate(endless(TrainStream(data, args.batch, 1, device, options=options)), train_step,
                        args.batches, args.batch, device)
            bound = "loader" if loader_alone < model_alone else "model"
            print(f"{decode:>10} {loader_alone:>12.0f}/s {model_alone:>11.0f}/s {both:>8.0f}/s  {bound}")
            row(f"training input, {decode} decoding, {args.model} at {args.img_size} px on {device}: "
                f"loader and model together", f"{both:.0f} images/s",
                f"slower of loader alone ({loader_alone:.0f}/s) and model alone ({model_alone:.0f}/s)",
                min(loader_alone, model_alone) / both if both > 0 else None, f"bound by the {bound}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
