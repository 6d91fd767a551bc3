"""The ``alignment`` evaluation suite: shape bias, accuracy under distortions, error consistency.

At every sweep step it measures, on stimuli that stay the same across steps:

- ``shape_bias``: cue-conflict shape bias on procedural stimuli (shape of one class, texture of
  another) rendered by ``ctx.extras["shapes"]``;
- one method per distortion: top-1 accuracy of the evaluation images at each level;
- ``error_consistency``: Cohen's kappa of the trial-wise correctness (all distortion trials)
  against the dense model's (step 0, kept under ``<run_dir>/alignment/``) and, when
  ``human_data`` points to model-vs-human's folders, against every human observer.
"""

from __future__ import annotations

import logging
import math
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import torch

from robustlab.common.config import checked_arguments
from robustlab.common.constraints import (
    Interval,
    NonEmpty,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveInt,
    Unique,
)
from robustlab.common.io import atomic_path, read_table, write_table
from robustlab.pruning.alignment.consistency import error_consistency
from robustlab.pruning.alignment.distortions import DISTORTIONS, distort
from robustlab.pruning.alignment.human_data import (
    human_dataset,
    load_stimuli,
    model_human_consistency,
)
from robustlab.pruning.alignment.shape_bias import shape_decisions
from robustlab.pruning.suites import SUITES, EvalContext, SuiteResult, suite_arguments

log = logging.getLogger(__name__)

#: A distortion's level: the clean image at 0, stronger above.
Level = NonNegativeFloat
#: Distortions and levels used when the config names none (light: ~2 levels each).
DEFAULT_DISTORTIONS: dict[str, list[float]] = {
    "uniform_noise": [0.1, 0.3], "contrast": [0.5, 0.9], "low_pass": [1.0, 3.0],
    "high_pass": [2.0, 6.0], "phase_noise": [1.0, 2.5], "power_equalisation": [1.0],
    "false_colour": [1.0], "greyscale": [1.0], "rotation": [90.0, 180.0], "eidolon": [1.0, 3.0],
    "edges": [1.0], "silhouette": [1.0],
}
DENSE_FILE = "dense_correct"
CUE_CONFLICT_FILE = "cue_conflict.npz"


def _seed_for(seed: int, name: str) -> int:
    """A seed per (sweep seed, distortion) that does not depend on the step."""
    return (int(seed) * 1_000_003 + zlib.crc32(name.encode())) % 2**31


def _normaliser(ctx: EvalContext) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's input (mean, std) as ``(1, C, 1, 1)`` tensors (identity when not given)."""
    mean, std = ctx.extras.get("normalize", ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)))
    return (torch.as_tensor(mean, dtype=torch.float32, device=ctx.device).view(1, -1, 1, 1),
            torch.as_tensor(std, dtype=torch.float32, device=ctx.device).view(1, -1, 1, 1))


@torch.no_grad()
def _predict(ctx: EvalContext, images01: torch.Tensor, batch_size: int) -> np.ndarray:
    mean, std = _normaliser(ctx)
    out = []
    for start in range(0, images01.shape[0], batch_size):
        x = images01[start:start + batch_size].to(ctx.device)
        out.append(ctx.model((x - mean) / std).argmax(dim=1).cpu())
    return torch.cat(out).numpy()


def _levels(distortions: Mapping[str, Sequence[float] | float]) -> dict[str, list[float]]:
    """Each distortion's levels as a list (a single level may be written alone); an unknown
    distortion is an ``UnknownNameError`` with the close matches."""
    levels: dict[str, list[float]] = {}
    for name, values in dict(distortions).items():
        DISTORTIONS.get(str(name))
        levels[str(name)] = [float(v) for v in (values if isinstance(values, Sequence) else [values])]
    return levels


def _eval_images(ctx: EvalContext, n_images: int) -> tuple[torch.Tensor, np.ndarray, torch.Tensor, np.ndarray]:
    """The first ``n_images`` evaluation images back in [0, 1], with labels, masks and indices."""
    mean, std = _normaliser(ctx)
    images, labels, masks, index = [], [], [], []
    for batch in ctx.batches(max_images=n_images):
        images.append((batch.images.to(ctx.device) * std + mean).clamp(0, 1).cpu())
        labels.append(torch.as_tensor(batch.labels).cpu())
        masks.append(torch.as_tensor(batch.masks).bool().cpu())
        index.append(np.asarray(batch.index))
    if not images:
        raise ValueError("the alignment suite got no evaluation images from ctx.batches")
    return torch.cat(images), torch.cat(labels).numpy(), torch.cat(masks), np.concatenate(index)


def _cue_conflict(ctx: EvalContext, n: int) -> dict[str, np.ndarray] | None:
    """Cue-conflict stimuli, rendered once per run and kept (uint8) under ``alignment/``."""
    path = ctx.run_dir / "alignment" / CUE_CONFLICT_FILE
    if path.exists():
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    shapes = ctx.extras.get("shapes")
    if shapes is None:
        log.warning("alignment: no procedural dataset in ctx.extras['shapes']; shape bias is skipped")
        return None
    if ctx.num_classes < 2:
        raise ValueError(f"cue-conflict stimuli need at least 2 classes; the model has {ctx.num_classes}")
    rng = np.random.default_rng(_seed_for(ctx.seed, "cue_conflict"))
    shape_cls = rng.integers(0, ctx.num_classes, size=n)
    texture_cls = (shape_cls + rng.integers(1, ctx.num_classes, size=n)) % ctx.num_classes
    images, _, _ = shapes.render(shape_cls, texture_cls, seed=_seed_for(ctx.seed, "cue_conflict_render"))
    images = torch.as_tensor(images, dtype=torch.float32).cpu()
    data = {"images": (images.clamp(0, 1) * 255).round().to(torch.uint8).numpy(),
            "shape": shape_cls.astype(np.int64), "texture": texture_cls.astype(np.int64)}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **data)
    return data


def _kappa_row(metric: str, a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """A row with kappa and Cohen's (1960) large-sample standard error as ``std``."""
    kappa = float(error_consistency(a, b))
    n = a.size
    c_obs = float(np.mean(a == b))
    pa, pb = a.mean(), b.mean()
    c_exp = float(pa * pb + (1 - pa) * (1 - pb))
    se = math.sqrt(c_obs * (1 - c_obs) / n) / (1 - c_exp) if c_exp < 1 else float("nan")
    return {"method": "error_consistency", "metric": metric, "level": 0.0, "mean": kappa, "std": se, "n": n}


def check_options(ctx: EvalContext, **options: Any) -> None:
    """What the declared constraints of the options (checked when the config is bound) cannot
    say, before the sweep trains (the ``check`` of its registration): the distortions' names,
    the human data and its class names."""
    args = suite_arguments(alignment_suite, ctx, options)
    if ctx.extras.get("modelvshuman") is not None:
        return
    _levels(DEFAULT_DISTORTIONS if args["distortions"] is None else args["distortions"])
    _check_human(args["human_data"], args["human_datasets"], args["class_names"], ctx.extras.get("classes"))


@SUITES.register("alignment", check=check_options, directions=[
    ("*", "top1", +1),
    ("shape_bias", "shape_bias", +1),
    ("shape_bias", "decision_rate", 0),
    # Agreement with the dense model itself is 1 at step 0 by definition: not tested.
    ("error_consistency", "kappa_dense*", 0),
    ("error_consistency", "kappa_human*", +1),
    # model-vs-human's benchmark (eval.suites.alignment.data=modelvshuman): closer to humans is
    # better; accuracy difference is the squared gap to the observers' accuracy.
    ("modelvshuman*", "accuracy_difference", -1),
    ("modelvshuman*", "*", +1),
])
@checked_arguments("eval.suites.alignment")
def alignment_suite(
    ctx: EvalContext,
    n_images: Annotated[int, Interval(2, None)] = 64,
    distortions: Mapping[str, Annotated[Sequence[Level], NonEmpty()] | Level] | None = None,
    cue_conflict_images: NonNegativeInt = 64,
    human_data: str | None = None,
    human_datasets: Annotated[Sequence[str], NonEmpty(), Unique()] | None = None,
    class_names: Sequence[str] | None = None,
    batch_size: PositiveInt = 64,
) -> SuiteResult:
    """Human-alignment measures of ``ctx.model`` at one sweep step.

    With model-vs-human's data as the suite's evaluation data (``eval.suites.alignment.data=
    modelvshuman``: ``ctx.extras["modelvshuman"]``), the suite is model-vs-human's benchmark
    (:func:`~robustlab.pruning.alignment.modelvshuman.evaluate.modelvshuman_suite`) and the
    procedural options are not used.

    Args:
        ctx: the sweep's evaluation context (``extras["shapes"]``: the procedural dataset,
            ``extras["normalize"]``: the model's input (mean, std)).
        n_images: evaluation images distorted at every level.
        distortions: name -> levels (default :data:`DEFAULT_DISTORTIONS`); level 0 is the
            clean image, evaluated once as method ``clean``. Distortions that need object
            masks are skipped when ``ctx.extras["has_masks"]`` is False.
        cue_conflict_images: cue-conflict stimuli for the shape bias (0 skips it).
        human_data: a folder with model-vs-human's ``raw-data/`` and ``datasets/``, or None.
        human_datasets: which of its datasets (default: every one under ``raw-data/``).
        class_names: the category name of each model output (default
            ``ctx.extras["classes"]``), to compare with the observers' answers.
        batch_size: images per forward pass.

    Returns:
        :class:`SuiteResult` with rows ``method, metric, level, mean, std, n`` and per-image
        values ``index, method, metric, level, value`` (correctness 0/1; shape decisions 1/0/NaN).
        Accuracy and shape-bias rows give the per-image standard deviation as ``std``;
        ``kappa_dense`` rows (all trials, and ``kappa_dense_<distortion>``) give Cohen's (1960)
        large-sample standard error; ``kappa_human:<dataset>`` rows the mean and standard
        deviation over the observers (``n`` observers).
    """
    if ctx.extras.get("modelvshuman") is not None:
        # Evaluation data eval.suites.alignment.data=modelvshuman: the benchmark on its stimuli.
        from robustlab.pruning.alignment.modelvshuman.evaluate import modelvshuman_suite

        return modelvshuman_suite(ctx, **ctx.extras["modelvshuman"], batch_size=batch_size)
    levels = _levels(DEFAULT_DISTORTIONS if distortions is None else distortions)
    human = _check_human(human_data, human_datasets, class_names, ctx.extras.get("classes"))
    if not ctx.extras.get("has_masks", True):
        skipped = [name for name in levels if DISTORTIONS.get(name).needs_masks]
        if skipped:
            log.warning("alignment: the data has no object masks; skipping %s", ", ".join(skipped))
        levels = {k: v for k, v in levels.items() if k not in skipped}

    rows: list[dict[str, Any]] = []
    per_image: list[pd.DataFrame] = []

    def record(method: str, metric: str, level: float, index: np.ndarray, values: np.ndarray) -> None:
        finite = values[np.isfinite(values)]
        rows.append({"method": method, "metric": metric, "level": float(level),
                     "mean": float(finite.mean()) if finite.size else float("nan"),
                     "std": float(finite.std(ddof=1)) if finite.size > 1 else float("nan"), "n": int(finite.size)})
        per_image.append(pd.DataFrame({"index": index.astype(np.int64), "method": method, "metric": metric,
                                       "level": float(level), "value": values.astype(np.float64)}))

    images, labels, masks, index = _eval_images(ctx, int(n_images))
    clean = (_predict(ctx, images, batch_size) == labels).astype(np.float64)
    record("clean", "top1", 0.0, index, clean)
    trials = {("clean", 0.0): clean}
    for name, name_levels in levels.items():
        for level in name_levels:
            if level == 0:
                correct = clean
            else:
                distorted = distort(name, images, level, seed=_seed_for(ctx.seed, name), masks=masks)
                correct = (_predict(ctx, distorted, batch_size) == labels).astype(np.float64)
            record(name, "top1", level, index, correct)
            trials[(name, level)] = correct

    cue = _cue_conflict(ctx, int(cue_conflict_images)) if int(cue_conflict_images) > 0 else None
    if cue is not None:
        stimuli = torch.from_numpy(cue["images"]).float() / 255.0
        decisions = shape_decisions(_predict(ctx, stimuli, batch_size), cue["shape"], cue["texture"])
        cue_index = np.arange(decisions.size)
        record("shape_bias", "shape_bias", 0.0, cue_index, decisions)
        record("shape_bias", "decision_rate", 0.0, cue_index, np.isfinite(decisions).astype(np.float64))

    rows.extend(_dense_consistency(ctx, index, trials))
    if human is not None:
        rows.extend(_human_consistency(ctx, human, batch_size, record))
    return SuiteResult(rows=rows, per_image=pd.concat(per_image, ignore_index=True))


def _dense_consistency(ctx: EvalContext, index: np.ndarray,
                       trials: dict[tuple[str, float], np.ndarray]) -> list[dict[str, Any]]:
    """Kappa against the dense model's correctness, which step 0 writes (resume-safe)."""
    current = pd.concat([pd.DataFrame({"method": m, "level": lv, "index": index, "correct": c.astype(bool)})
                         for (m, lv), c in trials.items()], ignore_index=True)
    path = ctx.run_dir / "alignment" / f"{DENSE_FILE}.parquet"
    if ctx.step == 0:
        write_table(current, path, formats=("parquet",))
        dense = current
    elif path.exists():
        dense = read_table(path)
    else:
        log.warning("alignment: %s is missing (step 0 not run by this suite); no error consistency with the "
                    "dense model", path)
        return []
    merged = current.merge(dense, on=["method", "level", "index"], suffixes=("", "_dense"))
    if merged.empty:
        log.warning("alignment: no trial in common with the dense model's (%s); distortions changed?", path)
        return []
    out = [_kappa_row("kappa_dense", merged["correct"].to_numpy(bool), merged["correct_dense"].to_numpy(bool))]
    for method, group in merged.groupby("method", sort=False):
        if method != "clean":
            out.append(_kappa_row(f"kappa_dense_{method}", group["correct"].to_numpy(bool),
                                  group["correct_dense"].to_numpy(bool)))
    return out


def _check_human(human_data: str | None, datasets: Sequence[str] | None, class_names: Sequence[str] | None,
                 data_classes: Sequence[str] | None) -> dict[str, Any] | None:
    """Validate the human-data options before any work; load trials and stimuli (``class_names``
    None: the evaluation data's ``data_classes``)."""
    if human_data is None:
        return None
    class_names = class_names if class_names is not None else data_classes
    root = Path(human_data).expanduser()
    if not (root / "raw-data").is_dir():
        raise FileNotFoundError(f"alignment.human_data: {root} has no raw-data/ folder (model-vs-human's layout)")
    if class_names is None:
        raise ValueError("alignment.human_data needs the category name of each model output: set alignment.class_names")
    names = list(datasets) if datasets else sorted(p.name for p in (root / "raw-data").iterdir() if p.is_dir())
    loaded = {name: human_dataset(root, name) for name in names}
    known = {str(c) for c in class_names}
    for name, (trials, _) in loaded.items():
        if not set(trials["category"]) & known:
            raise ValueError(f"alignment.human_data: no category of {name!r} "
                             f"({sorted(set(trials['category']))[:5]}...) "
                             f"is among alignment.class_names ({sorted(known)[:5]}...)")
    return {"datasets": loaded, "class_names": [str(c) for c in class_names]}


def _human_consistency(ctx: EvalContext, human: dict[str, Any], batch_size: int, record: Any) -> list[dict[str, Any]]:
    rows = []
    for name, (trials, stimuli) in human["datasets"].items():
        image_ids = sorted(set(trials["image_id"]))
        images = torch.from_numpy(load_stimuli([stimuli[i] for i in image_ids], ctx.img_size))
        answers = np.asarray(human["class_names"], dtype=object)[_predict(ctx, images, batch_size)]
        responses = pd.Series(answers, index=image_ids)
        truth = trials.drop_duplicates("image_id").set_index("image_id")["category"]
        correct = (responses.to_numpy() == truth.loc[image_ids].to_numpy()).astype(np.float64)
        record(f"human:{name}", "top1", 0.0, np.arange(len(image_ids)), correct)
        per_subject = model_human_consistency(trials, responses)
        kappa = per_subject["kappa"].to_numpy(dtype=np.float64)
        rows.append({"method": "error_consistency", "metric": f"kappa_human:{name}", "level": 0.0,
                     "mean": float(np.nanmean(kappa)),
                     "std": float(np.nanstd(kappa, ddof=1)) if kappa.size > 1 else float("nan"),
                     "n": int(np.isfinite(kappa).sum())})
    return rows
