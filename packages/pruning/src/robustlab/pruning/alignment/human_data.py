"""Reader for model-vs-human's human raw data and stimuli (Geirhos et al. 2021).

The layout of ``bethgelab/model-vs-human``::

    <root>/raw-data/<dataset>/<dataset>_subject-01_session_1.csv   one file per observer session
    <root>/datasets/<dataset>/dnn/session-1/<imagename>           the stimuli shown (any depth)

Each raw-data CSV has (case-insensitive) the columns ``subj, session, trial, rt,
object_response, category, condition, imagename``; ``object_response`` is the observer's
answer and ``category`` the true class, both as category names (16-class ImageNet). The
stimulus of a trial is matched on the image's short name (the part after the trial-specific
prefix ``0001_..._``), as model-vs-human does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

REQUIRED_COLUMNS = ("subj", "object_response", "category", "condition", "imagename")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".JPEG", ".PNG", ".JPG")


def short_imagename(imagename: str) -> str:
    """The image-specific part of a trial's image name, without the experiment prefix.

    ``0000_cl_s01_bw_boat_40_n02951358_5952.JPEG`` -> ``n02951358_5952.JPEG`` (an ImageNet
    image keeps its synset), ``0001_..._airplane1-bicycle2.png`` -> ``airplane1-bicycle2.png``,
    a name without underscores is kept.
    """
    parts = str(imagename).split("_")
    if len(parts) == 1:
        return parts[0]
    if parts[-2].startswith("n0"):
        return f"{parts[-2]}_{parts[-1]}"
    return parts[-1]


def read_human_trials(raw_dir: str | Path) -> pd.DataFrame:
    """All trials of every observer in one model-vs-human raw-data folder.

    Args:
        raw_dir: ``<root>/raw-data/<dataset>``, holding one CSV per observer session.

    Returns:
        A table with the raw columns (lower-cased) plus ``image_id`` (the short image name),
        ``correct`` (``object_response == category``) and ``source`` (the CSV's file name).

    Raises:
        FileNotFoundError: no folder or no CSV in it.
        ValueError: a CSV lacks a required column (the file and the missing columns are named).
    """
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise FileNotFoundError(f"human raw-data folder {raw_dir} does not exist")
    files = sorted(raw_dir.glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"no CSV files in the human raw-data folder {raw_dir}")
    frames = []
    for path in files:
        df = pd.read_csv(path)
        df.columns = [str(c).strip().lower() for c in df.columns]
        missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; expected at least "
                             f"{', '.join(REQUIRED_COLUMNS)}")
        df["source"] = path.name
        frames.append(df)
    trials = pd.concat(frames, ignore_index=True)
    for col in ("subj", "object_response", "category", "condition", "imagename"):
        trials[col] = trials[col].astype(str)
    trials["image_id"] = trials["imagename"].map(short_imagename)
    trials["correct"] = trials["object_response"] == trials["category"]
    return trials


def find_stimuli(stimuli_dir: str | Path) -> dict[str, Path]:
    """Map each stimulus' short image name to its file, searching ``stimuli_dir`` recursively.

    Raises:
        FileNotFoundError: no folder or no image in it.
        ValueError: two files share a short name (both are named).
    """
    stimuli_dir = Path(stimuli_dir)
    if not stimuli_dir.is_dir():
        raise FileNotFoundError(f"stimuli folder {stimuli_dir} does not exist")
    found: dict[str, Path] = {}
    for path in sorted(p for p in stimuli_dir.rglob("*") if p.suffix in IMAGE_SUFFIXES):
        key = short_imagename(path.name)
        if key in found:
            raise ValueError(f"two stimuli share the image name {key!r}: {found[key]} and {path}")
        found[key] = path
    if not found:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES[:3])}) under {stimuli_dir}")
    return found


def load_stimuli(paths: list[Path], img_size: int) -> np.ndarray:
    """Load images as RGB, resized to ``img_size`` (bilinear), into ``(N, 3, S, S)`` floats in [0, 1]."""
    from PIL import Image

    out = np.empty((len(paths), 3, img_size, img_size), dtype=np.float32)
    for i, path in enumerate(paths):
        with Image.open(path) as im:
            rgb = im.convert("RGB").resize((img_size, img_size), Image.Resampling.BILINEAR)
        out[i] = np.asarray(rgb, dtype=np.float32).transpose(2, 0, 1) / 255.0
    return out


def human_dataset(root: str | Path, dataset: str) -> tuple[pd.DataFrame, dict[str, Path]]:
    """Trials and stimuli of one model-vs-human dataset, keeping trials whose stimulus exists.

    Args:
        root: the folder holding ``raw-data/`` and ``datasets/``.
        dataset: e.g. ``"cue-conflict"`` or ``"edge"``.

    Returns:
        ``(trials, stimuli)`` as :func:`read_human_trials` and :func:`find_stimuli` give them.

    Raises:
        ValueError: no trial's image is among the stimuli.
    """
    root = Path(root)
    trials = read_human_trials(root / "raw-data" / dataset)
    stimuli = find_stimuli(root / "datasets" / dataset)
    keep = trials["image_id"].isin(list(stimuli))
    if not keep.any():
        example = trials["image_id"].iloc[0]
        raise ValueError(
            f"none of the {len(trials)} trials in {root / 'raw-data' / dataset} has its stimulus under "
            f"{root / 'datasets' / dataset} (first image looked for: {example!r})"
        )
    return trials[keep].reset_index(drop=True), stimuli


def model_human_consistency(trials: pd.DataFrame, model_responses: pd.Series) -> pd.DataFrame:
    """Error consistency of a model with every human observer, on the trials both saw.

    Args:
        trials: from :func:`read_human_trials` (columns ``subj``, ``image_id``, ``category``,
            ``correct``).
        model_responses: the model's answer (category name) per ``image_id``.

    Returns:
        One row per observer: ``subj``, ``n`` trials, ``human_accuracy``, ``model_accuracy``,
        ``kappa`` (:func:`~robustlab.pruning.alignment.consistency.error_consistency`).
    """
    from robustlab.pruning.alignment.consistency import error_consistency

    answered = trials[trials["image_id"].isin(model_responses.index)]
    rows = []
    for subj, group in answered.groupby("subj", sort=True):
        model_correct = (model_responses.loc[group["image_id"]].to_numpy() == group["category"].to_numpy())
        human_correct = group["correct"].to_numpy(dtype=bool)
        rows.append({
            "subj": subj, "n": len(group), "human_accuracy": float(human_correct.mean()),
            "model_accuracy": float(model_correct.mean()),
            "kappa": float(error_consistency(model_correct, human_correct)),
        })
    return pd.DataFrame(rows, columns=["subj", "n", "human_accuracy", "model_accuracy", "kappa"])
