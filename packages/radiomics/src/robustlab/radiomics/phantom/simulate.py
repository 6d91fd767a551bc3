"""Simulating one acquisition and a whole protocol (:func:`simulate_study`)."""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from tqdm.auto import tqdm

from robustlab.common.hashing import json_hash
from robustlab.common.threads import limited_threads, threads_per_process
from robustlab.radiomics.phantom.acquisition import (
    FILTERS,
    FractionMaps,
    SimulatedAcquisition,
    bias_field,
    element_sensitivities,
    material_image,
    reconstruct,
    sample_fractions,
)
from robustlab.radiomics.phantom.protocol import AcquisitionSpec, StudyPlan, plan_study
from robustlab.radiomics.phantom.roi_drawing import (
    RoiDrawing,
    draw_mask,
    drawn_circles,
    ideal_circles,
)
from robustlab.radiomics.phantom.scanner_effects import (
    coarse_axis,
    displacement_field,
    distort,
    gfactor_map,
    ghost_phases,
    nonuniformity_field,
    to_matrix,
)
from robustlab.radiomics.phantom.study_writer import (
    acquisition_paths,
    check_extractions,
    read_sidecar,
    write_acquisition,
    write_study_yaml,
)
from robustlab.radiomics.phantom.textures import TextureVolume, build_textures

# Bumped when the simulation changes what it writes for the same configuration, so that
# resumed runs re-simulate files written by an older model.
MODEL_VERSION = 3


def _seed_key(seed: int, tag: int, name: str) -> tuple[int, int, int]:
    """Entropy of one random stream: the study seed, a tag per use, and a name."""
    return (seed, tag, zlib.crc32(name.encode()))


def acquire(plan: StudyPlan, acq: AcquisitionSpec, maps: FractionMaps,
            noise_free: bool = False) -> SimulatedAcquisition:
    """Form the image of ``acq`` from the fractions of its geometry.

    In order (modules :mod:`.acquisition` and :mod:`.scanner_effects`): contrast (with the
    scanner's refocusing angle, :meth:`.model.Tissue.signal`), receive
    field, residual non-uniformity, geometric distortion, k-space truncation and filter,
    shot-to-shot phase errors (ghosts), noise (amplified by parallel imaging), vendor
    scaling; the ROIs are drawn where the inserts appear, with the drawing errors of the
    session and its operator.
    Each random draw has its own stream of the seed and a name: the scanner key for the
    receive field, the non-uniformity and the off-resonance (the same for every acquisition
    on that scanner), the session and the operator for the drawing, the acquisition id for
    the noise and the ghosts (independent repeats, independent of the order of simulation).
    """
    sc, grid = acq.scanner, acq.grid
    (nx, ny), (dx, dy, _) = grid.matrix, grid.spacing_mm
    xs, ys = grid.axis(nx, dx), grid.axis(ny, dy)
    rho = material_image(plan.phantom, maps, acq.te_ms, acq.tr_ms, sc.field_t, sc.refocusing_deg)
    rho *= bias_field(grid, sc.coil, _seed_key(plan.seed, 3, acq.scanner_key))
    rho *= nonuniformity_field((tuple(xs), tuple(ys)), sc.nonuniformity,
                               _seed_key(plan.seed, 5, acq.scanner_key))
    if acq.position > 1:  # a set-up after the first changes the residual field
        rho *= nonuniformity_field((tuple(xs), tuple(ys)), sc.setup_field,
                                   _seed_key(plan.seed, 12, acq.session))
    off_resonance = _seed_key(plan.seed, 6, acq.scanner_key)
    if sc.distortion.active:
        ux, uy = displacement_field(xs[None, :], ys[:, None], sc.field_t, dx, sc.distortion, off_resonance)
        rho = distort(rho, ux / dx, uy / dy)
    filt = FILTERS.get(sc.recon_filter)

    def window(coords: Sequence[np.ndarray]) -> np.ndarray:
        return filt(coords, **sc.filter_params)

    amplification = noise_amplification(plan, acq) if sc.acceleration > 1 else None
    ghosts = (ghost_phases(ny, sc.ghosting, np.random.default_rng(np.random.SeedSequence(
        _seed_key(plan.seed, 13, acq.id)))) if sc.ghosting.active else None)
    axes = (1, 2) if acq.mode == "2D" else (0, 1, 2)
    # Array axes are (z, y, x) and the fractions are given as (x, y[, z]).
    kf = tuple(reversed(acq.kspace_fraction))
    image, clean = reconstruct(rho, axes, kf, window, acq.sigma,
                               np.random.default_rng(np.random.SeedSequence(_seed_key(plan.seed, 4, acq.id))),
                               noise_free=noise_free, noise_map=amplification, line_phase=ghosts)
    image *= sc.intensity_scale
    if clean is not None:
        clean *= sc.intensity_scale
    return SimulatedAcquisition(image, clean, drawn_mask(plan, acq, maps, off_resonance), maps.truth,
                                grid.spacing_mm, grid.origin_mm, acq.sigma * sc.intensity_scale,
                                amplification)


def noise_amplification(plan: StudyPlan, acq: AcquisitionSpec) -> np.ndarray:
    """``g sqrt(R)`` of ``acq`` on its matrix, ``(ny, nx)`` float32 (undersampling along y).

    The g-factor (:func:`.scanner_effects.gfactor_map`) is computed on a coarse grid of the
    field of view from the scanner's receive elements in the central plane, with the
    phantom's body in the acquisition's pose as the support, and interpolated to the matrix.
    """
    sc, grid = acq.scanner, acq.grid
    (nx, ny), (dx, dy, _) = grid.matrix, grid.spacing_mm
    cx = coarse_axis(nx, dx)
    cy = coarse_axis(ny, dy, multiple=sc.acceleration)
    sens = element_sensitivities(cx[None, :], cy[:, None], np.zeros(1), sc.coil,
                                 _seed_key(plan.seed, 3, acq.scanner_key))
    px, py = acq.pose.to_phantom(cx[None, :], cy[:, None])
    a, b = plan.phantom.semi_axes_mm
    g = gfactor_map(sens, (px / a) ** 2 + (py / b) ** 2 <= 1.0, sc.acceleration)
    return (to_matrix(g, ny, nx) * np.sqrt(sc.acceleration)).astype(np.float32)


def drawn_mask(plan: StudyPlan, acq: AcquisitionSpec, maps: FractionMaps,
               off_resonance: tuple[int, int, int]) -> np.ndarray:
    """The ROI labels as drawn on the image of ``acq``.

    Circles on the inserts where they appear (moved by the scanner's distortion), with the
    drawing errors of the acquisition's session and operator
    (:func:`.roi_drawing.drawn_circles`); the ideal mask of the geometry when neither
    applies.
    """
    sc, rois = acq.scanner, acq.rois
    if not sc.distortion.active and plan.drawing == RoiDrawing():
        return maps.mask
    circles = ideal_circles(plan.phantom, acq.pose, rois)
    if sc.distortion.active:
        ux, uy = displacement_field(circles[..., 0], circles[..., 1], sc.field_t, acq.grid.spacing_mm[0],
                                    sc.distortion, off_resonance)
        circles[..., 0] += ux
        circles[..., 1] += uy
    if plan.drawing != RoiDrawing():
        radii = np.array([ins.radius_mm for ins in plan.phantom.inserts])
        circles = drawn_circles(
            circles, radii, plan.drawing,
            np.random.default_rng(np.random.SeedSequence(_seed_key(plan.seed, 7, acq.session))),
            np.random.default_rng(np.random.SeedSequence(_seed_key(plan.seed, 8, acq.operator))),
            min_radius_mm=max(acq.grid.spacing_mm[:2]))
    return draw_mask(acq.grid, circles, rois)


def simulate_acquisitions(
    plan: StudyPlan, ids: Sequence[str] | None = None, textures: list[TextureVolume] | None = None,
    n_jobs: int = 1, noise_free: bool = False,
) -> dict[str, SimulatedAcquisition]:
    """Simulate acquisitions of ``plan`` in memory (for tests and notebooks).

    Args:
        plan: from :func:`.protocol.plan_study`.
        ids: the acquisitions to simulate; default all.
        textures: the phantom's textures, when already built for ``plan.seed``.
        n_jobs: threads.
        noise_free: also keep each image without noise.

    Returns:
        ``{id: SimulatedAcquisition}``.
    """
    ids = list(plan.acquisitions) if ids is None else list(ids)
    textures = textures if textures is not None else build_textures(plan.phantom, plan.seed)
    maps = _geometries(plan, ids, textures, n_jobs)
    return {i: _acquire_with_mask(plan, i, maps, noise_free) for i in ids}


def _acquire_with_mask(plan: StudyPlan, acq_id: str, maps: Mapping[Any, FractionMaps],
                       noise_free: bool = False) -> SimulatedAcquisition:
    """:func:`acquire`, with the mask of ``mask_from`` when the acquisition names one.

    ``mask_from`` reproduces a study whose repeated scan was segmented with the masks drawn on
    an earlier scan of the same grid (the phantom moved, the ROIs did not).
    """
    acq = plan.acquisitions[acq_id]
    sim = acquire(plan, acq, maps[acq.geometry_key], noise_free)
    if acq.mask_from is None:
        return sim
    src = plan.acquisitions[acq.mask_from]
    return replace(sim, mask=drawn_mask(plan, src, maps[src.geometry_key],
                                        _seed_key(plan.seed, 6, src.scanner_key)))


def _shared_cores(n_jobs: int) -> Any:
    """BLAS/OpenMP/ITK threads limited to ``cores // n_jobs`` while ``n_jobs`` threads run."""
    return limited_threads(threads_per_process(effective_n_jobs(n_jobs)))


def _geometries(plan: StudyPlan, ids: Sequence[str], textures: list[TextureVolume],
                n_jobs: int) -> dict[Any, FractionMaps]:
    first: dict[Any, AcquisitionSpec] = {}
    sources = [src for i in ids if (src := plan.acquisitions[i].mask_from)]
    for i in [*ids, *sources]:
        first.setdefault(plan.acquisitions[i].geometry_key, plan.acquisitions[i])
    with _shared_cores(n_jobs):
        results = Parallel(n_jobs=n_jobs, prefer="threads")(
            delayed(sample_fractions)(plan.phantom, textures, a.grid, a.pose, a.rois)
            for a in first.values()
        )
    return dict(zip(first, results, strict=True))


def acquisition_digest(plan: StudyPlan, phantom: dict[str, Any], acq: AcquisitionSpec) -> str:
    """Hash of everything that determines one acquisition's files (for resuming)."""
    payload = {
        "model_version": MODEL_VERSION,
        "seed": plan.seed,
        "phantom": phantom,
        "scale": plan.scale,
        "drawing": asdict(plan.drawing),
        "acquisition": asdict(acq),
    }
    if acq.mask_from is not None:  # its mask is drawn as on the source acquisition
        payload["mask_source"] = asdict(plan.acquisitions[acq.mask_from])
    return json_hash(payload, length=16, compact=False)


def study_folder_name(protocol: dict[str, Any], phantom: dict[str, Any], seed: int) -> str:
    """A folder name that changes with everything a simulated study depends on.

    ``<protocol name>-seed<seed>-<hash>``, the hash over the protocol, the phantom, the seed
    and :data:`MODEL_VERSION`: the same configuration always simulates into the same folder
    (where :func:`simulate_study` finds its files and simulates nothing), so the images keep
    their paths and a rerun of the whole study can be restored from the analysis cache.
    """
    digest = json_hash({"protocol": protocol, "phantom": phantom, "seed": seed,
                        "model_version": MODEL_VERSION}, length=12, compact=False)
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in str(protocol.get("name", "study")))
    return f"{name}-seed{seed}-{digest}"


def checked_plan(protocol: dict[str, Any], phantom: dict[str, Any], seed: int) -> StudyPlan:
    """:func:`.protocol.plan_study`, with the extraction settings the study file will give each
    acquisition checked too (:func:`.study_writer.check_extractions`): every fault of a
    configuration is a one-line ``ConfigError`` before any simulation."""
    plan = plan_study(protocol, phantom, seed)
    check_extractions(plan)
    return plan


def simulate_study(
    protocol: dict[str, Any],
    phantom: dict[str, Any],
    out_dir: Path,
    seed: int,
    n_jobs: int = -1,
    progress: bool = True,
) -> Path:
    """Simulate every acquisition of ``protocol`` and write the study for the pipeline.

    Writes ``images/<id>.nii.gz`` (int16 magnitude), ``masks/<id>_size<j>.nii.gz`` (the ROI
    labels of size ``j``, 1 = largest),
    ``images/<id>.json`` (metadata and the digest of its configuration) and ``study.yaml``.
    An acquisition whose files exist with the digest of the current configuration is not
    simulated again; every file is written atomically.

    Args:
        protocol: plain dict of ``conf/radiomics/protocol/<name>.yaml``.
        phantom: plain dict of ``conf/radiomics/phantom/<name>.yaml``.
        out_dir: the study folder.
        seed: the seed of the textures, poses, receive fields and noise.
        n_jobs: threads (``-1``: every core).
        progress: show a progress bar.

    Returns:
        The path of ``study.yaml``.

    Raises:
        ValueError: the configuration is invalid (raised before any simulation).
    """
    plan = checked_plan(protocol, phantom, seed)
    out_dir = Path(out_dir)
    digests = {i: acquisition_digest(plan, phantom, a) for i, a in plan.acquisitions.items()}
    todo = [i for i in plan.acquisitions
            if (read_sidecar(out_dir, i) or {}).get("digest") != digests[i]
            or not all(p.exists() for p in acquisition_paths(out_dir, i, len(plan.rois.diameters_mm)))]
    if todo:
        textures = build_textures(plan.phantom, plan.seed)
        maps = _geometries(plan, todo, textures, n_jobs)
        bar = tqdm(total=len(todo), desc="simulating acquisitions", disable=not progress)

        def one(acq_id: str) -> None:
            sim = _acquire_with_mask(plan, acq_id, maps)
            write_acquisition(out_dir, plan.acquisitions[acq_id], sim, digests[acq_id])
            bar.update(1)

        with _shared_cores(n_jobs):
            Parallel(n_jobs=n_jobs, prefer="threads")(delayed(one)(i) for i in todo)
        bar.close()
    return write_study_yaml(out_dir, plan)
