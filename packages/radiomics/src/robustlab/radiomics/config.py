"""The radiomics app's config as typed dataclasses (``conf/radiomics.yaml``).

:func:`bind` turns the composed Hydra config into a :class:`RadiomicsConfig` once, strictly
(an unknown key is an error naming it and the close matches, a value that breaks its declared
constraint an error naming the key); the analysis options default to
:class:`~robustlab.radiomics.options.Options`' own values and take its declared types (stated
there once).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from robustlab.common.config import Seed, from_dict
from robustlab.common.constraints import (
    Interval,
    NonEmpty,
    NonNegativeFloat,
    OneOf,
    PositiveInt,
    Unique,
)
from robustlab.radiomics.options import (
    Alpha,
    Bands,
    Names,
    Options,
    Rho,
    SizeGroups,
    Threshold,
    WcvGroups,
    size_groups_alias,
)
from robustlab.radiomics.study.images import IMAGE_BUDGET


@dataclass
class ShapeDependenceConfig:
    """``shape_dependence``: ``rho``, the ``|Spearman rho|`` above which a feature carries shape."""

    rho: Rho = Options.shape_rho


@dataclass
class TextureTestConfig:
    """``texture_test``: the voxel-shuffling test (see :class:`~robustlab.radiomics.options.Options`)."""

    enabled: bool = Options.texture
    acquisitions: Names | None = None
    rtol: NonNegativeFloat = Options.texture_rtol
    atol: NonNegativeFloat = Options.texture_atol


@dataclass
class SelectionConfig:
    """``selection``: the comparisons a robust feature must be excellent in (null: every one;
    an empty list would select on none); shape features out."""

    select_on: Names | None = None
    drop_shape: bool = Options.drop_shape


@dataclass
class RadiomicsConfig:
    """The whole config of ``robustlab-radiomics`` (see ``conf/radiomics.yaml`` for each key),
    each value checked against its declared constraint when bound."""

    phantom: dict[str, Any] = field(default_factory=dict)
    protocol: dict[str, Any] = field(default_factory=dict)
    seed: Seed = 0
    plugins: Annotated[list[str], Unique()] = field(default_factory=list)
    study: Annotated[str, NonEmpty()] = "simulated"
    n_jobs: Annotated[int, Interval(1, None) | OneOf(-1)] = -1
    cache_dir: str | None = None
    shard: str | None = None
    progress: bool = True
    image_budget: PositiveInt = IMAGE_BUDGET
    threshold: Threshold | None = Options.threshold
    alpha: Alpha = Options.alpha
    bands: Bands = Options.bands
    geometry_tolerance: NonNegativeFloat = Options.geometry_tolerance
    shape_dependence: ShapeDependenceConfig = field(default_factory=ShapeDependenceConfig)
    texture_test: TextureTestConfig = field(default_factory=TextureTestConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    wcv_groups: WcvGroups = Options.wcv_groups
    wcv_group_count: PositiveInt = Options.wcv_group_count
    size_groups: SizeGroups | None = None  # deprecated: becomes wcv_groups and wcv_group_count
    report: bool = Options.report
    plan: bool = False
    plan_seeds: Annotated[int, Interval(2, None)] = 20

    def __post_init__(self) -> None:
        if self.size_groups is not None:
            for key, value in size_groups_alias(self.size_groups).items():
                setattr(self, key, value)
            self.size_groups = None

    def options(self) -> dict[str, Any]:
        """The :class:`~robustlab.radiomics.options.Options` keywords of this config."""
        texture, selection = self.texture_test, self.selection
        return {
            "threshold": self.threshold, "alpha": self.alpha, "bands": tuple(self.bands),
            "geometry_tolerance": self.geometry_tolerance, "shape_rho": self.shape_dependence.rho,
            "texture": texture.enabled, "texture_acquisitions": texture.acquisitions,
            "texture_rtol": texture.rtol, "texture_atol": texture.atol,
            "select_on": selection.select_on, "drop_shape": selection.drop_shape,
            "wcv_groups": self.wcv_groups, "wcv_group_count": self.wcv_group_count, "report": self.report,
        }


def bind(config: Mapping[str, Any]) -> RadiomicsConfig:
    """The composed config (a plain mapping, ``hydra`` left out) as a :class:`RadiomicsConfig`,
    every value checked against its declared constraint before any work; the deprecated
    ``size_groups`` (null unless set) becomes ``wcv_groups`` and ``wcv_group_count`` with a
    one-line warning.

    Raises:
        ConfigError: the first key whose value does not fit, named by its path.
    """
    return from_dict(RadiomicsConfig, {k: v for k, v in config.items() if k != "hydra"})
