"""The ``interpretability`` evaluation suite: attribution maps and their metrics at every step.

For each configured attribution method applicable to the model's architecture, on the first
``n_images`` evaluation images: compute the maps for the true class (``target="label"``) or the
model's predicted class (``target="predicted"``, the study's choice), score them with each
configured metric (one value per image), and save the maps of the first ``gallery_size``
images to ``run_dir/interpretability/gallery_step{step:03d}.npz`` for the report.

The ``paper`` profile (``eval=paper``) sets the options of arXiv 2507.01722 and its authors'
code: predicted class; Integrated Gradients under a SmoothGrad noise tunnel of 2 samples at
stdev 1.0 on the normalised input, 50 steps, zero baseline, channels pooled as the squared L2
norm; Grad-CAM on the last block of ``layer4`` and the ViT's CLS attention of the last block,
heads summed, min-max scaled to [0, 1]; an all-zero map scores RMA 0 and RRA 0 (the study's
code gives such a map's RRA by its reversed pixel order: ``zero_map="last_pixels"``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

import numpy as np
import pandas as pd
import torch

from robustlab.common.config import checked_arguments
from robustlab.common.constraints import (
    NonEmpty,
    NonNegativeFloat,
    NonNegativeInt,
    OneOf,
    PositiveInt,
    Unique,
)
from robustlab.common.errors import ConfigError
from robustlab.common.io import atomic_path
from robustlab.pruning.arch_methods import configured_methods
from robustlab.pruning.interpret.methods import ATTRIBUTIONS, attribute
from robustlab.pruning.interpret.metrics import (
    CHANNEL_POOLS,
    ZERO_MAPS,
    deletion_auc,
    energy_pointing_game,
    insertion_auc,
    minmax_scale,
    pointing_game,
    relevance_mass_accuracy,
    relevance_rank_accuracy,
)
from robustlab.pruning.interpret.sanity import parameter_randomization_check
from robustlab.pruning.suites import SUITES, EvalContext, MethodNames, SuiteResult, suite_arguments

log = logging.getLogger(__name__)

# Metrics of a map alone (maps, masks) -> (N,).
_MASK_METRICS: dict[str, Callable[[torch.Tensor, torch.Tensor], np.ndarray]] = {
    "rma": relevance_mass_accuracy,
    "rra": relevance_rank_accuracy,
    "pointing_game": pointing_game,
    "energy_pointing_game": energy_pointing_game,
}
# Metrics that query the model again.
_MODEL_METRICS = ("deletion_auc", "insertion_auc", "randomization_spearman")
METRICS = (*_MASK_METRICS, *_MODEL_METRICS)
TARGETS = ("label", "predicted")


def _label_lookup(ctx: EvalContext, target: str, label_map: Mapping[str, Any] | None) -> torch.Tensor | None:
    """Evaluation label -> model class (-1: not mapped); None when labels are the model's classes.

    Raises:
        ValueError: ``target="label"`` on data whose classes are not the model's and no
            ``label_map``, or a map naming an unknown class.
    """
    if target not in TARGETS:
        raise ConfigError(f"interpretability.target must be one of {TARGETS}, got {target!r}")
    model_classes = list(ctx.extras.get("classes") or [])
    eval_classes = list(ctx.extras.get("eval_classes") or model_classes)
    if target == "predicted" or eval_classes == model_classes:
        return None
    if not label_map:
        raise ConfigError(f"interpretability: target='label' on {ctx.extras.get('eval_data')!r}, whose classes are "
                         "not the model's: set interpretability.label_map (evaluation class -> model class) "
                         "or target='predicted'")
    lut = torch.full((len(eval_classes),), -1, dtype=torch.long)
    for name, value in label_map.items():
        if name not in eval_classes:
            raise ConfigError(f"interpretability.label_map: {name!r} is not a class of the evaluation data")
        index = model_classes.index(value) if isinstance(value, str) and value in model_classes else value
        if not isinstance(index, int) or not 0 <= index < ctx.num_classes:
            raise ConfigError(f"interpretability.label_map.{name}: {value!r} is not a model class (name or index)")
        lut[eval_classes.index(name)] = index
    return lut


def _targets(ctx: EvalContext, batch: Any, target: str, lut: torch.Tensor | None) -> tuple[torch.Tensor, np.ndarray]:
    """Classes to explain and a per-image validity flag (False: a label the map leaves out)."""
    labels = torch.as_tensor(batch.labels).cpu()
    if target == "label" and lut is None:
        return labels, np.ones(len(labels), dtype=bool)
    with torch.no_grad():
        predicted = ctx.model(batch.images).argmax(dim=1).cpu()
    if target == "predicted":
        return predicted, np.ones(len(labels), dtype=bool)
    assert lut is not None  # target "label" with a label map
    mapped = torch.where(labels >= 0, lut[labels.clamp(min=0)], -1)
    valid = (mapped >= 0).numpy()
    return torch.where(mapped >= 0, mapped, predicted), valid


def mask_metric(metric: str, maps: torch.Tensor, masks: torch.Tensor, zero_map: str = "nan") -> np.ndarray:
    """One mask metric per image; an image without object pixels scores NaN, or 0 in RMA and
    RRA with ``zero_map="zero"`` or ``"last_pixels"`` (the study's ``inside / (total + eps)`` and
    ``N_gt / (N + eps)``).
    """
    masks = torch.as_tensor(masks).to(maps.device).bool()
    present = masks.flatten(1).any(dim=1)
    out = np.full(maps.shape[0], np.nan)
    if metric in ("rma", "rra") and zero_map != "nan":
        out[:] = 0.0
    keep = present.cpu().numpy()
    if keep.any():
        kwargs = {"zero_map": zero_map} if metric in ("rma", "rra") else {}
        out[keep] = _MASK_METRICS[metric](maps[present], masks[present], **kwargs)
    return out


def _gallery_images(images: torch.Tensor, normalize: tuple[Sequence[float], Sequence[float]]) -> np.ndarray:
    """Normalised ``(G, 3, H, W)`` inputs -> ``(G, H, W, 3)`` uint8 pictures."""
    mean = torch.as_tensor(normalize[0], dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.as_tensor(normalize[1], dtype=torch.float32).view(1, -1, 1, 1)
    pic = (images.detach().float().cpu() * std + mean).clamp(0, 1)
    return (pic.permute(0, 2, 3, 1).numpy() * 255.0).round().astype(np.uint8)


def save_gallery(path: Any, images: np.ndarray, index: np.ndarray, maps: Mapping[str, np.ndarray]) -> None:
    """Write the gallery file atomically: ``images``, ``index`` and one ``map_<method>`` each."""
    arrays: dict[str, Any] = {"images": images, "index": np.asarray(index)}
    arrays.update({f"map_{name}": np.asarray(m, dtype=np.float32) for name, m in maps.items()})
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def summarize(per_image: pd.DataFrame, keys: Sequence[str] = ("method", "metric")) -> list[dict[str, Any]]:
    """Rows ``{method, metric, mean, std, n}`` over the finite per-image values.

    ``std`` is the sample standard deviation (``ddof=1``; NaN for fewer than two values).
    """
    rows = []
    for key, group in per_image.groupby(list(keys), sort=False):
        values = group["value"].to_numpy(dtype=np.float64)
        values = values[np.isfinite(values)]
        rows.append({**dict(zip(keys, key, strict=True)),
                     "mean": float(values.mean()) if len(values) else float("nan"),
                     "std": float(values.std(ddof=1)) if len(values) > 1 else float("nan"),
                     "n": int(len(values))})
    return rows


_IDENTITY = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))  # (mean, std) of data that is not normalised


def check_options(ctx: EvalContext, **options: Any) -> None:
    """What the declared constraints of the options (checked when the config is bound) cannot
    say, before the sweep trains (the ``check`` of its registration).

    Raises:
        ConfigError: an unknown method or method option, ``target="label"`` on evaluation data
            of other classes without ``label_map``.
    """
    args = suite_arguments(interpretability_suite, ctx, options)
    configured_methods("interpretability", ATTRIBUTIONS, ctx.arch, args["methods"], args["method_options"])
    _label_lookup(ctx, args["target"], args["label_map"])


def _result(records: list[pd.DataFrame], mean_denominator: int | None = None) -> SuiteResult:
    """The summary rows and the per-image table of the per-image records (none: no rows).

    With ``mean_denominator`` (the study's image selection, a reproduction) each row's ``mean``
    is the sum of its finite values divided by it, as the study's means are.
    """
    if not records:
        return SuiteResult(rows=[], per_image=None)
    per_image = pd.concat(records, ignore_index=True)
    rows = summarize(per_image)
    if mean_denominator:
        sums = per_image.groupby(["method", "metric"], sort=False)["value"].sum(min_count=1)
        for row in rows:
            row["mean"] = float(sums.loc[(row["method"], row["metric"])]) / int(mean_denominator)
    return SuiteResult(rows=rows, per_image=per_image)


def _usable_metrics(ctx: EvalContext, metrics: Sequence[str]) -> list[str]:
    """``metrics`` without the mask metrics when the data has no object masks."""
    if not ctx.extras.get("has_masks", True):
        skipped = [m for m in metrics if m in _MASK_METRICS]
        if skipped:
            log.info("interpretability: the data has no object masks; %s skipped", ", ".join(skipped))
        return [m for m in metrics if m not in _MASK_METRICS]
    return list(metrics)


def _score(ctx: EvalContext, name: str, metrics: Sequence[str], batch: Any, images: torch.Tensor,
           maps: torch.Tensor, targets: torch.Tensor, opts: Mapping[str, Any], perturbation_steps: int,
           zero_map: str) -> dict[str, Any]:
    """Every metric of one method's maps on one batch: metric -> per-image values."""
    values = {}
    for metric in metrics:
        if metric in _MASK_METRICS:
            values[metric] = mask_metric(metric, maps, batch.masks, zero_map)
        elif metric == "deletion_auc":
            values[metric] = deletion_auc(ctx.model, images, maps, targets, n_steps=perturbation_steps)
        elif metric == "insertion_auc":
            values[metric] = insertion_auc(ctx.model, images, maps, targets, n_steps=perturbation_steps)
        else:
            values[metric] = parameter_randomization_check(
                name, ctx.model, batch.images, targets, arch=ctx.arch, seed=ctx.seed, **opts)
    return values


@SUITES.register("interpretability", methods=ATTRIBUTIONS, directions=[
    # Localisation (RMA, RRA, pointing games) and insertion AUC are better high; deletion AUC,
    # complexity, sensitivity and the similarity to a randomised model's attributions
    # (Adebayo et al. 2018's sanity check) are better low.
    ("*", "*deletion*", -1),
    ("*", "*randomization*", -1),
    ("*", "*complexity*", -1),
    ("*", "*sensitivity*", -1),
    ("*", "*", +1),
], summarize=summarize, check=check_options)
@checked_arguments("eval.suites.interpretability")
def interpretability_suite(
    ctx: EvalContext,
    methods: MethodNames | Mapping[str, MethodNames] = ("gradcam",),
    metrics: Annotated[Sequence[Annotated[str, OneOf(*METRICS)]], NonEmpty(), Unique()] = (
        "rma", "rra", "pointing_game"),
    n_images: PositiveInt | None = 64,
    gallery_size: NonNegativeInt = 8,
    ig_steps: PositiveInt = 16,
    ig_internal_batch_size: PositiveInt = 64,
    smoothgrad_samples: NonNegativeInt = 0,
    perturbation_steps: PositiveInt = 8,
    target: Annotated[str, OneOf(*TARGETS)] = "label",
    label_map: Mapping[str, Any] | None = None,
    smoothgrad_stdev: NonNegativeFloat = 0.15,
    smoothgrad_stdev_mode: Annotated[str, OneOf("range", "absolute")] = "range",
    ig_channel_pool: Annotated[str, OneOf(*CHANNEL_POOLS)] = "sum",
    minmax: Sequence[str] = (),
    attention_heads: Annotated[str, OneOf("mean", "sum")] = "mean",
    zero_map: Annotated[str, OneOf(*ZERO_MAPS)] = "nan",
    method_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> SuiteResult:
    """Attribution maps of the model at this step and their localisation metrics.

    Args:
        ctx: the sweep's evaluation context.
        methods: attribution methods (a list, of which those not applicable to ``ctx.arch``
            are skipped, or a mapping ``arch -> list``).
        metrics: among ``rma``, ``rra``, ``pointing_game``, ``energy_pointing_game``,
            ``deletion_auc``, ``insertion_auc`` and ``randomization_spearman`` (Adebayo et al.
            2018; one more attribution per method on a randomised copy of the model). On data
            without object masks (``ctx.extras["has_masks"]`` false) the mask metrics are skipped.
        n_images: evaluation images scored (None: the whole held-out split).
        gallery_size: images whose maps are saved for the report.
        ig_steps, ig_internal_batch_size, smoothgrad_samples, smoothgrad_stdev,
            smoothgrad_stdev_mode, ig_channel_pool: Integrated Gradients options
            (:func:`~robustlab.pruning.interpret.methods.integrated_gradients`).
        perturbation_steps: points of the deletion / insertion curves.
        target: ``"label"`` (the image's class; on evaluation data with other classes than the
            model's, mapped through ``label_map``) or ``"predicted"`` (the model's top class).
        label_map: evaluation class name -> model class (name or index); images whose class
            is not mapped are explained for the predicted class and score NaN.
        minmax: methods whose maps are min-max scaled to [0, 1] before scoring
            (:func:`~robustlab.pruning.interpret.metrics.minmax_scale`).
        attention_heads: ``"mean"`` or ``"sum"`` over heads of ``vit_cls_attention``.
        zero_map: ``"nan"`` (default), ``"zero"`` or ``"last_pixels"`` (a reproduction): the
            RMA and RRA of an all-zero map, and of an image without object pixels (:func:`mask_metric`).
        method_options: options per attribution method, over the keys above
            (``{integrated_gradients: {n_steps: 50}, gradcam: {target_layer: layer3}}``); each
            is a keyword of the method (:func:`~robustlab.pruning.suites.merge_method_options`).

    Returns:
        Rows ``{method, metric, mean, std, n}`` and the per-image table
        ``index, method, metric, value``.
    """
    lut = _label_lookup(ctx, target, label_map)
    metrics = _usable_metrics(ctx, metrics)
    ig = {"n_steps": ig_steps, "internal_batch_size": ig_internal_batch_size, "seed": ctx.seed,
          "smoothgrad_samples": smoothgrad_samples, "smoothgrad_stdev": smoothgrad_stdev,
          "smoothgrad_stdev_mode": smoothgrad_stdev_mode, "channel_pool": ig_channel_pool}
    names, options = configured_methods("interpretability", ATTRIBUTIONS, ctx.arch, methods, method_options, {
        "integrated_gradients": ig, "vit_cls_attention": {"heads": attention_heads}})
    gallery_maps: dict[str, list[np.ndarray]] = {name: [] for name in names}
    records: list[pd.DataFrame] = []
    gallery_pics: list[np.ndarray] = []  # the gallery's images
    gallery_index: list[np.ndarray] = []  # their indices
    for batch in ctx.batches(max_images=n_images):
        index = np.asarray(torch.as_tensor(batch.index).cpu())
        take = max(0, min(gallery_size - sum(map(len, gallery_index)), len(index)))
        if gallery_pics and gallery_pics[0].shape[1:3] != tuple(batch.images.shape[-2:]):
            take = 0  # full-resolution data: the gallery keeps the images of the first size
        if take:
            gallery_pics.append(_gallery_images(batch.images[:take], ctx.extras.get("normalize", _IDENTITY)))
            gallery_index.append(index[:take])
        targets, valid = _targets(ctx, batch, target, lut)
        for name in names:
            opts = options.get(name, {})
            maps = attribute(name, ctx.model, batch.images, targets, arch=ctx.arch, **opts)
            if name in minmax:
                maps = minmax_scale(maps)
            images = batch.images.to(maps.device, torch.float32)
            if take:
                gallery_maps[name].append(maps[:take].cpu().numpy())
            values = _score(ctx, name, metrics, batch, images, maps, targets, opts,
                            perturbation_steps, zero_map)
            for metric, vals in values.items():
                vals = np.where(valid, np.asarray(vals, dtype=np.float64), np.nan)
                records.append(pd.DataFrame({"index": index, "method": name, "metric": metric, "value": vals}))
    if gallery_pics and records:
        save_gallery(ctx.run_dir / "interpretability" / f"gallery_step{ctx.step:03d}.npz",
                     np.concatenate(gallery_pics), np.concatenate(gallery_index),
                     {name: np.concatenate(m) for name, m in gallery_maps.items()})
    return _result(records, ctx.extras.get("mean_denominator"))
