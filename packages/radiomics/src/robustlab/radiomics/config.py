"""The radiomics app's config as typed dataclasses (``conf/radiomics.yaml``).

:func:`bind` turns the composed Hydra config into a :class:`RadiomicsConfig` once, strictly
(an unknown key is an error naming it and the close matches); the analysis options default to
:class:`~robustlab.radiomics.results.Options`' own values (stated there once).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from robustlab.common.config import from_dict
from robustlab.radiomics.results import Options


@dataclass
class ShapeDependenceConfig:
    """``shape_dependence``: ``rho``, the ``|Spearman rho|`` above which a feature carries shape."""

    rho: float = Options.shape_rho


@dataclass
class TextureTestConfig:
    """``texture_test``: the voxel-shuffling test (see :class:`~robustlab.radiomics.results.Options`)."""

    enabled: bool = Options.texture
    acquisitions: list[str] | None = None
    rtol: float = Options.texture_rtol
    atol: float = Options.texture_atol


@dataclass
class SelectionConfig:
    """``selection``: the comparisons a robust feature must be excellent in; shape features out."""

    select_on: list[str] | None = None
    drop_shape: bool = Options.drop_shape


@dataclass
class RadiomicsConfig:
    """The whole config of ``robustlab-radiomics`` (see ``conf/radiomics.yaml`` for each key)."""

    phantom: dict[str, Any] = field(default_factory=dict)
    protocol: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    plugins: list[str] = field(default_factory=list)
    study: str = "simulated"
    n_jobs: int = -1
    cache_dir: str | None = None
    shard: str | None = None
    progress: bool = True
    threshold: float | None = Options.threshold
    alpha: float = Options.alpha
    bands: tuple[float, float, float] = Options.bands
    geometry_tolerance: float = Options.geometry_tolerance
    shape_dependence: ShapeDependenceConfig = field(default_factory=ShapeDependenceConfig)
    texture_test: TextureTestConfig = field(default_factory=TextureTestConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    size_groups: int | str = Options.size_groups
    report: bool = Options.report
    plan: bool = False
    plan_seeds: int = 20

    def options(self) -> dict[str, Any]:
        """The :class:`~robustlab.radiomics.results.Options` keywords of this config."""
        texture, selection = self.texture_test, self.selection
        return {
            "threshold": self.threshold, "alpha": self.alpha, "bands": tuple(self.bands),
            "geometry_tolerance": self.geometry_tolerance, "shape_rho": self.shape_dependence.rho,
            "texture": texture.enabled, "texture_acquisitions": texture.acquisitions,
            "texture_rtol": texture.rtol, "texture_atol": texture.atol,
            "select_on": selection.select_on, "drop_shape": selection.drop_shape,
            "size_groups": self.size_groups, "report": self.report,
        }


def bind(config: Mapping[str, Any]) -> RadiomicsConfig:
    """The composed config (a plain mapping, ``hydra`` left out) as a :class:`RadiomicsConfig`."""
    return from_dict(RadiomicsConfig, {k: v for k, v in config.items() if k != "hydra"})
