"""A small two-site study to try the pipeline on: ``robustlab-radiomics-example DIR``.

Writes into ``DIR`` the images, masks and ``study.yaml`` of the two-site example of the how-to
page (docs/how-to/multicentre-study.md): site A scanned twice in 2D and twice in 3D, site B once,
five ROIs per scan (four textured inserts and a core nested in the first), one mask file per
ROI. Then ``robustlab-radiomics study=DIR/study.yaml`` runs as on one's own scans.

The object is a water background with four inserts of granular texture (the phantom's
clipped-Gaussian grains, :func:`robustlab.radiomics.phantom.textures.granular_field`), each
with its own grain size, grain fraction and contrast. An acquisition blurs it (a Gaussian
point-spread function), scales it by the site's gain and adds Gaussian noise; a repeat draws new
noise. Site B blurs a little more, has another gain and more noise, and its features are
computed with ``binWidth 10`` (site A's with 5).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from robustlab.common.errors import RobustlabError
from robustlab.common.io import write_text

#: The study file the command writes (the how-to page shows it verbatim).
STUDY_YAML = """\
name: two_sites
extraction: paper2d                       # bundled (conf/radiomics/extraction/) or a path
scanners:
  site_b: {extraction: {binWidth: 10}}    # site B's features computed with binWidth 10
acquisitions:
  a_test:
    image: a/test.nii.gz
    scanner: site_a
    rois: &a_rois                         # ROI name -> its own mask file; ROIs may overlap
      insert1: a/insert1.nii.gz
      insert2: a/insert2.nii.gz
      insert3: a/insert3.nii.gz
      insert4: a/insert4.nii.gz
      core: a/core.nii.gz                 # inside insert1
  a_retest: {image: a/retest.nii.gz, scanner: site_a, rois: *a_rois}   # the same masks, a repeat
  b_test:
    image: b/test.nii.gz
    scanner: site_b
    rois: {insert1: b/insert1.nii.gz, insert2: b/insert2.nii.gz, insert3: b/insert3.nii.gz,
           insert4: b/insert4.nii.gz, core: b/core.nii.gz}
  a_3d: {image: a/3d.nii.gz, scanner: site_a, extraction: paper3d, rois: *a_rois}
  a_3d_re: {image: a/3d_re.nii.gz, scanner: site_a, extraction: paper3d, rois: *a_rois}
comparisons:
  - {name: repeat, statistic: icc, acquisitions: [a_test, a_retest]}
  - {name: sites, statistic: ccc, acquisitions: [a_test, b_test]}   # binWidth 5 against 10
  - {name: repeat_3d, statistic: icc, acquisitions: [a_3d, a_3d_re]}
"""

SHAPE = (8, 112, 112)                     # slices, rows, columns
SPACING_MM = (0.8, 0.8, 3.0)              # x, y, z (SimpleITK's order)


@dataclass(frozen=True)
class Insert:
    """One textured insert: a disc through every slice."""

    name: str
    centre: tuple[int, int]               # row, column
    radius: int                           # voxels
    grain_mm: float                       # correlation length of the grains
    fraction: float                       # volume fraction of grains
    contrast: float                       # grain minus matrix intensity


#: Sizes, grain sizes and contrasts in no common order, so that no texture feature follows size.
INSERTS = (
    Insert("insert1", (30, 30), 20, 2.0, 0.35, 60.0),
    Insert("insert2", (30, 82), 14, 4.0, 0.50, 35.0),
    Insert("insert3", (82, 30), 17, 1.2, 0.25, 80.0),
    Insert("insert4", (82, 82), 22, 3.0, 0.45, 25.0),
)
CORE = ("core", (30, 30), 8)              # nested in insert1


@dataclass(frozen=True)
class Site:
    """How a site's scanner images the object."""

    gain: float
    noise_sd: float
    psf_sd_voxels: float


SITES = {"a": Site(gain=1.0, noise_sd=3.0, psf_sd_voxels=0.6),
         "b": Site(gain=0.85, noise_sd=4.0, psf_sd_voxels=0.9)}
#: image file -> (site, noise seed)
ACQUISITIONS = {"a/test": ("a", 1), "a/retest": ("a", 2), "b/test": ("b", 3),
                "a/3d": ("a", 4), "a/3d_re": ("a", 5)}


def _discs() -> dict[str, np.ndarray]:
    rows, cols = np.mgrid[: SHAPE[1], : SHAPE[2]]
    discs = {ins.name: np.hypot(rows - ins.centre[0], cols - ins.centre[1]) <= ins.radius
             for ins in INSERTS}
    name, centre, radius = CORE
    discs[name] = np.hypot(rows - centre[0], cols - centre[1]) <= radius
    return discs


def phantom_object(seed: int = 0) -> np.ndarray:
    """The true object ``(z, y, x)``: background 20, each insert a matrix of 100 with grains."""
    from robustlab.radiomics.phantom.textures import granular_field

    obj = np.full(SHAPE, 20.0, dtype=np.float32)
    discs = _discs()
    spacing_zyx = (SPACING_MM[2], SPACING_MM[1], SPACING_MM[0])
    for i, ins in enumerate(INSERTS):
        rng = np.random.default_rng(np.random.SeedSequence([seed, i]))
        grains = granular_field(SHAPE, spacing_zyx, ins.grain_mm, ins.fraction, rng)
        inside = np.broadcast_to(discs[ins.name], SHAPE)
        obj[inside] = (100.0 + ins.contrast * grains)[inside]
    return obj


def acquire(obj: np.ndarray, site: Site, seed: int) -> np.ndarray:
    """One acquisition of ``obj``: in-plane Gaussian blur, the site's gain, Gaussian noise."""
    blurred = ndimage.gaussian_filter(obj, sigma=(0, site.psf_sd_voxels, site.psf_sd_voxels))
    noise = np.random.default_rng(np.random.SeedSequence([seed, 99])).normal(0, site.noise_sd, SHAPE)
    return (site.gain * blurred + noise).astype(np.float32)


def write_example(out_dir: str | Path, seed: int = 0) -> Path:
    """Write the two-site study into ``out_dir`` (created; existing example files are replaced).

    Returns:
        The path of the written ``study.yaml``.
    """
    import SimpleITK as sitk

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise RobustlabError(f"{out}: exists and is not a folder; name a folder for the example")
    obj = phantom_object(seed)
    reference = None
    for stem, (site, noise_seed) in ACQUISITIONS.items():
        image = sitk.GetImageFromArray(acquire(obj, SITES[site], noise_seed))
        image.SetSpacing(SPACING_MM)
        path = out / f"{stem}.nii.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        sitk.WriteImage(image, str(path))
        reference = image
    for site in SITES:
        for name, disc in _discs().items():
            mask = sitk.GetImageFromArray(np.broadcast_to(disc, SHAPE).astype(np.uint8))
            mask.CopyInformation(reference)
            sitk.WriteImage(mask, str(out / site / f"{name}.nii.gz"))
    study = out / "study.yaml"
    write_text(study, STUDY_YAML)
    return study


def main(argv: list[str] | None = None) -> int:
    """``robustlab-radiomics-example DIR``: write the two-site study, print how to run it."""
    parser = argparse.ArgumentParser(prog="robustlab-radiomics-example", description=__doc__.splitlines()[0])
    parser.add_argument("dir", help="folder to write the study into (created)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the textures (default 0)")
    args = parser.parse_args(argv)
    try:
        study = write_example(args.dir, args.seed)
    except (RobustlabError, OSError) as exc:
        print(f"robustlab-radiomics-example: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {study}\nrun it: robustlab-radiomics study={study} hydra.run.dir={study.parent / 'results'}")
    return 0
