"""Run a torch model over model-vs-human's stimuli and write its decisions as a raw-data CSV.

Stimuli layouts (bethgelab/model-vs-human, ``modelvshuman/datasets/``):

- with sessions (the 12 parametric datasets, ``sketch``, ``stylized``):
  ``datasets/<name>/dnn/session-<n>/<trial>_<exp>_<subj>_<condition>_<category>_<...>.png``;
  condition and category are the 4th and 5th ``_``-separated parts of the file name
  (``InfoMappingWithSessions`` in ``info_mappings.py``);
- without (``edge``, ``silhouette``, ``cue-conflict``): ``datasets/<name>/<category>/<image>.png``;
  the category is the folder, the condition ``NaN``, the session 1 (``ImageNetInfoMapping``).

Input as model-vs-human's PyTorch loader (``dataloaders.py``, ``base.py``): RGB, ToTensor,
ImageNet mean/std normalisation. Their 17 datasets are declared ``image_size=224`` and their
stimuli are 224 x 224, so they are fed without resizing (``resize = False if image_size == 224``);
to a model whose input size ``S`` is not 224 (ours, not theirs) the whole stimulus is resized to
``S x S`` (bilinear). An image of any other size gets their ``resize`` path, ``Resize(256)`` then
``CenterCrop(224)`` (bilinear), scaled by ``S / 224``. The decision is the 16-class mapping of the
softmax (:func:`~.categories.decide`).

The CSV is written as ``ResultPrinter.print_batch_to_csv`` (``evaluation/evaluate.py``) writes
it: columns ``subj, session, trial, rt, object_response, category, condition, imagename``,
``subj`` the model's name, ``rt`` ``NaN``, trials numbered from 1 in the loader's order
(sorted paths), ``imagename`` the file name; their file is ``<dataset>_<model>_session-1.csv``
with ``_`` in the model's name replaced by ``-``; here ``<dataset>_<model>_session_1.csv``, the
human files' pattern, with the same replacement. Their plotting reads every CSV of the folder.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from robustlab.common.io import atomic_open
from robustlab.pruning.alignment.modelvshuman.categories import CATEGORIES, decide

#: Extensions torchvision's ImageFolder loads (model-vs-human's loader is an ImageFolder).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
#: The size of every model-vs-human stimulus (their datasets' ``image_size``).
STIMULUS_SIZE = 224
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CSV_COLUMNS = ("subj", "session", "trial", "rt", "object_response", "category", "condition", "imagename")


@dataclass(frozen=True)
class Stimulus:
    """One stimulus image and what model-vs-human reads from its path."""

    path: Path
    session: int
    condition: str
    category: str


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _session_stimuli(dnn: Path) -> list[Stimulus]:
    out = []
    for session_dir in sorted(dnn.iterdir()):
        if not (session_dir.is_dir() and session_dir.name.startswith("session-")):
            raise ValueError(f"{session_dir}: model-vs-human's dnn/ folder holds only session-<n> folders")
        session = int(session_dir.name.split("-")[-1])
        for path in _images(session_dir):
            parts = path.name.split("_")
            if len(parts) < 5:
                raise ValueError(f"{path}: a stimulus name needs <trial>_<exp>_<subj>_<condition>_<category>_...; "
                                 f"got {path.name!r}")
            out.append(Stimulus(path, session, parts[3], parts[4]))
    return out


def list_stimuli(datasets_root: str | Path, dataset: str) -> list[Stimulus]:
    """Every stimulus of ``dataset`` under ``datasets_root`` (model-vs-human's ``datasets/``), in loader order.

    Raises:
        FileNotFoundError: no folder or no image.
        ValueError: a malformed session folder or file name, or a category not among the 16.
    """
    folder = Path(datasets_root) / dataset
    if not folder.is_dir():
        raise FileNotFoundError(f"model-vs-human stimuli folder {folder} does not exist")
    if (folder / "dnn").is_dir():
        stimuli = _session_stimuli(folder / "dnn")
    else:
        stimuli = [Stimulus(p, 1, "NaN", d.name) for d in sorted(folder.iterdir()) if d.is_dir() for p in _images(d)]
    if not stimuli:
        raise FileNotFoundError(f"no stimulus images ({', '.join(IMAGE_EXTENSIONS[:3])}, ...) under {folder}")
    bad = next((s for s in stimuli if s.category not in CATEGORIES), None)
    if bad is not None:
        raise ValueError(f"{bad.path}: category {bad.category!r} is not one of the 16 ({', '.join(CATEGORIES)})")
    return stimuli


def load_stimulus(path: Path, image_size: int = 224) -> torch.Tensor:
    """One stimulus as model-vs-human feeds it: ``(3, S, S)`` in [0, 1], before normalisation."""
    from PIL import Image
    from torchvision.transforms import functional as TF

    with Image.open(path) as im:
        rgb = im.convert("RGB")
    if rgb.size == (STIMULUS_SIZE, STIMULUS_SIZE):
        if image_size != STIMULUS_SIZE:  # the whole stimulus, at the model's input size
            rgb = TF.resize(rgb, [image_size, image_size])
    else:
        rgb = TF.center_crop(TF.resize(rgb, round(image_size * 256 / STIMULUS_SIZE)), [image_size, image_size])
    return TF.to_tensor(rgb)


@torch.no_grad()
def model_decisions(model: torch.nn.Module, stimuli: Sequence[Stimulus], *, device: str | torch.device = "cpu",
                    batch_size: int = 64, image_size: int = 224, mean: Sequence[float] = IMAGENET_MEAN,
                    std: Sequence[float] = IMAGENET_STD) -> np.ndarray:
    """The model's 16-class decision on every stimulus (softmax, then :func:`~.categories.decide`).

    Args:
        model: outputs 1000 ImageNet logits (or 16, one per category in alphabetical order).
        stimuli: from :func:`list_stimuli`.
        device, batch_size: where and how many images per forward pass.
        image_size: the model's input size (224 for model-vs-human's models).
        mean, std: the input normalisation (ImageNet's by default, as theirs).

    Returns:
        ``(n,)`` category names.
    """
    model.eval()
    mean_t = torch.as_tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    std_t = torch.as_tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    out = []
    for start in range(0, len(stimuli), batch_size):
        batch = torch.stack([load_stimulus(s.path, image_size) for s in stimuli[start:start + batch_size]]).to(device)
        probs = torch.softmax(model((batch - mean_t) / std_t).float(), dim=1).cpu().numpy()
        out.append(decide(probs))
    return np.concatenate(out) if out else np.array([], dtype=object)


def csv_name(dataset: str, model_name: str, session: int | str) -> str:
    """``<dataset>_<model, '_' -> '-'>_session_<n>.csv`` (``session="*"``: a glob of every session)."""
    return f"{dataset}_{model_name.replace('_', '-')}_session_{session}.csv"


def write_decisions(out_dir: str | Path, dataset: str, model_name: str, stimuli: Sequence[Stimulus],
                    responses: Sequence[str] | np.ndarray) -> list[Path]:
    """Write the decisions as model-vs-human raw-data CSVs under ``out_dir/<dataset>/``, one per session.

    Returns:
        The files written (atomically).
    """
    if len(stimuli) != len(responses):
        raise ValueError(f"{dataset}: {len(stimuli)} stimuli but {len(responses)} responses")
    rows: dict[int, list[list[str]]] = {}
    for trial, (stim, response) in enumerate(zip(stimuli, responses, strict=True), start=1):
        rows.setdefault(stim.session, []).append(
            [model_name, str(stim.session), str(trial), "NaN", str(response), stim.category, stim.condition,
             stim.path.name])
    paths = []
    for session, session_rows in rows.items():
        path = Path(out_dir) / dataset / csv_name(dataset, model_name, session)
        with atomic_open(path, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(CSV_COLUMNS)
            writer.writerows(session_rows)
        paths.append(path)
    return paths
