"""The training input pipeline: each rank's share of every global batch, kept flowing.

The order of an epoch is a permutation drawn from ``(seed, epoch)`` alone and cut into global
batches of ``batch_size``; rank ``r`` of ``n`` takes the ``r``-th of ``n`` equal slices of each
global batch. A data-parallel run therefore sees, step for step, the same global batches as
one process with the same ``batch_size``.

Procedural data is rendered on the device. On-disk data goes through one ``DataLoader`` per
training run with worker processes, pinned memory, persistent workers (kept across epochs) and
``prefetch_factor`` batches in flight per worker; with ``gpu_decode`` the workers only read the
JPEG files and decoding, random-resized crop and flip run on the GPU
(:mod:`robustlab.pruning.data.jpeg`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from robustlab.common.errors import ConfigError
from robustlab.pruning.data.shapes import ShapesOnTextures
from robustlab.pruning.data.sources import DataBundle, _collate, _normalize, worker_loader


@dataclass(frozen=True)
class LoaderOptions:
    """How on-disk data is loaded (ignored for procedural data).

    Attributes:
        num_workers: loader worker processes per rank (0: load in this process).
        pin_memory: page-locked host batches, copied to the GPU asynchronously (CUDA only).
        persistent_workers: keep the workers alive between epochs.
        prefetch_factor: batches each worker prepares ahead.
        gpu_decode: decode JPEGs and augment on the device (ImageFolder data only).
    """

    num_workers: int = 0
    pin_memory: bool = False
    persistent_workers: bool = True
    prefetch_factor: int = 2
    gpu_decode: bool = False


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The permutation of ``range(n)`` that epoch ``epoch`` visits (from ``(seed, epoch)`` only)."""
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=g)


class GlobalBatchSampler(Sampler[list[int]]):
    """This rank's slice of each global batch of :func:`epoch_order` (call :meth:`set_epoch`).

    Args:
        n: dataset size.
        batch_size: the global batch.
        seed: the run's seed.
        rank, world_size: this rank's slice ``[rank * b, (rank + 1) * b)`` of every global batch,
            ``b = batch_size / world_size``.
        drop_last: drop the last, incomplete global batch.
    """

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1,
                 drop_last: bool = True):
        if batch_size > n:
            raise ConfigError(f"train.batch_size={batch_size} exceeds the {n} training images")
        if batch_size % world_size:
            raise ConfigError(f"train.batch_size={batch_size} does not split over {world_size} ranks")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.rank, self.world_size, self.drop_last = rank, world_size, drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        order = epoch_order(self.n, self.seed, self.epoch)
        stop = self.n - self.n % self.batch_size if self.drop_last else self.n
        local = self.batch_size // self.world_size
        for start in range(0, stop, self.batch_size):
            batch = order[start: min(start + self.batch_size, stop)]
            yield batch[self.rank * local: (self.rank + 1) * local].tolist()


class TrainStream:
    """Normalised ``(images, labels)`` training batches on ``device``, epoch after epoch.

    Args:
        bundle: the sweep's data.
        batch_size: the global batch.
        seed: the run's seed (order and augmentation).
        device: where batches go.
        rank, world_size: this rank's slice of each global batch.
        options: loader settings for on-disk data.
        drop_last: drop the last, incomplete global batch.
    """

    def __init__(self, bundle: DataBundle, batch_size: int, seed: int, device: torch.device, *,
                 rank: int = 0, world_size: int = 1, options: LoaderOptions = LoaderOptions(),
                 drop_last: bool = True):
        self.bundle, self.device = bundle, device
        self.sampler = GlobalBatchSampler(len(bundle.train), batch_size, seed, rank, world_size, drop_last)
        self.loader: DataLoader | None = None
        self.gpu_decode = None
        if bundle.procedural:
            return
        dataset: Dataset = bundle.train
        collate = _collate
        if options.gpu_decode:
            from robustlab.pruning.data.jpeg import EncodedImageFolder, GpuAugment, collate_encoded

            dataset, collate = EncodedImageFolder.from_bundle(bundle), collate_encoded
            self.gpu_decode = GpuAugment(bundle.spec.img_size, bundle.mean, bundle.std, seed=seed * 7919 + rank)
        workers = int(options.num_workers)
        self.loader = worker_loader(
            dataset, batch_sampler=self.sampler, num_workers=workers, collate_fn=collate,
            pin_memory=options.pin_memory and device.type == "cuda",
            persistent_workers=options.persistent_workers and workers > 0,
            prefetch_factor=options.prefetch_factor if workers > 0 else None,
            generator=torch.Generator().manual_seed(seed * 100_003 + rank))

    def __len__(self) -> int:
        return len(self.sampler)

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The batches of epoch ``epoch`` (with ``fresh_train``, draw ``epoch`` of procedural data)."""
        self.sampler.set_epoch(epoch)
        if self.loader is None:
            yield from self._procedural(epoch)
            return
        for batch in self.loader:
            labels = batch["label"].to(self.device, non_blocking=True)
            if self.gpu_decode is not None:
                yield self.gpu_decode(batch["data"], self.device), labels
            else:
                yield _normalize(batch["image"].to(self.device, non_blocking=True), self.bundle), labels

    def _procedural(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        ds = self.bundle.train
        assert isinstance(ds, ShapesOnTextures)  # the one source without a loader
        if self.bundle.spec.fresh_train and epoch > 0:
            ds = ds.redrawn(epoch)
        for idx in self.sampler:
            index = torch.as_tensor(idx, dtype=torch.long)
            images, _, _ = ds.render_indices(index)
            yield _normalize(images.to(self.device, non_blocking=True), self.bundle), ds.labels[index].to(self.device)


def train_batches(bundle: DataBundle, batch_size: int, *, epoch: int, seed: int,
                  device: torch.device, num_workers: int = 0, pin_memory: bool = False,
                  drop_last: bool = True) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Shuffled, normalised ``(images, labels)`` training batches on ``device``.

    The order depends only on ``(seed, epoch)``; with ``fresh_train`` the images of epoch
    ``e > 0`` are draw ``e`` of the procedural train split. A training run keeps one
    :class:`~robustlab.pruning.data.loader.TrainStream` for all its epochs instead.
    """
    options = LoaderOptions(num_workers=num_workers, pin_memory=pin_memory, persistent_workers=False)
    return TrainStream(bundle, batch_size, seed, device, options=options, drop_last=drop_last).epoch(epoch)
