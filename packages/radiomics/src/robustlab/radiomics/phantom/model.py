"""The digital pelvic phantom: geometry, compartments and their MR tissue parameters.

The phantom is a prism along the scanner's z axis (head-feet): an elliptic body whose outer
shell is fat-like and whose filling is a water gel, holding cylindrical inserts parallel to z.
Each insert is a matrix material holding one or more granular components (grains), whose
volume fractions are 3D fields (:mod:`.textures`). Every compartment is a :class:`Tissue`.

Because the MR signal of a voxel is the sum of its materials' signals weighted by their volume
fractions, the image of any acquisition is ``sum_m S_m(TE, TR, B0) * fraction_m``; the fractions
depend only on the geometry, so they are computed once per pose and grid and shared by every
contrast acquired there (:mod:`.acquisition`).

Lengths in the cross-section (body, shell, insert centres and diameters) are multiplied by the
protocol's ``scale``; lengths along z and the grain size of the textures are not (a smaller
phantom of the same materials).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from robustlab.common.errors import ConfigError


@dataclass(frozen=True)
class Tissue:
    """MR parameters of one material.

    Attributes:
        pd: proton density, relative to water (1.0).
        t1_ms: longitudinal relaxation time in ms at each field strength in tesla.
        t2_ms: transverse relaxation time in ms (field-independent here).
    """

    pd: float
    t1_ms: dict[float, float]
    t2_ms: float

    def t1_at(self, field_t: float) -> float:
        """T1 at ``field_t`` tesla: power law ``T1 = a * B0**b`` through the configured points.

        T1 of soft tissue grows roughly as a power of B0 (Bottomley et al., Med Phys 1984,
        11:425); with one configured field the value is used as is.
        """
        fields = sorted(self.t1_ms)
        if len(fields) == 1:
            return float(self.t1_ms[fields[0]])
        i = int(np.clip(np.searchsorted(fields, field_t) - 1, 0, len(fields) - 2))
        lo, hi = fields[i], fields[i + 1]
        slope = math.log(self.t1_ms[hi] / self.t1_ms[lo]) / math.log(hi / lo)
        return float(self.t1_ms[lo] * (field_t / lo) ** slope)

    def signal(self, te_ms: float, tr_ms: float, field_t: float, refocusing_deg: float = 180.0) -> float:
        """Spin-echo signal ``S = PD (1 - exp(-TR/T1)) exp(-TE R)``, ``R = 1/T2`` at 180 degrees.

        The standard spin-echo (and fast spin-echo at its effective TE) signal equation,
        e.g. Bernstein, King and Zhou, Handbook of MRI Pulse Sequences (2004), ch. 14. With
        refocusing pulses of ``a < 180`` degrees a fast spin echo settles into a pseudo-steady
        state whose echoes decay with a mixture of both relaxation rates,
        ``R = sin(a/2)**2 / T2 + cos(a/2)**2 / T1`` (Alsop, Magn Reson Med 1997, 37:176;
        Hennig, Weigel and Scheffler, Magn Reson Med 2003, 49:527): a lower angle weakens the
        T2 weighting. Its overall signal scale is left to the scanner's intensity scaling.
        """
        t1 = self.t1_at(field_t)
        half = math.radians(refocusing_deg) / 2.0
        rate = math.sin(half) ** 2 / self.t2_ms + math.cos(half) ** 2 / t1
        return float(self.pd * (1.0 - math.exp(-tr_ms / t1)) * math.exp(-te_ms * rate))


@dataclass(frozen=True)
class GrainComponent:
    """One granular component of an insert's texture.

    Attributes:
        scale_mm: grain size: the correlation length (twice the Gaussian sigma) of the field.
        fraction: volume fraction of the grains in the insert, in (0, 1).
        contrast: grain proton density relative to the insert matrix minus one.
        scale_z_mm: the correlation length along the insert's axis (z), where it differs from
            the cross-section's: a columnar texture (``scale_z_mm`` > ``scale_mm``) keeps its
            in-plane contrast through a thick slice; ``None``: isotropic grains.
    """

    scale_mm: float
    fraction: float
    contrast: float
    scale_z_mm: float | None = None


@dataclass(frozen=True)
class Insert:
    """A cylindrical insert parallel to z (cross-section lengths already scaled)."""

    name: str
    centre_mm: tuple[float, float]
    radius_mm: float
    tissue: Tissue
    components: tuple[GrainComponent, ...]

    def grain_tissue(self, k: int) -> Tissue:
        """The tissue of grain component ``k``: the matrix with PD times ``1 + contrast``."""
        c = self.components[k]
        return Tissue(self.tissue.pd * (1.0 + c.contrast), self.tissue.t1_ms, self.tissue.t2_ms)


@dataclass(frozen=True)
class PhantomSpec:
    """A validated phantom description (see ``conf/radiomics/phantom/pelvic.yaml``)."""

    name: str
    semi_axes_mm: tuple[float, float]
    shell_mm: float
    shell: Tissue
    filling: Tissue
    inserts: tuple[Insert, ...]
    length_mm: float
    resolution_mm: tuple[float, float]
    supersample: int

    @property
    def inner_semi_axes_mm(self) -> tuple[float, float]:
        """Semi-axes of the filling (inside the shell)."""
        return (self.semi_axes_mm[0] - self.shell_mm, self.semi_axes_mm[1] - self.shell_mm)


def expect_number(value: Any, key: str, positive: bool = True, allow_zero: bool = False) -> float:
    """``value`` as a finite float (by default > 0); ``ConfigError`` (a ``ValueError``) naming ``key`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ConfigError(f"{key}: expected a finite number, got {value!r}")
    if positive and (value < 0 or (value == 0 and not allow_zero)):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{key}: expected a number {bound}, got {value!r}")
    return value


def expect_pair(value: Any, key: str) -> tuple[float, float]:
    """``value`` as two finite floats ``[x, y]``; ``ConfigError`` (a ``ValueError``) naming ``key`` otherwise."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ConfigError(f"{key}: expected two numbers [x, y], got {value!r}")
    return (expect_number(value[0], f"{key}[0]", positive=False), expect_number(value[1], f"{key}[1]", positive=False))


def expect_mapping(value: Any, key: str) -> dict[str, Any]:
    """``value`` itself when it is a mapping; ``ConfigError`` (a ``ValueError``) naming ``key`` otherwise."""
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: expected a mapping, got {value!r}")
    return value


def parse_tissue(data: Any, key: str) -> Tissue:
    """Validate a tissue mapping ``{pd, t1_ms: {field_t: ms, ...}, t2_ms}``."""
    data = expect_mapping(data, key)
    for field in ("pd", "t1_ms", "t2_ms"):
        if field not in data:
            raise ConfigError(f"{key}.{field}: missing (a tissue needs pd, t1_ms and t2_ms)")
    t1 = expect_mapping(data["t1_ms"], f"{key}.t1_ms")
    if not t1:
        raise ConfigError(f"{key}.t1_ms: expected at least one 'field_t: T1 in ms' entry")
    t1_ms = {
        expect_number(b0, f"{key}.t1_ms (field)"): expect_number(v, f"{key}.t1_ms.{b0}") for b0, v in t1.items()
    }
    return Tissue(
        pd=expect_number(data["pd"], f"{key}.pd", allow_zero=True),
        t1_ms=t1_ms,
        t2_ms=expect_number(data["t2_ms"], f"{key}.t2_ms"),
    )


def _parse_insert(i: int, raw: Any, scale: float, inner: tuple[float, float]) -> Insert:
    """The ``i``-th insert of a phantom config, scaled; it must fit inside the filling ``inner``."""
    key = f"phantom.inserts[{i}]"
    raw = expect_mapping(raw, key)
    name = str(raw.get("name", f"insert{i + 1}"))
    key = f"phantom.inserts[{i}] ({name})"
    centre = expect_pair(raw.get("centre_mm"), f"{key}.centre_mm")
    centre = (centre[0] * scale, centre[1] * scale)
    radius = expect_number(raw.get("diameter_mm"), f"{key}.diameter_mm") * scale / 2
    theta = np.linspace(0, 2 * np.pi, 720, endpoint=False)
    rim = ((centre[0] + radius * np.cos(theta)) / inner[0]) ** 2 + (
        (centre[1] + radius * np.sin(theta)) / inner[1]
    ) ** 2
    if rim.max() >= 1.0:
        raise ConfigError(f"{key}: the insert (centre {centre}, radius {radius:.1f} mm) does not "
                         f"fit inside the filling (semi-axes {inner})")
    tissue = parse_tissue(raw.get("tissue"), f"{key}.tissue")
    texture = expect_mapping(raw.get("texture"), f"{key}.texture")
    comps = texture.get("components")
    if not isinstance(comps, list) or not comps:
        raise ConfigError(f"{key}.texture.components: expected a non-empty list of components")
    components = []
    for k, c in enumerate(comps):
        ck = f"{key}.texture.components[{k}]"
        c = expect_mapping(c, ck)
        frac = expect_number(c.get("fraction"), f"{ck}.fraction")
        if not 0 < frac < 1:
            raise ConfigError(f"{ck}.fraction: expected a volume fraction in (0, 1), got {frac}")
        contrast = expect_number(c.get("contrast"), f"{ck}.contrast", positive=False)
        if contrast <= -1:
            raise ConfigError(f"{ck}.contrast: expected > -1 (grain PD must stay positive), got {contrast}")
        scale_z = c.get("scale_z_mm")
        components.append(GrainComponent(
            expect_number(c.get("scale_mm"), f"{ck}.scale_mm"), frac, contrast,
            None if scale_z is None else expect_number(scale_z, f"{ck}.scale_z_mm")))
    return Insert(name, centre, radius, tissue, tuple(components))


def parse_phantom(phantom: dict[str, Any], scale: float = 1.0) -> PhantomSpec:
    """Validate a phantom config and apply the cross-section ``scale``.

    Args:
        phantom: the plain dict of ``conf/radiomics/phantom/<name>.yaml``.
        scale: factor on every cross-section length (body, shell, insert centres and sizes).

    Returns:
        The :class:`PhantomSpec`.

    Raises:
        ValueError: naming the key, e.g. an insert outside the filling or two inserts overlapping.
    """
    phantom = expect_mapping(phantom, "phantom")
    scale = expect_number(scale, "protocol.scale")
    for field in ("body", "inserts", "length_mm", "model"):
        if field not in phantom:
            raise ConfigError(f"phantom.{field}: missing")
    body = expect_mapping(phantom["body"], "phantom.body")
    ax = expect_pair(body.get("semi_axes_mm"), "phantom.body.semi_axes_mm")
    if min(ax) <= 0:
        raise ConfigError(f"phantom.body.semi_axes_mm: expected positive semi-axes, got {list(ax)}")
    semi = (ax[0] * scale, ax[1] * scale)
    shell = expect_number(body.get("shell_thickness_mm"), "phantom.body.shell_thickness_mm") * scale
    if shell >= min(semi):
        raise ConfigError(
            f"phantom.body.shell_thickness_mm: the shell ({shell:.1f} mm) leaves no filling inside "
            f"semi-axes {semi}"
        )
    model = expect_mapping(phantom["model"], "phantom.model")
    res = model.get("resolution_mm")
    if not isinstance(res, (list, tuple)) or len(res) != 2:
        raise ConfigError(f"phantom.model.resolution_mm: expected [in_plane, through_plane], got {res!r}")
    resolution = (expect_number(res[0], "phantom.model.resolution_mm[0]"),
                  expect_number(res[1], "phantom.model.resolution_mm[1]"))
    supersample = model.get("supersample")
    if not isinstance(supersample, int) or isinstance(supersample, bool) or supersample < 1:
        raise ConfigError(f"phantom.model.supersample: expected an integer >= 1, got {supersample!r}")
    spec_inserts = []
    raw_inserts = phantom["inserts"]
    if not isinstance(raw_inserts, list) or not raw_inserts:
        raise ConfigError("phantom.inserts: expected a non-empty list of inserts")
    inner = (semi[0] - shell, semi[1] - shell)
    for i, raw in enumerate(raw_inserts):
        spec_inserts.append(_parse_insert(i, raw, scale, inner))
    for a in range(len(spec_inserts)):
        for b in range(a + 1, len(spec_inserts)):
            ia, ib = spec_inserts[a], spec_inserts[b]
            if math.dist(ia.centre_mm, ib.centre_mm) < ia.radius_mm + ib.radius_mm:
                raise ConfigError(f"phantom.inserts: inserts {ia.name!r} and {ib.name!r} overlap")
    return PhantomSpec(
        name=str(phantom.get("name", "phantom")),
        semi_axes_mm=semi,
        shell_mm=shell,
        shell=parse_tissue(body.get("shell"), "phantom.body.shell"),
        filling=parse_tissue(body.get("filling"), "phantom.body.filling"),
        inserts=tuple(spec_inserts),
        length_mm=expect_number(phantom["length_mm"], "phantom.length_mm"),
        resolution_mm=resolution,
        supersample=supersample,
    )
