"""Scanners: a scanner file or a protocol's scanner entry, validated.

A scanner (``conf/radiomics/scanner/<name>.yaml``, see :mod:`.config`) is referenced from a
protocol by its registered name or as a mapping ``{base: <name>, ...overrides}``;
:func:`parse_scanner` resolves and validates it into a :class:`ScannerSpec`, raising a
one-line ``ConfigError`` naming the key at fault.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from robustlab.common.errors import ConfigError
from robustlab.radiomics.phantom.acquisition import FILTERS, Coil
from robustlab.radiomics.phantom.config import get_scanner
from robustlab.radiomics.phantom.model import expect_mapping, expect_number, expect_pair
from robustlab.radiomics.phantom.scanner_effects import Distortion, Ghosting, Nonuniformity


@dataclass(frozen=True)
class ScannerSpec:
    """A validated scanner (see ``conf/radiomics/scanner/*.yaml``)."""

    name: str
    vendor: str
    field_t: float
    voxel_mm: tuple[float, float, float]
    matrix: tuple[int, int]
    kspace_fraction: tuple[float, float]
    recon_filter: str
    filter_params: dict[str, float]
    snr_factor: float
    coil: Coil
    intensity_scale: float
    profile_edge: float
    nonuniformity: Nonuniformity = Nonuniformity()
    distortion: Distortion = Distortion()
    setup_field: Nonuniformity = Nonuniformity()
    acceleration: int = 1
    refocusing_deg: float = 180.0
    ghosting: Ghosting = Ghosting()


def int_pair(value: Any, key: str) -> tuple[int, int]:
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        raise ConfigError(f"{key}: expected two positive integers [nx, ny], got {value!r}")
    return (int(value[0]), int(value[1]))


def numbers(value: Any, n: int, key: str) -> tuple[Any, ...]:
    # Exactly n floats (the length is checked here); Any-variadic so that it binds to the
    # fixed-length fields (voxel_mm, translation_mm, kspace_fraction) it fills.
    if not isinstance(value, (list, tuple)) or len(value) != n:
        raise ConfigError(f"{key}: expected {n} numbers, got {value!r}")
    return tuple(expect_number(v, f"{key}[{i}]") for i, v in enumerate(value))


def fractions(value: Any, n: int, key: str) -> tuple[Any, ...]:
    fr = numbers(value, n, key)
    if not all(0 < f <= 1 for f in fr):
        raise ConfigError(f"{key}: expected acquired k-space fractions in (0, 1], got {list(fr)}")
    return fr


def parse_coil(value: Any, key: str) -> Coil:
    """Validate a coil mapping ``{elements, ellipse_mm, loop_radius_mm, correction}``."""
    c = expect_mapping(value, key)
    n = c.get("elements")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"{key}.elements: expected an integer >= 1, got {n!r}")
    correction = expect_number(c.get("correction"), f"{key}.correction", allow_zero=True)
    if correction > 1:
        raise ConfigError(f"{key}.correction: expected a share in [0, 1], got {correction}")
    ellipse = numbers(c.get("ellipse_mm"), 2, f"{key}.ellipse_mm")
    return Coil(n, (ellipse[0], ellipse[1]), expect_number(c.get("loop_radius_mm"),
                f"{key}.loop_radius_mm"), correction)


def optional_numbers(value: Any, key: str, names: tuple[str, ...]) -> dict[str, float]:
    """The non-negative numbers of an optional mapping; unknown keys are an error."""
    data = expect_mapping(value if value is not None else {}, key)
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}: unknown key (expected {', '.join(names)})")
    return {k: expect_number(v, f"{key}.{k}", allow_zero=True) for k, v in data.items()}


def parse_effects(data: dict[str, Any], key: str) -> dict[str, Any]:
    """The optional between-scanner effects of a scanner (:mod:`.scanner_effects`)."""
    raw_nu = dict(expect_mapping(data.get("nonuniformity") or {}, f"{key}.nonuniformity"))
    gradient = expect_pair(raw_nu.pop("gradient_per_100mm", [0.0, 0.0]),
                           f"{key}.nonuniformity.gradient_per_100mm")
    nu = optional_numbers(raw_nu, f"{key}.nonuniformity", ("amplitude", "order", "gradient_per_100mm"))
    order = _count(nu, "order", 2, f"{key}.nonuniformity")
    setup = optional_numbers(data.get("setup_field"), f"{key}.setup_field", ("amplitude", "order"))
    setup_order = _count(setup, "order", 2, f"{key}.setup_field")
    dist = optional_numbers(data.get("distortion"), f"{key}.distortion",
                             ("gradient_mm_at_150mm", "b0_ppm", "bandwidth_hz_per_pixel"))
    if dist.get("bandwidth_hz_per_pixel", 1.0) <= 0:
        raise ConfigError(f"{key}.distortion.bandwidth_hz_per_pixel: expected a number > 0")
    pi = expect_mapping(data.get("parallel_imaging") or {}, f"{key}.parallel_imaging")
    accel = pi.get("acceleration", 1)
    if not isinstance(accel, int) or isinstance(accel, bool) or accel < 1:
        raise ConfigError(f"{key}.parallel_imaging.acceleration: expected an integer >= 1, got {accel!r}")
    ghost = optional_numbers(data.get("ghosting"), f"{key}.ghosting", ("phase_sd_rad", "shots"))
    return {"nonuniformity": Nonuniformity(nu.get("amplitude", 0.0), order, gradient),
            "ghosting": Ghosting(ghost.get("phase_sd_rad", 0.0), _count(ghost, "shots", 1, f"{key}.ghosting")),
            "distortion": Distortion(**dist), "acceleration": accel,
            "setup_field": Nonuniformity(setup.get("amplitude", 0.0), setup_order)}


def _count(numbers: dict[str, float], name: str, default: int, key: str) -> int:
    """``numbers[name]`` (or ``default``) as an integer >= 1; ``ConfigError`` naming ``key.name`` otherwise."""
    value = numbers.get(name, default)
    if value != int(value) or value < 1:
        raise ConfigError(f"{key}.{name}: expected an integer >= 1, got {value!r}")
    return int(value)


def parse_scanner(value: Any, key: str) -> ScannerSpec:
    """Resolve a scanner reference (a registered name, or a mapping with an optional ``base``)."""
    if isinstance(value, str):
        try:
            data = get_scanner(value)
        except ValueError as err:
            raise ConfigError(f"{key}: {err}") from None
    else:
        data = dict(expect_mapping(value, key))
        if "base" in data:
            try:
                base = get_scanner(str(data.pop("base")))
            except ValueError as err:
                raise ConfigError(f"{key}.base: {err}") from None
            data = {**base, **data}
    for req in ("vendor", "field_strength", "voxel_mm", "matrix", "kspace_fraction",
                "recon_filter", "coil", "intensity_scale"):
        if req not in data:
            raise ConfigError(f"{key}.{req}: missing from the scanner")
    filt = expect_mapping(data["recon_filter"], f"{key}.recon_filter")
    fname = str(filt.get("name"))
    try:
        FILTERS.get(fname)
    except ValueError as err:
        raise ConfigError(f"{key}.recon_filter.name: {err}") from None
    params = {k: expect_number(v, f"{key}.recon_filter.{k}") for k, v in filt.items() if k != "name"}
    return ScannerSpec(
        name=str(data.get("name", value if isinstance(value, str) else key)),
        vendor=str(data["vendor"]),
        field_t=expect_number(data["field_strength"], f"{key}.field_strength"),
        voxel_mm=numbers(data["voxel_mm"], 3, f"{key}.voxel_mm"),
        matrix=int_pair(data["matrix"], f"{key}.matrix"),
        kspace_fraction=fractions(data["kspace_fraction"], 2, f"{key}.kspace_fraction"),
        recon_filter=fname,
        filter_params=params,
        snr_factor=expect_number(data.get("snr_factor", 1.0), f"{key}.snr_factor"),
        coil=parse_coil(data.get("coil"), f"{key}.coil"),
        intensity_scale=expect_number(data["intensity_scale"], f"{key}.intensity_scale"),
        profile_edge=expect_number(data.get("slice_profile_edge", 0.0), f"{key}.slice_profile_edge",
                             allow_zero=True),
        refocusing_deg=_refocusing(data.get("refocusing_deg", 180.0), f"{key}.refocusing_deg"),
        **parse_effects(data, key),
    )


def _refocusing(value: Any, key: str) -> float:
    angle = expect_number(value, key)
    if not 0 < angle <= 180:
        raise ConfigError(f"{key}: expected a refocusing flip angle in (0, 180] degrees, got {angle}")
    return angle


def scanner_extraction(protocol: dict[str, Any]) -> dict[str, Any]:
    """The ``extraction`` of each scanner entry given as a mapping (written to the study file's
    ``scanners:`` section, where it refines the study's extraction settings)."""
    out = {}
    for k, v in expect_mapping(protocol.get("scanners"), "protocol.scanners").items():
        if isinstance(v, dict) and v.get("extraction") is not None:
            ext = v["extraction"]
            if not isinstance(ext, (str, dict)):
                raise ConfigError(f"protocol.scanners.{k}.extraction: expected a parameter file name or "
                                 f"a mapping of pyradiomics settings, got {ext!r}")
            out[str(k)] = ext
    return out


def scaled_scanners(protocol: dict[str, Any], scale: float) -> dict[str, ScannerSpec]:
    """The protocol's scanners; the receive array wraps the body, so its geometry follows ``scale``."""
    scanners = {}
    for k, v in expect_mapping(protocol.get("scanners"), "protocol.scanners").items():
        if isinstance(v, dict):
            v = {key: val for key, val in v.items() if key != "extraction"}
        sc = parse_scanner(v, f"protocol.scanners.{k}")
        coil = replace(sc.coil, ellipse_mm=(sc.coil.ellipse_mm[0] * scale, sc.coil.ellipse_mm[1] * scale),
                       loop_radius_mm=sc.coil.loop_radius_mm * scale)
        scanners[k] = replace(sc, coil=coil)
    return scanners
