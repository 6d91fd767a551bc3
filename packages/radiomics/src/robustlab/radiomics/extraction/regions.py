"""An acquisition prepared once, its ROIs cut out for pyradiomics.

For every ROI, ``RadiomicsFeatureExtractor.execute`` repeats work on the whole image: it casts
the mask and lists its labels (``getMask``), normalizes the whole image (``normalize``), finds
the ROI's bounding box with a ``LabelStatisticsImageFilter`` over the whole image
(``checkMask``), and only then crops to the box plus ``padDistance`` voxels (``preCrop``); with
``additionalInfo`` it also hashes and summarises the whole image and mask. On a 512 x 512 x 12
scan with 16 ROIs that is over half of the extraction time.

pyradiomics has no way to share that work between the ROIs of one image, so it is done here,
once per acquisition, with pyradiomics' own functions: ``imageoperations.normalizeImage`` on
the whole image, one label-shape pass for every ROI's bounding box, and
``imageoperations.cropToTumorMask`` with the same ``padDistance``. The extractor then gets the
crop with ``normalize`` off. Its own pre-crop of the crop selects the
same voxels (the box plus ``padDistance``, clipped to the image, lies inside the crop), so every
filter and feature sees exactly the voxels it would have seen. This is done only where it is
exact: with ``preCrop`` on and no resampling (a resampled grid depends on the whole image).

References:
    van Griethuysen J.J.M. et al. (2017). Computational radiomics system to decode the
    radiographic phenotype. Cancer Research 77(21):e104-e107 (pyradiomics).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

#: Extractor settings for a prepared crop: the whole image was normalized here already.
CROP_SETTINGS = {"normalize": False}


def shareable(settings: Mapping[str, Any]) -> bool:
    """Whether the ROIs of an image can be cut out before extraction without changing a value.

    True with ``preCrop`` (filters run on the box plus ``padDistance`` anyway) and without
    resampling (``interpolator`` and ``resampledPixelSpacing`` both set).
    """
    resampled = settings.get("interpolator") is not None and settings.get("resampledPixelSpacing") is not None
    return bool(settings.get("preCrop", False)) and not resampled


def bounding_boxes(mask: Any) -> dict[int, np.ndarray]:
    """Every label's bounding box as pyradiomics writes it: ``(L_x, U_x, L_y, U_y, L_z, U_z)``.

    One ``LabelShapeStatisticsImageFilter`` pass over the mask (pyradiomics' ``checkMask``
    makes one ``LabelStatisticsImageFilter`` pass per ROI for the same box).
    """
    import SimpleITK as sitk

    shapes = sitk.LabelShapeStatisticsImageFilter()
    shapes.ComputePerimeterOff()
    shapes.Execute(mask)
    boxes = {}
    for label in shapes.GetLabels():
        box = np.asarray(shapes.GetBoundingBox(label))
        dim = len(box) // 2
        lower, size = box[:dim], box[dim:]
        boxes[int(label)] = np.column_stack([lower, lower + size - 1]).ravel()
    return boxes


class PreparedAcquisition:
    """One image normalized once, and the masks of its ROIs boxed once, for all its ROIs.

    The ROIs may come from one label map or from several mask files (overlapping ROIs each in
    its own file): every mask is cast and boxed the first time a ROI asks for it.

    Args:
        image: a SimpleITK image.
        mask: its label map, or None when the masks come ROI by ROI (:meth:`add_mask`).
        settings: the extractor's settings (``normalize``, ``normalizeScale``,
            ``removeOutliers``, ``padDistance`` are read).
    """

    def __init__(self, image: Any, mask: Any | None, settings: Mapping[str, Any]) -> None:
        from radiomics import imageoperations

        if settings.get("normalize", False):
            image = imageoperations.normalizeImage(image, **settings)
        self.image = image
        self.pad = settings.get("padDistance", 5)
        self.masks: dict[Any, tuple[Any, dict[int, np.ndarray]]] = {}
        if mask is not None:
            self.add_mask(None, mask)

    def add_mask(self, key: Any, mask: Any) -> None:
        """Cast and box ``mask`` once, kept under ``key``."""
        import SimpleITK as sitk

        if self.image.GetSize() != mask.GetSize():
            raise ValueError(f"image size {self.image.GetSize()} differs from mask size {mask.GetSize()}")
        cast = sitk.Cast(mask, sitk.sitkUInt32)  # what pyradiomics' getMask makes of it
        self.masks[key] = (cast, bounding_boxes(cast))

    @property
    def boxes(self) -> dict[int, np.ndarray]:
        """The boxes of the label map given at construction."""
        return self.masks[None][1]

    def crop(self, label: int, key: Any = None) -> tuple[Any, Any]:
        """Image and mask ``key`` cut to ROI ``label``'s bounding box plus ``padDistance`` voxels."""
        from radiomics import imageoperations

        mask, boxes = self.masks[key]
        return imageoperations.cropToTumorMask(self.image, mask, boxes[label], padDistance=self.pad)
