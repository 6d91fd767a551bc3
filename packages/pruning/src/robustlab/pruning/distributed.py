"""Data-parallel sweeps with ``torch.distributed``: who this process is, and the few collectives
the sweep needs.

The same command runs in one process or in many: ``torchrun --nproc_per_node=N robustlab-prune
...`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; Slurm (``srun``, or Hydra's
``submitit_slurm`` launcher with ``hydra.launcher.tasks_per_node=N``) sets ``SLURM_PROCID``,
``SLURM_STEP_NUM_TASKS`` and ``SLURM_LOCALID``; with neither, the sweep runs in this process
alone. Ranks talk over NCCL on GPUs and gloo on CPUs; every collective has a timeout, so a rank
that died stops the others with an error instead of a hang.

What the sweep keeps identical on every rank, and checks:

* the weights: DistributedDataParallel averages the gradients, and after each training run the
  parameters and buffers of rank 0 are broadcast (BatchNorm running statistics of unsynchronised
  BatchNorm differ per rank otherwise);
* the masks: each rank prunes the same weights, then rank 0's masks are broadcast and a
  fingerprint of every rank's masks is compared (:func:`check_identical`).

References:
    Li et al., "PyTorch Distributed: Experiences on Accelerating Data Parallel Training",
    VLDB 2020 (DistributedDataParallel). Goyal et al., "Accurate, Large Minibatch SGD: Training
    ImageNet in 1 Hour", 2017 (the learning rate follows the global batch).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class Dist:
    """This process's place in a data-parallel run (``world_size == 1``: one process, no group).

    Attributes:
        rank: global rank, 0 .. world_size - 1.
        world_size: number of processes.
        local_rank: rank on this node (picks the GPU).
        backend: ``"nccl"``, ``"gloo"`` or None (one process).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        """True when several processes share the work."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files and logs."""
        return self.rank == 0


def ranks_from_env(environ: Mapping[str, str] | None = None) -> tuple[int, int, int, str]:
    """``(rank, world_size, local_rank, launcher)`` from the launcher's environment.

    torchrun's ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` come first, then Slurm's
    ``SLURM_PROCID``/``SLURM_STEP_NUM_TASKS``/``SLURM_LOCALID`` (set by ``srun`` for each task of
    a job step; a plain ``sbatch`` script without ``srun`` is one process); otherwise
    ``(0, 1, 0, "none")``.
    """
    env = os.environ if environ is None else environ
    if "RANK" in env and "WORLD_SIZE" in env:
        return int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", 0)), "torchrun"
    if "SLURM_PROCID" in env and int(env.get("SLURM_STEP_NUM_TASKS", 1)) > 1:
        return (int(env["SLURM_PROCID"]), int(env["SLURM_STEP_NUM_TASKS"]), int(env.get("SLURM_LOCALID", 0)),
                "slurm")
    return 0, 1, 0, "none"


def _slurm_rendezvous() -> None:
    # Slurm tasks need a rendezvous address; submitit's helper derives it from the job's node
    # list (first node) and job id (port), the same on every task.
    if "MASTER_ADDR" in os.environ and "MASTER_PORT" in os.environ:
        return
    try:
        from submitit.helpers import TorchDistributedEnvironment

        TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
    except Exception as err:  # not a submitit job: the user must say where rank 0 listens
        raise RuntimeError("a multi-task Slurm step needs MASTER_ADDR and MASTER_PORT (the first node and a "
                           "free port), or launch it through hydra/launcher=submitit_slurm") from err


def init_distributed(device: torch.device, timeout_s: float = 600.0) -> Dist:
    """Join the process group the launcher describes; one process when there is none.

    Args:
        device: the device asked for; ``cuda`` selects NCCL and the GPU ``cuda:<local_rank>``,
            anything else gloo.
        timeout_s: how long a collective waits for the other ranks before it fails.

    Returns:
        This process's :class:`Dist`.
    """
    rank, world, local, launcher = ranks_from_env()
    if world == 1:
        return Dist()
    import torch.distributed as dist

    if launcher == "slurm":
        os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(local))
        _slurm_rendezvous()
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(local_device(device, local))
    if not dist.is_initialized():
        dist.init_process_group(backend, rank=rank, world_size=world, timeout=timedelta(seconds=timeout_s))
    return Dist(rank, world, local, backend)


def local_device(device: torch.device, local_rank: int) -> torch.device:
    """The GPU of this rank: ``cuda:<local_rank>``, or ``cuda:0`` when the launcher already
    restricted each task to its own GPU (``CUDA_VISIBLE_DEVICES`` of one device)."""
    if device.type != "cuda":
        return device
    return torch.device("cuda", local_rank if local_rank < torch.cuda.device_count() else 0)


def shutdown(d: Dist) -> None:
    """Leave the process group (nothing in one process)."""
    if d.enabled:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


@contextlib.contextmanager
def rank_errors(d: Dist) -> Iterator[None]:
    """Prefix an error raised in this block with ``rank r of n:``, keeping its type.

    A collective that fails because another rank died says so here; the launcher (torchrun's
    summary, Slurm's log of each task) names the rank that failed first.
    """
    try:
        yield
    except Exception as err:
        if d.enabled and err.args and isinstance(err.args[0], str):
            err.args = (f"rank {d.rank} of {d.world_size}: {err.args[0]}", *err.args[1:])
        raise


# -- collectives -----------------------------------------------------------------------------


def all_gather_objects(d: Dist, obj: Any) -> list[Any]:
    """Every rank's ``obj`` (picklable), in rank order, on every rank."""
    if not d.enabled:
        return [obj]
    import torch.distributed as dist

    out: list[Any] = [None] * d.world_size
    dist.all_gather_object(out, obj)
    return out


def shard_batches(batches: Callable[..., Iterator[Any]], d: Dist) -> Callable[..., Iterator[Any]]:
    """``batches(...)`` keeping batch ``i`` only on rank ``i % world_size``: each rank scores
    its share of a suite's images (every rank still reads them all; the model's work is split)."""

    def sharded(*args: Any, **kwargs: Any) -> Iterator[Any]:
        for i, batch in enumerate(batches(*args, **kwargs)):
            if i % d.world_size == d.rank:
                yield batch

    return sharded


def broadcast_object(d: Dist, obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not d.enabled:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(d: Dist) -> None:
    """Wait for every rank (within the group's timeout)."""
    if d.enabled:
        import torch.distributed as dist

        dist.barrier()


def check_identical(d: Dist, value: Any, what: str) -> None:
    """Raise ``RuntimeError`` unless ``value`` (a string, number or fingerprint) is the same on
    every rank; the message names ``what`` and the ranks that differ from rank 0."""
    values = all_gather_objects(d, value)
    differ = [r for r, v in enumerate(values) if v != values[0]]
    if differ:
        raise RuntimeError(f"{what} differs between ranks: rank 0 has {values[0]!r}, "
                           + ", ".join(f"rank {r} has {values[r]!r}" for r in differ))


def fingerprint(tensors: Mapping[str, torch.Tensor]) -> str:
    """SHA-1 of the names, shapes, dtypes and bytes of ``tensors`` (exact, order-independent)."""
    h = hashlib.sha1()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def broadcast_tensors(d: Dist, tensors: list[torch.Tensor]) -> None:
    """Overwrite ``tensors`` in place with rank 0's values."""
    if not d.enabled:
        return
    import torch.distributed as dist

    with torch.no_grad():
        for t in tensors:
            dist.broadcast(t.data, src=0)


def sync_module(d: Dist, model: nn.Module) -> None:
    """Give every rank rank 0's parameters and buffers (masks and BatchNorm statistics included)."""
    broadcast_tensors(d, [*model.parameters(), *model.buffers()])


def mean_over_ranks(d: Dist, value: float, device: torch.device) -> float:
    """The mean of ``value`` over ranks (a global batch's loss from its per-rank means)."""
    if not d.enabled:
        return value
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t) / d.world_size


def data_parallel(d: Dist, model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` wrapped in DistributedDataParallel (the model itself in one process)."""
    if not d.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    # DDP's default broadcasts rank 0's buffers (masks, BatchNorm statistics) at every forward.
    return DistributedDataParallel(model, device_ids=ids)


# -- BatchNorm over the global batch -----------------------------------------------------------


class _AllReduceSum(torch.autograd.Function):
    """Differentiable sum over ranks: the gradient of a sum over ranks is the sum over ranks of
    the gradients (torch.distributed.nn's equivalent is deprecated)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        out = x.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of the global batch, over all ranks.

    With ``n`` the global number of values per channel, the mean ``mu = sum(x) / n`` and the
    biased variance ``var = sum((x - mu)^2) / n`` are summed over ranks by two differentiable
    all-reduces; the output is ``(x - mu) / sqrt(var + eps) * weight + bias`` and the running
    variance takes the unbiased ``var * n / (n - 1)``, as ``torch.nn.SyncBatchNorm`` does.
    torch's SyncBatchNorm runs on GPUs only; this one runs on every backend (gloo on CPU), which
    is why it exists.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        all_reduce = _AllReduceSum.apply
        dims = [0, *range(2, x.dim())]
        count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype, device=x.device)
        total = all_reduce(torch.cat([x.sum(dim=dims), count]))
        n = total[-1]
        mean = total[:-1] / n
        shape = [1, -1] + [1] * (x.dim() - 2)
        centred = x - mean.view(shape)
        var = all_reduce((centred * centred).sum(dim=dims)) / n
        if (self.track_running_stats and self.running_mean is not None and self.running_var is not None
                and self.num_batches_tracked is not None):
            with torch.no_grad():
                momentum = 0.1 if self.momentum is None else self.momentum
                self.running_mean.lerp_(mean.detach(), momentum)
                self.running_var.lerp_(var.detach() * n / (n - 1), momentum)
                self.num_batches_tracked.add_(1)
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out


@contextlib.contextmanager
def synchronized_batchnorm(model: nn.Module, d: Dist, device: torch.device, enabled: bool) -> Iterator[None]:
    """Within the block, every ``BatchNorm2d`` of ``model`` normalises over the global batch.

    On CUDA the modules become ``torch.nn.SyncBatchNorm``, elsewhere :class:`GlobalBatchNorm2d`;
    they are turned back into ``BatchNorm2d`` (same parameters and buffers) on exit, so the
    checkpoints and the pruning code see the model they know.
    """
    if not (enabled and d.enabled):
        yield
        return
    # Any: their class changes in place, which a static type cannot follow
    swapped: list[Any] = [m for m in model.modules() if type(m) is nn.BatchNorm2d]
    for m in swapped:
        if device.type == "cuda":
            m.__class__ = nn.SyncBatchNorm
            m.process_group = None  # the default group
        else:
            m.__class__ = GlobalBatchNorm2d
    try:
        yield
    finally:
        for m in swapped:
            m.__class__ = nn.BatchNorm2d
            m.__dict__.pop("process_group", None)
