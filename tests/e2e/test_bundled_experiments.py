"""Every bundled experiment of both apps composes (Hydra's compose API) and becomes its spec.

Nothing trains or extracts: a config that no longer composes, names an unknown method, suite or
study, or holds a value out of range fails here, not in a user's first run.
"""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from robustlab.common.hydra_app import CONFIG_ENV, config_dir

CONF = config_dir()
PRUNING = sorted(p.stem for p in (CONF / "pruning" / "experiment").glob("*.yaml"))
RADIOMICS = sorted(p.stem for p in (CONF / "radiomics" / "experiment").glob("*.yaml"))
MODELS = sorted(p.stem for p in (CONF / "pruning" / "model").glob("*.yaml"))


def composed(app, experiment, monkeypatch, *overrides):
    monkeypatch.setenv(CONFIG_ENV, str(CONF))
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name=app, overrides=[f"experiment={experiment}"] * bool(experiment) + [*overrides],
                       return_hydra_config=False)


def test_the_readme_experiments_are_all_bundled():
    assert {"paper_resnet18", "paper_resnet50", "paper_vitb32", "gpu_check", "smoke",
            "synthetic_quick"} <= set(PRUNING)
    assert {"paper", "quick", "size_dependency"} <= set(RADIOMICS)


@pytest.mark.parametrize("experiment", PRUNING)
def test_pruning_experiment_becomes_a_valid_sweep_spec(experiment, monkeypatch):
    from robustlab.pruning.cli import spec_from_config
    from robustlab.pruning.methods import METHODS
    from robustlab.pruning.suites import SUITES
    from robustlab.pruning.sweep_spec import target_sparsity

    cfg = composed("pruning", experiment, monkeypatch)
    spec = spec_from_config(cfg)
    # what the sweep checks before any work, but the data folders (paths the user gives)
    method = METHODS.get(spec.method)
    for suite in spec.suites:
        SUITES.get(suite)
    spec.train.validate()
    assert method.name == spec.method and spec.steps >= 0
    assert 0 < target_sparsity(max(spec.steps, 1), spec.rate) < 1
    assert spec.model.num_classes == OmegaConf.select(cfg, "data.num_classes")
    assert spec.train.progress, "progress is on by default in every bundled experiment"
    assert not spec_from_config(composed("pruning", experiment, monkeypatch, "progress=false")).train.progress


@pytest.mark.parametrize("experiment", PRUNING)
def test_an_experiment_takes_any_bundled_model_without_its_own_models_keywords(experiment, monkeypatch):
    # An experiment's model keywords live in its model's config file (smoke: model=resnet_tiny),
    # so that another model chosen on the command line gets none of them.
    from robustlab.pruning.cli import spec_from_config
    from robustlab.pruning.models import check_model_kwargs

    for model in MODELS:
        spec = spec_from_config(composed("pruning", experiment, monkeypatch, f"model={model}"))
        alone = spec_from_config(composed("pruning", None, monkeypatch, f"model={model}"))
        assert spec.model.kwargs == alone.model.kwargs, (experiment, model)
        check_model_kwargs(spec.model)
    spec = spec_from_config(composed("pruning", experiment, monkeypatch, "model=timm", "model.name=convnext_atto"))
    assert spec.model.kwargs == {}
    check_model_kwargs(spec.model)


@pytest.mark.parametrize("experiment", RADIOMICS)
def test_radiomics_experiment_becomes_valid_options_and_a_study(experiment, monkeypatch):
    from robustlab.radiomics.cli import options_from_config, parse_shard
    from robustlab.radiomics.phantom.protocol import plan_study
    from robustlab.radiomics.pipeline import Options
    from robustlab.radiomics.study import resolve_study

    cfg = composed("radiomics", experiment, monkeypatch)
    options = Options.from_kwargs(options_from_config(cfg))  # every range check
    assert options.alpha == cfg.alpha
    parse_shard(cfg.get("shard"))
    if cfg.study == "simulated":
        plan = plan_study(OmegaConf.to_container(cfg.protocol, resolve=True),
                          OmegaConf.to_container(cfg.phantom, resolve=True), int(cfg.seed))
        assert plan is not None
    else:
        assert resolve_study(str(cfg.study)).is_file()


def test_an_unknown_key_in_a_config_group_is_named(monkeypatch):
    from robustlab.common.errors import ConfigError
    from robustlab.pruning.cli import spec_from_config

    monkeypatch.setenv(CONFIG_ENV, str(CONF))
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="pruning", overrides=["experiment=smoke", "+data.colour=red"])
    with pytest.raises(ConfigError, match=r"^data: unknown key 'colour' \(known: .*img_size, .*name, "):
        spec_from_config(cfg)
