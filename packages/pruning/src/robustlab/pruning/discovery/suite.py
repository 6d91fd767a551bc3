"""The ``discovery`` evaluation suite: unsupervised object discovery (CorLoc) at every step.

The model's patch features are computed once per batch; every configured method applicable to
the architecture predicts one box per image from them, scored by CorLoc against the
ground-truth boxes. A centred box (half of each side) is scored alongside as the baseline any
discovery method should beat.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Annotated, Any

import numpy as np
import pandas as pd
import torch

from robustlab.common.config import checked_arguments
from robustlab.common.constraints import Interval, OneOf, PositiveInt
from robustlab.pruning.arch_methods import configured_methods
from robustlab.pruning.discovery.boxes import AT_THRESHOLD, best_iou, corloc_hits
from robustlab.pruning.discovery.dilation import DILATIONS
from robustlab.pruning.discovery.features import patch_features
from robustlab.pruning.discovery.lost import SEED_ORDERS
from robustlab.pruning.discovery.methods import DISCOVERY, centred_boxes
from robustlab.pruning.interpret.layers import model_device
from robustlab.pruning.interpret.suite import summarize
from robustlab.pruning.suites import SUITES, EvalContext, MethodNames, SuiteResult, suite_arguments

log = logging.getLogger(__name__)

BASELINE = "centred_box"


def check_options(ctx: EvalContext, **options: Any) -> None:
    """What the declared constraints of the options (checked when the config is bound) cannot
    say, before the sweep trains (the ``check`` of its registration).

    Raises:
        UnknownNameError, ConfigError: an unknown method or method option.
    """
    args = suite_arguments(discovery_suite, ctx, options)
    configured_methods("discovery", DISCOVERY, ctx.arch, args["methods"], args["method_options"])


# CorLoc, IoU, AP and recall are better high; errors low.
@SUITES.register("discovery", methods=DISCOVERY, directions=[("*", "*error*", -1), ("*", "*", +1)], summarize=summarize,
                check=check_options)
@checked_arguments("eval.suites.discovery")
def discovery_suite(
    ctx: EvalContext,
    methods: MethodNames | Mapping[str, MethodNames] = ("lost", "tokencut"),
    n_images: PositiveInt | None = 64,
    k_patches: PositiveInt = 100,
    lost_center: bool | None = None,
    lost_layernorm: bool | Annotated[str, OneOf("cnn")] = False,
    lost_seed_order: Annotated[str, OneOf(*SEED_ORDERS)] = "stable",
    tau: Annotated[float, Interval(-1, 1, closed="left")] = 0.2,  # a cosine similarity
    attention_mass: Annotated[float, Interval(0, 1, closed="right")] = 0.6,
    iou_threshold: Annotated[float, Interval(0, 1, closed="right")] = 0.5,
    lost_iou_at_half: Annotated[str, OneOf(*AT_THRESHOLD)] = "hit",
    feature_layer: str | None = None,
    lost_dilation: Annotated[int, OneOf(*DILATIONS)] = 1,
    method_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> SuiteResult:
    """CorLoc of LOST, TokenCut and (ViT) the attention baseline on the model's patch features.

    Args:
        ctx: the sweep's evaluation context.
        methods: discovery methods (a list, of which those not applicable to ``ctx.arch`` are
            skipped, or a mapping ``arch -> list``).
        n_images: evaluation images scored (None: the whole held-out split).
        k_patches: LOST's candidate set size (100 in the paper).
        lost_center: centre the patch features before LOST (None: for CNNs only, whose
            non-negative ReLU features otherwise make LOST return the whole image; not with
            ``lost_layernorm``).
        lost_layernorm: normalise each image's whole feature map (``LayerNorm`` over patches and
            channels) before LOST: ``"cnn"`` for CNN feature maps only, as the study runs it
            (``feature_layer: layer4``), ``True`` for every architecture.
        lost_seed_order: ``"stable"`` or ``"authors"`` (LOST's own tie order among equal
            degrees, :func:`~robustlab.pruning.discovery.lost.lost`).
        tau: TokenCut's similarity threshold (0.2 in the paper).
        attention_mass: share of CLS attention kept by the attention baseline.
        iou_threshold: IoU of a correct localisation.
        lost_iou_at_half: an IoU equal to ``iou_threshold``, for every method's CorLoc:
            ``"hit"`` (``IoU >= 0.5``, the comparison LOST's and the study's code write; our
            default) or ``"miss"`` (what the epsilon of their IoU makes of it, and PASCAL VOC's
            criterion; ``eval=paper``), :func:`~robustlab.pruning.discovery.boxes.corloc_hits`.
        feature_layer: CNN only, the module whose feature map to use (default: last stage).
        lost_dilation: CNN only, LOST's ResNet dilation: 1 (none, as the study's ``main_lost.py``
            runs), 2 (``layer4`` dilated) or 4 (``layer3`` and ``layer4``); Bottleneck ResNets.
        method_options: options per discovery method, over the keys above
            (``{lost: {k_patches: 50}, tokencut: {tau: 0.3}}``); each is a keyword of the method.

    Returns:
        Rows ``{method, metric, mean, std, n}`` for metrics ``corloc`` (hits) and ``iou`` (best
        IoU per image), the ``centred_box`` baseline included, and the per-image table; no rows
        on data without boxes (``ctx.extras["has_masks"]`` false).
    """
    if not ctx.extras.get("has_masks", True):
        log.info("discovery: the data has no ground-truth boxes; suite skipped")
        return SuiteResult(rows=[], per_image=None)
    chosen, options = configured_methods("discovery", DISCOVERY, ctx.arch, methods, method_options, {
        "lost": {"k_patches": k_patches, "center": lost_center, "layernorm": lost_layernorm,
                 "seed_order": lost_seed_order},
        "lost_concat_qkv": {"k_patches": k_patches},
        "tokencut": {"tau": tau}, "attention": {"mass": attention_mass}})
    records = []
    missed: dict[str, int] = {}
    device = model_device(ctx.model)
    for batch in ctx.batches(max_images=n_images):
        index = np.asarray(torch.as_tensor(batch.index).cpu())
        gt = [np.asarray(torch.as_tensor(b).cpu(), dtype=np.float64).reshape(-1, 4) for b in batch.boxes]
        images = batch.images.to(device, torch.float32)
        patches = patch_features(ctx.model, images, ctx.arch, feature_layer=feature_layer,
                                 dilation=lost_dilation if ctx.arch == "cnn" else 1)
        preds = {name: DISCOVERY.get(name)(patches, **options.get(name, {}))[0] for name in chosen}
        preds[BASELINE] = centred_boxes(len(index), patches.image_size)
        for name, boxes in preds.items():
            missed[name] = missed.get(name, 0) + int(np.isnan(boxes).any(axis=1).sum())
            iou = best_iou(boxes, gt)
            hits = corloc_hits(iou, iou_threshold, lost_iou_at_half).astype(np.float64)
            for metric, values in (("corloc", hits), ("iou", iou)):
                records.append(pd.DataFrame({"index": index, "method": name, "metric": metric,
                                             "value": values}))
    if not records:
        return SuiteResult(rows=[], per_image=None)
    _warn_missed(missed, ctx)
    per_image = pd.concat(records, ignore_index=True)
    return SuiteResult(rows=summarize(per_image), per_image=per_image)


def _warn_missed(missed: Mapping[str, int], ctx: EvalContext) -> None:
    """One warning per method that gave no box for some images (a seed outside its foreground,
    :func:`~robustlab.pruning.discovery.boxes.seed_component_boxes`): each is a miss."""
    for name, count in missed.items():
        if count:
            log.warning("discovery: %s found no object in %d image(s) at step %s (its seed patch "
                        "has no similar patch: features all zero?); each counts as a miss",
                        name, count, ctx.step)
