"""Protocols: which acquisitions to simulate, on which scanners, in which poses.

A protocol (``conf/radiomics/protocol/<name>.yaml``) names its scanners (registered names or
inline mappings, read by :mod:`.scanner`), the ROI plan,
the noise model, the repositioning model, the acquisitions and the comparisons written to the
study file. :func:`plan_study` validates all of it against the phantom before any work, and
raises a one-line ``ConfigError`` naming the key at fault.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robustlab.common.errors import ConfigError
from robustlab.common.registry import unknown_name_message
from robustlab.radiomics.phantom.acquisition import Grid, Pose, RoiPlan
from robustlab.radiomics.phantom.model import (
    PhantomSpec,
    expect_mapping,
    expect_number,
    parse_phantom,
)
from robustlab.radiomics.phantom.roi_drawing import RoiDrawing
from robustlab.radiomics.phantom.scanner import (
    ScannerSpec,
    fractions,
    int_pair,
    numbers,
    optional_numbers,
    scaled_scanners,
    scanner_extraction,
)
from robustlab.radiomics.statistics import STATISTICS

MODES = ("2D", "3D")


@dataclass(frozen=True)
class NoiseModel:
    """``SNR = snr_reference * snr_factor * (B0 / reference_field_t)**field_exponent * V / V_ref``.

    SNR grows about linearly with B0 in the body-noise regime and linearly with voxel volume
    (Edelstein et al., Magn Reson Med 1986, 3:604; Macovski, Magn Reson Med 1996, 36:494).
    The signal of fully relaxed water (PD 1) is 1, so the noise standard deviation is 1 / SNR.
    """

    snr_reference: float
    reference_field_t: float
    reference_voxel_mm3: float
    field_exponent: float
    series_sd: float = 0.0

    def sigma(self, scanner: ScannerSpec, voxel_mm: tuple[float, float, float],
              series: tuple[int, str] | None = None) -> float:
        """Noise standard deviation per channel of the reconstructed image (before scaling).

        With ``series_sd > 0`` and ``series = (seed, acquisition id)``, each acquisition's
        noise level is the model's times ``exp(series_sd * z)``, ``z`` standard normal from a
        stream of the seed and the id: repeated series on one scanner do not reach the same
        SNR (the receive chain is recalibrated, its gain set and the coil loaded anew by each
        series' prescan), so some pairs of series agree better than others.
        """
        volume = voxel_mm[0] * voxel_mm[1] * voxel_mm[2]
        snr = (self.snr_reference * scanner.snr_factor
               * (scanner.field_t / self.reference_field_t) ** self.field_exponent
               * volume / self.reference_voxel_mm3)
        if self.series_sd and series is not None:
            seed, acq_id = series
            rng = np.random.default_rng(np.random.SeedSequence([seed, 9, zlib.crc32(acq_id.encode())]))
            return float(np.exp(self.series_sd * rng.standard_normal())) / snr
        return 1.0 / snr


@dataclass(frozen=True)
class AcquisitionSpec:
    """One validated acquisition."""

    id: str
    scanner_key: str
    scanner: ScannerSpec
    mode: str
    te_ms: float
    tr_ms: float
    grid: Grid
    kspace_fraction: tuple[float, ...]
    rois: RoiPlan
    session: str
    pose: Pose
    repetition: int
    position: int
    sigma: float
    operator: str = ""
    extraction: dict[str, Any] | str | None = None
    mask_from: str | None = None

    @property
    def geometry_key(self) -> tuple[Any, ...]:
        """Acquisitions with equal keys share their partial-volume fractions."""
        return (self.grid, self.pose, self.rois)


@dataclass(frozen=True)
class StudyPlan:
    """Everything :func:`.simulate_study` needs, validated."""

    name: str
    seed: int
    scale: float
    phantom: PhantomSpec
    rois: RoiPlan
    noise: NoiseModel
    acquisitions: dict[str, AcquisitionSpec]
    comparisons: list[dict[str, Any]]
    threshold: float
    extraction: str
    extraction_3d: str
    published: dict[str, list[float]] = field(default_factory=dict)
    drawing: RoiDrawing = RoiDrawing()
    scanner_extraction: dict[str, Any] = field(default_factory=dict)


def _translation(value: Any, key: str) -> tuple[float, float, float]:
    x, y, z = (expect_number(v, key, positive=False) for v in value)
    return (x, y, z)


@dataclass(frozen=True)
class Repositioning:
    """The set-up error of a session with no explicit pose (``protocol.repositioning``).

    Attributes:
        translation_sd_mm: standard deviation of the translation along x, y and z.
        rotation_sd_deg: standard deviation of the rotation about z.
        slip_probability, slip_scale: a share ``slip_probability`` of the set-ups has
            ``slip_scale`` times the standard deviations (``slip: {probability, scale}``).
    """

    translation_sd_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rotation_sd_deg: float = 0.0
    slip_probability: float = 0.0
    slip_scale: float = 1.0


def parse_repositioning(value: Any) -> Repositioning:
    """Validate ``protocol.repositioning`` whole, whether or not a session draws from it."""
    data = expect_mapping(value if value is not None else {}, "protocol.repositioning")
    unknown = sorted(set(data) - {"translation_sd_mm", "rotation_sd_deg", "slip"})
    if unknown:
        raise ConfigError(f"protocol.repositioning.{unknown[0]}: unknown key (expected translation_sd_mm, "
                          "rotation_sd_deg, slip)")
    raw_t = data.get("translation_sd_mm", [0, 0, 0])
    if not isinstance(raw_t, (list, tuple)) or len(raw_t) != 3:
        raise ConfigError(f"protocol.repositioning.translation_sd_mm: expected 3 numbers, got {raw_t!r}")
    x, y, z = (expect_number(v, f"protocol.repositioning.translation_sd_mm[{i}]", allow_zero=True)
               for i, v in enumerate(raw_t))
    sd_t = (x, y, z)
    sd_r = expect_number(data.get("rotation_sd_deg", 0.0), "protocol.repositioning.rotation_sd_deg",
                         allow_zero=True)
    probability, scale = _slip(data["slip"]) if data.get("slip") is not None else (0.0, 1.0)
    return Repositioning(sd_t, sd_r, probability, scale)


def parse_poses(value: Any) -> dict[str, Pose]:
    """Validate ``protocol.poses`` whole: ``{session: {rotation_deg, translation_mm}}``."""
    poses = {}
    for session, raw in expect_mapping(value if value is not None else {}, "protocol.poses").items():
        p = expect_mapping(raw, f"protocol.poses.{session}")
        t = p.get("translation_mm", [0.0, 0.0, 0.0])
        if not isinstance(t, (list, tuple)) or len(t) != 3:
            raise ConfigError(f"protocol.poses.{session}.translation_mm: expected [x, y, z], got {t!r}")
        poses[str(session)] = Pose(expect_number(p.get("rotation_deg", 0.0), f"protocol.poses.{session}.rotation_deg",
                                                 positive=False),
                                   _translation(t, f"protocol.poses.{session}.translation_mm"))
    return poses


def session_pose(session: str, repositioning: Repositioning, explicit: dict[str, Pose], seed: int) -> Pose:
    """The pose of a set-up session: explicit in ``poses``, else drawn from ``repositioning``.

    The draw is Gaussian with the configured standard deviations, from a stream of ``seed``
    and the session name, so it does not depend on the order of the acquisitions. With
    ``slip: {probability: p, scale: k}`` a share ``p`` of the set-ups slip: their error has
    ``k`` times the standard deviations (a scale mixture of two Gaussians). A phantom aligned
    anew on its laser marks lands close to where it was most of the time, and now and then
    well off (re-placed on the table off its marks, or turned).
    """
    if session in explicit:
        return explicit[session]
    sd_t, sd_r = repositioning.translation_sd_mm, repositioning.rotation_sd_deg
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2, zlib.crc32(session.encode())]))
    draw = rng.standard_normal(4)
    if repositioning.slip_probability and rng.random() < repositioning.slip_probability:
        draw = draw * repositioning.slip_scale
    return Pose(float(sd_r * draw[0]),
                (float(sd_t[0] * draw[1]), float(sd_t[1] * draw[2]), float(sd_t[2] * draw[3])))


def _check_fits(acq: str, spec: PhantomSpec, grid: Grid, pose: Pose, rois: RoiPlan) -> None:
    """Geometry checks of one acquisition against the phantom (cheap, before any work)."""
    key = f"protocol.acquisitions.{acq}"
    (nx, ny), (dx, dy, dz) = grid.matrix, grid.spacing_mm
    a, b = spec.semi_axes_mm
    if max(dx, dy) >= 2 * min(a, b) or dz >= spec.length_mm:
        raise ConfigError(f"{key}.voxel_mm: a voxel of {[dx, dy, dz]} mm is larger than the phantom "
                         f"({2 * a:.0f} x {2 * b:.0f} x {spec.length_mm:.0f} mm)")
    smallest = min(rois.diameters_mm)
    if smallest < 2 * max(dx, dy):
        raise ConfigError(f"{key}.voxel_mm: the smallest ROI ({smallest:.1f} mm across) spans fewer "
                         f"than 2 voxels of {max(dx, dy)} mm")
    th = math.radians(pose.rotation_deg)
    hx = math.hypot(a * math.cos(th), b * math.sin(th)) + abs(pose.translation_mm[0])
    hy = math.hypot(a * math.sin(th), b * math.cos(th)) + abs(pose.translation_mm[1])
    if hx > nx * dx / 2 or hy > ny * dy / 2:
        raise ConfigError(f"{key}.matrix: the field of view ({nx * dx:.0f} x {ny * dy:.0f} mm) does not "
                         f"hold the phantom in its pose ({2 * hx:.0f} x {2 * hy:.0f} mm)")
    tail = 4 * grid.profile_edge * dz if grid.mode == "2D" else 0.0
    half_slab = grid.n_slices * dz / 2 + tail + abs(pose.translation_mm[2])
    if half_slab > spec.length_mm / 2 - spec.resolution_mm[1]:
        raise ConfigError(f"{key}: the slab ({grid.n_slices} x {dz} mm, pose z shift "
                         f"{pose.translation_mm[2]:.1f} mm) is longer than the phantom "
                         f"({spec.length_mm} mm, phantom.length_mm)")


def _comparisons(raw: Any, acquisitions: dict[str, Any]) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise ConfigError(f"protocol.comparisons: expected a list, got {raw!r}")
    out = []
    for i, comp in enumerate(raw):
        comp = dict(expect_mapping(comp, f"protocol.comparisons[{i}]"))
        key = f"protocol.comparisons[{i}] ({comp.get('name', '?')})"
        if "name" not in comp:
            raise ConfigError(f"{key}.name: missing")
        if comp.get("statistic") not in STATISTICS:
            raise ConfigError(f"{key}.statistic: "
                             + unknown_name_message("statistic", str(comp.get("statistic")), STATISTICS.list()))
        ids = list(comp.get("acquisitions", [])) + [a for p in comp.get("pairs", []) for a in p]
        if not ids:
            raise ConfigError(f"{key}: expected 'acquisitions' or 'pairs'")
        for a in ids:
            if a not in acquisitions:
                raise ConfigError(f"{key}: unknown acquisition {a!r}")
        out.append(comp)
    return out


@dataclass(frozen=True)
class _Layout:
    """What every acquisition of a protocol is planned against (see :func:`plan_study`)."""

    phantom: PhantomSpec
    diameters: tuple[float, ...]
    per_2d: int
    length_3d: float
    margin: tuple[int, int]
    repositioning: Repositioning
    explicit: dict[str, Pose]
    seed: int
    scale: float


def _diameters(value: Any, key: str, spec: PhantomSpec, scale: float) -> tuple[float, ...]:
    """``diameters_mm``: the ROI sizes, largest first, each fitting every insert (times ``scale``)."""
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{key}: expected a list of diameters, got {value!r}")
    diameters = tuple(expect_number(d, f"{key}[{j}]") * scale for j, d in enumerate(value))
    for ins in spec.inserts:
        if max(diameters) > 2 * ins.radius_mm:
            raise ConfigError(f"{key}: an ROI of {max(diameters):.1f} mm does not fit insert "
                             f"{ins.name!r} ({2 * ins.radius_mm:.1f} mm across, after scale {scale})")
    return diameters


def _margin(value: Any, key: str) -> tuple[int, int]:
    """``margin_slices``: ``[below, above]``, slices acquired beyond the ROI's on each side."""
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)):
        raise ConfigError(f"{key}: expected two integers >= 0 [below, above], got {value!r}")
    return (int(value[0]), int(value[1]))


def _step(value: Any, key: str, margin: tuple[int, int]) -> tuple[float, float]:
    """``roi_step: {normal_deg, offset_mm}`` (:attr:`RoiPlan.step`); it needs a slice above the ROI's."""
    step = expect_mapping(value, key)
    unknown = sorted(set(step) - {"normal_deg", "offset_mm"})
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}: unknown key (expected normal_deg, offset_mm)")
    if margin[1] < 1:
        raise ConfigError(f"{key}: the stepped ROI needs a slice above the ROI's; margin_slices "
                         f"is {list(margin)}")
    return (expect_number(step.get("normal_deg"), f"{key}.normal_deg", positive=False),
            expect_number(step.get("offset_mm"), f"{key}.offset_mm", positive=False))


def _noise_model(value: Any) -> NoiseModel:
    """The :class:`NoiseModel` of ``protocol.noise``; ``ValueError`` naming the key."""
    noise = expect_mapping(value, "protocol.noise")
    return NoiseModel(
        snr_reference=expect_number(noise.get("snr_reference"), "protocol.noise.snr_reference"),
        reference_field_t=expect_number(noise.get("reference_field_t"), "protocol.noise.reference_field_t"),
        reference_voxel_mm3=expect_number(noise.get("reference_voxel_mm3"), "protocol.noise.reference_voxel_mm3"),
        field_exponent=expect_number(noise.get("field_exponent", 1.0), "protocol.noise.field_exponent",
                                     positive=False),
        series_sd=expect_number(noise.get("series_sd", 0.0), "protocol.noise.series_sd", allow_zero=True),
    )


def _slip(value: Any) -> tuple[float, float]:
    """``(probability, scale)`` of ``protocol.repositioning.slip``; ``ValueError`` naming the key."""
    slip = expect_mapping(value, "protocol.repositioning.slip")
    probability = expect_number(slip.get("probability"), "protocol.repositioning.slip.probability",
                                allow_zero=True)
    if probability > 1:
        raise ConfigError("protocol.repositioning.slip.probability: expected a number in [0, 1], "
                         f"got {probability!r}")
    return probability, expect_number(slip.get("scale"), "protocol.repositioning.slip.scale")


def _plan_acquisition(acq_id: str, a: dict[str, Any], scanners: dict[str, ScannerSpec],
                      noise_model: NoiseModel, layout: _Layout) -> AcquisitionSpec:
    """One acquisition of the protocol (``a``: its keys over ``acquisition_defaults``)."""
    key = f"protocol.acquisitions.{acq_id}"
    sk = a.get("scanner")
    if sk not in scanners:
        raise ConfigError(f"{key}.scanner: unknown scanner {sk!r}; protocol.scanners defines "
                         f"{', '.join(scanners)}")
    sc = scanners[sk]
    mode = a.get("mode", "2D")
    if mode not in MODES:
        raise ConfigError(f"{key}.mode: expected one of {MODES}, got {mode!r}")
    te = expect_number(a.get("te_ms"), f"{key}.te_ms")
    tr = expect_number(a.get("tr_ms"), f"{key}.tr_ms")
    if te >= tr:
        raise ConfigError(f"{key}.te_ms: TE ({te} ms) must be shorter than TR ({tr} ms)")
    voxel = numbers(a.get("voxel_mm", sc.voxel_mm), 3, f"{key}.voxel_mm")
    matrix = int_pair(a.get("matrix", list(sc.matrix)), f"{key}.matrix")
    matrix = (max(int(round(matrix[0] * layout.scale)), 2), max(int(round(matrix[1] * layout.scale)), 2))
    if mode == "2D":
        roi_slices = layout.per_2d
        kf = fractions(a.get("kspace_fraction", list(sc.kspace_fraction)), 2, f"{key}.kspace_fraction")
    else:
        roi_slices = max(int(round(layout.length_3d / voxel[2])), 1)
        kf = fractions(a.get("kspace_fraction", [*sc.kspace_fraction, 1.0]), 3,
                        f"{key}.kspace_fraction")
    margin = _margin(a.get("margin_slices", list(layout.margin)), f"{key}.margin_slices")
    diameters = layout.diameters
    if "diameters_mm" in a:  # an operator's own sizes; ROI ids pair across scans, so as many
        diameters = _diameters(a["diameters_mm"], f"{key}.diameters_mm", layout.phantom, layout.scale)
        if len(diameters) != len(layout.diameters):
            raise ConfigError(f"{key}.diameters_mm: expected {len(layout.diameters)} sizes, as "
                             f"protocol.roi.diameters_mm, got {len(diameters)}")
    step = _step(a["roi_step"], f"{key}.roi_step", margin) if "roi_step" in a else None
    rois = RoiPlan(diameters, roi_slices, margin, step)
    grid = Grid(matrix, voxel, rois.n_slices, mode, sc.profile_edge if mode == "2D" else 0.0)
    session = str(a.get("session", acq_id))
    pose = session_pose(session, layout.repositioning, layout.explicit, layout.seed)
    _check_fits(acq_id, layout.phantom, grid, pose, rois)
    reps = {}
    for meta in ("repetition", "position"):
        v = a.get(meta, 1)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ConfigError(f"{key}.{meta}: expected an integer >= 1, got {v!r}")
        reps[meta] = v
    return AcquisitionSpec(
        id=str(acq_id), scanner_key=str(sk), scanner=sc, mode=mode, te_ms=te, tr_ms=tr,
        grid=grid, kspace_fraction=kf, rois=rois, session=session, pose=pose,
        repetition=reps["repetition"], position=reps["position"],
        sigma=noise_model.sigma(sc, voxel, (layout.seed, str(acq_id))), operator=str(a.get("operator", sk)),
        extraction=a.get("extraction"), mask_from=a.get("mask_from"),
    )


def plan_study(protocol: dict[str, Any], phantom: dict[str, Any], seed: int) -> StudyPlan:
    """Validate a protocol and a phantom together; nothing is simulated.

    Args:
        protocol: the plain dict of ``conf/radiomics/protocol/<name>.yaml``.
        phantom: the plain dict of ``conf/radiomics/phantom/<name>.yaml``.
        seed: the study seed (draws of the repositioning poses).

    Returns:
        The :class:`StudyPlan`.

    Raises:
        ValueError: naming the key: a negative TE or TR, a voxel larger than the phantom, an
            unknown scanner, ROI sizes that do not fit their insert, an unknown acquisition in a
            comparison, ...
    """
    protocol = expect_mapping(protocol, "protocol")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed: expected a non-negative integer, got {seed!r}")
    scale = expect_number(protocol.get("scale", 1.0), "protocol.scale")
    spec = parse_phantom(phantom, scale)
    roi = expect_mapping(protocol.get("roi"), "protocol.roi")
    diameters = _diameters(roi.get("diameters_mm"), "protocol.roi.diameters_mm", spec, scale)
    per_2d = roi.get("slices_2d")
    if not isinstance(per_2d, int) or isinstance(per_2d, bool) or per_2d < 1:
        raise ConfigError(f"protocol.roi.slices_2d: expected an integer >= 1, got {per_2d!r}")
    length_3d = expect_number(roi.get("length_3d_mm"), "protocol.roi.length_3d_mm")
    margin = _margin(roi.get("margin_slices", [0, 0]), "protocol.roi.margin_slices")
    drawing = RoiDrawing(**optional_numbers(
        roi.get("drawing"), "protocol.roi.drawing", ("centre_sd_mm", "radius_sd_mm", "operator_radius_sd_mm")))
    noise_model = _noise_model(protocol.get("noise"))
    scanners = scaled_scanners(protocol, scale)
    defaults = dict(protocol.get("acquisition_defaults") or {})
    repositioning = parse_repositioning(protocol.get("repositioning"))
    explicit = parse_poses(protocol.get("poses"))
    raw_acq = expect_mapping(protocol.get("acquisitions"), "protocol.acquisitions")
    if not raw_acq:
        raise ConfigError("protocol.acquisitions: expected at least one acquisition")
    layout = _Layout(spec, diameters, per_2d, length_3d, margin, repositioning, explicit, int(seed), scale)
    acquisitions = {str(acq_id): _plan_acquisition(str(acq_id), {**defaults, **expect_mapping(
        raw, f"protocol.acquisitions.{acq_id}")}, scanners, noise_model, layout)
        for acq_id, raw in raw_acq.items()}
    _check_mask_sources(acquisitions)
    published = _published(protocol)
    threshold = expect_number(protocol.get("threshold", 0.9), "protocol.threshold")
    return StudyPlan(
        name=str(protocol.get("name", "phantom_study")),
        seed=int(seed),
        scale=scale,
        phantom=spec,
        rois=RoiPlan(diameters, per_2d, margin),
        noise=noise_model,
        acquisitions=acquisitions,
        comparisons=_comparisons(protocol.get("comparisons", []), acquisitions),
        threshold=threshold,
        extraction=str(protocol.get("extraction", "paper2d")),
        extraction_3d=str(protocol.get("extraction_3d", "paper3d")),
        published=published,
        drawing=drawing,
        scanner_extraction=scanner_extraction(protocol),
    )


def _published(protocol: dict[str, Any]) -> dict[str, list[float]]:
    """``published``: group -> [low %, high %]."""
    return {str(group): [float(v) for v in numbers(rng_pct, 2, f"protocol.published.{group}")]
            for group, rng_pct in dict(protocol.get("published") or {}).items()}


def _check_mask_sources(acquisitions: dict[str, AcquisitionSpec]) -> None:
    """``mask_from`` names another acquisition on the same grid, ROI slices and ROI sizes (its
    mask is reused as it is)."""
    for acq_id, acq in acquisitions.items():
        if acq.mask_from is None:
            continue
        key = f"protocol.acquisitions.{acq_id}.mask_from"
        src = acquisitions.get(str(acq.mask_from))
        if src is None:
            raise ConfigError(f"{key}: unknown acquisition {acq.mask_from!r}")
        if src.mask_from is not None:
            raise ConfigError(f"{key}: {acq.mask_from!r} takes its own mask from {src.mask_from!r}; "
                             "name that acquisition instead")
        if src.grid != acq.grid or src.rois != acq.rois:
            raise ConfigError(f"{key}: {acq.mask_from!r} has another grid ({src.grid.matrix}, "
                             f"{src.grid.spacing_mm} mm, {src.grid.n_slices} slices, ROI on slices "
                             f"{src.rois.roi_block.start}-{src.rois.roi_block.stop - 1}, ROIs of "
                             f"{list(src.rois.diameters_mm)} mm); a mask is reused only on the same "
                             "grid with the same ROIs")

