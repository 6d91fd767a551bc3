"""Deterministic seeding of every random number generator a run may touch."""

from __future__ import annotations

import os
import random

import numpy as np


def seed_everything(
    seed: int, deterministic: bool = True, torch: bool | None = None
) -> np.random.Generator:
    """Seed Python, NumPy and, when importable, torch (CPU and every CUDA device).

    Args:
        seed: a non-negative integer.
        deterministic: also ask torch for deterministic kernels (cuDNN deterministic, no
            cuDNN benchmark, ``torch.use_deterministic_algorithms`` with warnings only, and the
            cuBLAS workspace setting it needs). Slower on a GPU, bit-reproducible on one device.
        torch: seed torch too: ``None`` when it is importable, ``False`` never (an app that does
            not use torch saves the seconds of importing it), ``True`` always.

    Returns:
        A fresh ``numpy.random.Generator`` seeded with ``seed``, for code that takes a generator.

    Example:
        >>> rng = seed_everything(0)
        >>> float(rng.random()) == float(np.random.default_rng(0).random())
        True
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - seeding the legacy global state is the point
    os.environ["PYTHONHASHSEED"] = str(seed)
    if torch is not False:
        _seed_torch(seed, deterministic, required=bool(torch))
    return np.random.default_rng(seed)


def _seed_torch(seed: int, deterministic: bool, required: bool) -> None:
    # torch is imported here only: a radiomics user never installs it.
    try:
        import torch
    except ImportError:
        if required:
            raise
        return
    if deterministic:
        # Required by cuBLAS for deterministic matrix products (CUDA >= 10.2).
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
