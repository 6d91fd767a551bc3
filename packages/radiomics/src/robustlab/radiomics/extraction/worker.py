"""The extraction of work items in one process: pyradiomics on an acquisition read once.

Each work item is extracted by ``radiomics.featureextractor.RadiomicsFeatureExtractor`` with
the acquisition's parameter file, in this process or a worker process
(:mod:`~robustlab.radiomics.extraction.pool`), which writes its cache entry itself: a run stopped
half-way keeps everything already extracted. A process keeps the acquisition it extracts from,
read, normalized and boxed once (:mod:`~robustlab.radiomics.extraction.regions`), and the
extractors it built, in its :class:`ExtractionProcess`.
A ROI that pyradiomics refuses (e.g. too small for its settings) is cached as a failure with
its error and the other ROIs go on. pyradiomics' diagnostics (``additionalInfo``) are not
computed: they are not features, and they hash and summarise the whole image for every ROI.

On a prepared acquisition the texture test's shuffling permutes the normalized voxels of the
crop, so the shuffled ROI holds exactly the original ROI's values.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from robustlab.common.hashing import file_hash
from robustlab.radiomics.errors import StudyError
from robustlab.radiomics.extraction.cache import FeatureCache
from robustlab.radiomics.extraction.items import WorkItem
from robustlab.radiomics.extraction.params import Extraction
from robustlab.radiomics.extraction.pyradiomics_env import quiet_pyradiomics
from robustlab.radiomics.extraction.regions import CROP_SETTINGS, PreparedAcquisition, shareable
from robustlab.radiomics.study.images import read_image

log = logging.getLogger(__name__)


class ExtractionProcess:
    """What one extracting process keeps from one item to the next.

    The extractors it built (per parameter file, overrides, and crop or not) and the acquisition
    it read last (one entry: an image's size), so that the items of one acquisition, taken one
    after the other (:func:`~robustlab.radiomics.extraction.items.extraction_order`), read it once.

    Args:
        checked: extractors already built for these settings (by the study's validation,
            :func:`~robustlab.radiomics.extraction.params.check_extraction`), taken instead of
            having pyradiomics read and validate the settings again.
    """

    def __init__(self, checked: Mapping[Extraction, Any] | None = None) -> None:
        self._start(checked)

    def _start(self, checked: Mapping[Extraction, Any] | None = None) -> None:
        self._checked = dict(checked or {})
        self._extractors: dict[tuple[str, str, bool], Any] = {}
        self._loaded: tuple[tuple[Path, Path, str], _Source] | None = None

    def __getstate__(self) -> dict[str, Any]:
        """A process started afresh (not forked) builds its own extractors."""
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._start()

    def extractor(self, params: Path, overrides: str = "", crop: bool = False) -> Any:
        """The extractor of a parameter file with its ``setting:`` overrides, diagnostics off;
        ``crop``: for a prepared crop."""
        from radiomics.featureextractor import RadiomicsFeatureExtractor

        quiet_pyradiomics()
        key = (str(params), overrides, crop)
        if key not in self._extractors:
            if crop:  # a copy of the plain one: pyradiomics validates a parameter file once
                extractor = copy.deepcopy(self.extractor(params, overrides))
                extractor.settings.update(CROP_SETTINGS)
            else:  # the one the study's validation built, else a new one
                extractor = self._checked.pop(Extraction(params, overrides), None) or \
                    RadiomicsFeatureExtractor(Extraction(params, overrides).params() if overrides
                                              else str(params))
                extractor.settings["additionalInfo"] = False
            self._extractors[key] = extractor
        return self._extractors[key]

    def extract_items(self, items: Sequence[WorkItem],
                      cache_root: Path) -> list[tuple[str, dict[str, Any]]]:
        """Extract items with pyradiomics and write each one's cache entry (features or error).

        An acquisition's image and mask are read, and where exact prepared
        (:class:`~robustlab.radiomics.extraction.regions.PreparedAcquisition`), once for all its
        items, and kept for this process's next call.

        The threads of ITK, BLAS and OpenMP are the caller's: a parallel run limits them in every
        process (:func:`robustlab.radiomics.extraction.pool.in_parallel`).

        Returns:
            ``(key, payload)`` per item; the payload written is ``{"features": {name: value}}``
            or ``{"error": "..."}``.

        Raises:
            StudyError: an image or mask that cannot be read, or whose content is no longer the
                one the item's key was made with (:func:`read_checked`); nothing is cached for it.
        """
        cache = FeatureCache(cache_root)
        out = []
        for item in items:
            # a file that cannot be read, or changed since validation, stops the run: it is no
            # ROI's failure, and nothing of it goes into the cache under the key of another content
            source = self._source(item)
            source.read_mask(item)
            try:
                image, mask, extractor = source.roi(item)
                if item.shuffle_seed is not None:
                    image = shuffle_roi(image, mask, item.label, item.shuffle_seed)
                result = extractor.execute(image, mask, label=item.label)
                features = {k: float(v) for k, v in result.items() if not k.startswith("diagnostics_")}
                payload: dict[str, Any] = {"features": features}
            except Exception as exc:  # noqa: BLE001 - any pyradiomics error is the ROI's recorded failure
                payload = {"error": f"{type(exc).__name__}: {exc}".strip()}
            cache.put(item.key, payload)
            out.append((item.key, payload))
        return out

    def release(self) -> None:
        """Forget the acquisition read last (its image is the largest thing kept)."""
        self._loaded = None

    def _source(self, item: WorkItem) -> _Source:
        """The acquisition of ``item``, read now unless it was the last one read."""
        key = (item.image, item.params, item.overrides)
        if self._loaded is None or self._loaded[0] != key:
            self._loaded = None
            self._loaded = (key, _Source(item, self))
        return self._loaded[1]


def shuffle_roi(image: Any, mask: Any, label: int, seed: int) -> Any:
    """A copy of ``image`` whose voxels inside ROI ``label`` are randomly permuted.

    The intensity histogram inside the ROI is unchanged; only the spatial arrangement (the
    texture) is destroyed. Geometry is copied from ``image``.
    """
    import SimpleITK as sitk

    arr = sitk.GetArrayFromImage(image)
    inside = sitk.GetArrayViewFromImage(mask) == label
    arr[inside] = np.random.default_rng(seed).permutation(arr[inside])
    out = sitk.GetImageFromArray(arr)
    out.CopyInformation(image)
    return out


class _Source:
    """An acquisition's image (and its masks), read once, prepared once where that is exact."""

    def __init__(self, item: WorkItem, process: ExtractionProcess) -> None:
        self.where = f"acquisition {item.acquisition!r}"
        self.process = process
        self.image = read_checked(item.image, item.image_hash, self.where)
        self.masks: dict[Path, Any] = {}
        self.prepared: PreparedAcquisition | None = None
        settings = process.extractor(item.params, item.overrides).settings
        if shareable(settings):
            try:
                self.prepared = PreparedAcquisition(self.image, None, settings)
            except (RuntimeError, ValueError):
                log.debug("%s: extracting ROI by ROI", self.where, exc_info=True)  # pyradiomics says why

    def read_mask(self, item: WorkItem) -> None:
        """Read the mask of ``item`` (checked, :func:`read_checked`) unless it was read already."""
        if item.mask in self.masks:
            return
        self.masks[item.mask] = read_checked(item.mask, item.mask_hash, self.where)
        if self.prepared is not None:
            try:
                self.prepared.add_mask(item.mask, self.masks[item.mask])
            except (RuntimeError, ValueError):
                log.debug("%s: extracting ROI by ROI", self.where, exc_info=True)

    def roi(self, item: WorkItem) -> tuple[Any, Any, Any]:
        """Image, mask and extractor for ``item`` (its mask read): a prepared crop, or the whole
        image."""
        prepared = self.prepared
        boxed = prepared.masks.get(item.mask) if prepared is not None else None
        if prepared is not None and boxed is not None and item.label in boxed[1]:
            return (*prepared.crop(item.label, item.mask),
                    self.process.extractor(item.params, item.overrides, crop=True))
        return (self.image, self.masks[item.mask],
                self.process.extractor(item.params, item.overrides))


def read_checked(path: Path, expected: str, where: str) -> Any:
    """The image at ``path``, its file's content hash taken again after the read and compared
    with ``expected``, the hash the work item's cache key was made with (``""``: no check).

    The hash taken after the read covers a file replaced at any moment between the study's
    validation and this read: features of other bytes are never cached under the key.

    Raises:
        StudyError: naming the file, when its content is no longer the validated one.
    """
    image = read_image(path, where, budget=None)  # its header was checked by validation
    if expected and file_hash(path) != expected:
        raise StudyError(f"{where}: {path} changed after the study was validated (its content is "
                         "not the one its features would be cached under); nothing of it was "
                         "extracted: run the study again")
    return image
