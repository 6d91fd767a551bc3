"""The sweep's small ResNet, built from ``conf/pruning/model/resnet_small.yaml`` for the benches."""

from __future__ import annotations

from pathlib import Path

import torch

from robustlab.common import safe_yaml
from robustlab.pruning.models import ModelSpec, create_model

CONFIG = Path(__file__).resolve().parents[1] / "conf" / "pruning" / "model" / "resnet_small.yaml"


def small_resnet(num_classes: int, img_size: int = 64, seed: int = 0) -> torch.nn.Module:
    """``resnet_small`` as the sweep builds it (timm name and constructor keywords from its config)."""
    config = safe_yaml.load(CONFIG)
    torch.manual_seed(seed)
    spec = ModelSpec(config["name"], num_classes=num_classes, img_size=img_size,
                     kwargs=dict(config.get("kwargs") or {}))
    return create_model(spec).eval()
