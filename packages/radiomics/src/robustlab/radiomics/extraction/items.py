"""Work items: one per (acquisition, ROI) to extract, keyed by content, in the order extracted.

The texture test's items are the same ROIs with the voxel intensities inside the ROI shuffled
by a seeded permutation before extraction (the perturbation is part of the cache key).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from robustlab.common.hashing import file_hash
from robustlab.radiomics.extraction.cache import make_key
from robustlab.radiomics.extraction.pyradiomics_env import pyradiomics_version

if TYPE_CHECKING:
    from robustlab.radiomics.study.model import ValidatedStudy


@dataclass(frozen=True)
class WorkItem:
    """One ROI to extract.

    Attributes:
        acquisition: the acquisition id.
        roi: the ROI id (the label as a string, or the ROI's name in ``rois:``).
        label: the label value in the mask.
        image, mask, params: absolute paths of the image, the ROI's mask and the parameter file.
        shuffle_seed: None for the original image; a seed for the texture test's shuffling.
        key: the cache key (content hashes, label, settings, pyradiomics version, perturbation).
        voxels: the ROI's number of voxels (the scheduling's estimate of its cost).
        overrides: the acquisition's ``setting:`` overrides (canonical JSON, ``""``: none).
        image_hash, mask_hash: the content hashes of the image and the mask that ``key`` was
            made with; the files read for extraction are checked against them (``""``: not
            checked).
    """

    acquisition: str
    roi: str
    label: int
    image: Path
    mask: Path
    params: Path
    shuffle_seed: int | None
    key: str
    voxels: int = 0
    overrides: str = ""
    image_hash: str = ""
    mask_hash: str = ""


def shuffle_seed(seed: int, acquisition: str, label: int) -> int:
    """The per-ROI seed of the texture test, derived from the run seed (stable across runs)."""
    return int(np.random.SeedSequence([seed, zlib.crc32(acquisition.encode()), label])
               .generate_state(1)[0])


def work_items(
    validated: ValidatedStudy, acquisitions: Sequence[str] | None = None,
    shuffle: Sequence[str] = (), seed: int = 0,
) -> list[WorkItem]:
    """The work items of a validated study, in a deterministic order.

    Args:
        validated: from :func:`robustlab.radiomics.study.validate_study`.
        acquisitions: the image acquisitions to extract (default: every one).
        shuffle: acquisitions whose ROIs are also extracted with shuffled voxels.
        seed: the run seed (the shuffling seeds derive from it).

    Returns:
        The original items of every acquisition (study order, label order), then the
        shuffled ones.
    """
    study = validated.study
    version = pyradiomics_version()
    param_hash: dict[tuple[Path, str], str] = {}
    items: list[WorkItem] = []
    chosen = [a for a in study.acquisitions if study.acquisitions[a].is_image
              and (acquisitions is None or a in acquisitions)]
    for perturbed in (False, True):
        for aid in chosen:
            if perturbed and aid not in shuffle:
                continue
            acq = study.acquisitions[aid]
            assert acq.extraction is not None  # load_study gives every image acquisition its settings
            settings = (acq.extraction, acq.overrides)
            if settings not in param_hash:  # no overrides: the file's hash, as before them
                digest = file_hash(acq.extraction)
                param_hash[settings] = make_key(file=digest, overrides=acq.overrides) \
                    if acq.overrides else digest
            for roi in validated.rois[aid]:
                mask, _ = acq.mask_of(roi)
                label = validated.labels[aid][roi]
                sseed = shuffle_seed(seed, aid, _roi_number(roi, label)) if perturbed else None
                image_hash, mask_hash = validated.hashes[acq.image_path], validated.hashes[mask]
                key = make_key(image=image_hash, mask=mask_hash, label=label,
                               params=param_hash[settings], pyradiomics=version, shuffle=sseed)
                items.append(WorkItem(aid, roi, label, acq.image_path, mask, acq.extraction,
                                      sseed, key, validated.voxels[aid][roi], acq.overrides,
                                      image_hash, mask_hash))
    return items


def _roi_number(roi: str, label: int) -> int:
    """The number a ROI's shuffling seed derives from: its label in a label map, else a CRC of
    its name (ROIs of separate mask files often share label 1)."""
    return label if roi == str(label) else zlib.crc32(roi.encode())


def shard_items(items: Sequence[WorkItem], shard: tuple[int, int]) -> list[WorkItem]:
    """The deterministic share ``i`` of ``n`` of the items (every n-th item from the i-th)."""
    i, n = shard
    if not (isinstance(n, int) and n >= 1 and isinstance(i, int) and 0 <= i < n):
        raise ValueError(f"shard must be i/n with 0 <= i < n; got {i}/{n}")
    return [it for j, it in enumerate(items) if j % n == i]


def extraction_order(items: Sequence[WorkItem]) -> list[WorkItem]:
    """The items acquisition by acquisition (image and settings), largest ROI first.

    A process extracts one item at a time and keeps the acquisition it last prepared, so in this
    order (taken from its front by this process and from its back by the workers) it prepares
    each acquisition once (each of ``n`` processes at most once); within an acquisition the
    last items this process takes, which decide when it finishes, are the cheapest.
    """
    groups: dict[tuple[Path, Path, str], list[WorkItem]] = {}
    for it in items:
        groups.setdefault((it.image, it.params, it.overrides), []).append(it)
    return [it for group in groups.values() for it in sorted(group, key=lambda it: -it.voxels)]
