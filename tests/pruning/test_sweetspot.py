"""Sweet spots: a planted bump is found; flat noisy curves give sweet spots at most at the nominal rate;
seeds and images are crossed; a gain below the practical margin is no finding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from robustlab.common.errors import ConfigError
from robustlab.common.io import read_table, write_table
from robustlab.pruning.runs import expand_run_dirs, job_overrides
from robustlab.pruning.sweetspot import (
    SCOPE_CROSSED,
    SCOPE_IMAGES,
    SweetSpotOptions,
    curve_test,
    find_sweet_spots,
    metric_direction,
    metric_margin,
    parse_margins,
    summarize_sweet_spots,
)

SPARSITY = np.array([0.0, 0.2, 0.36, 0.49, 0.59, 0.67, 0.74])


def _per_image(values: np.ndarray, metric: str = "pointing_game", table: str = "interpretability",
               seed: int = 0, model: str = "resnet_tiny") -> pd.DataFrame:
    """A long per-image table from ``values`` of shape (n_images, n_steps)."""
    n, steps = values.shape
    return pd.DataFrame({
        "run": f"run{seed}", "model": model, "prune_method": "magnitude", "seed": seed,
        "step": np.repeat(np.arange(steps)[None], n, 0).ravel(),
        "sparsity": np.repeat(SPARSITY[None, :steps], n, 0).ravel(),
        "table": table, "method": "gradcam", "metric": metric, "level": 0.0,
        "index": np.repeat(np.arange(n)[:, None], steps, 1).ravel(), "value": values.ravel(),
    })


def test_finder_recovers_a_planted_bump() -> None:
    rng = np.random.default_rng(0)
    n = 120
    bump = np.array([0.0, 0.0, 0.15, 0.3, 0.15, 0.0, -0.2])  # better in the middle, worse at the end
    image_effect = rng.normal(0, 0.3, (n, 1))  # images differ; the differences are paired
    values = 0.5 + image_effect + bump + rng.normal(0, 0.2, (n, len(bump)))
    out = find_sweet_spots(_per_image(values))
    assert out["sweet_spot"].tolist() == [False, True, True, True, False, False]
    peak = out.loc[out["gain"].idxmax()]
    assert peak["sparsity"] == pytest.approx(0.49)
    assert peak["ci_low"] < 0.3 < peak["ci_high"]
    assert out["dense"].iloc[0] == pytest.approx(values[:, 0].mean())
    assert (out["margin"] == 0.01).all() and (out["scope"] == SCOPE_IMAGES).all()
    hits = out[out["sweet_spot"]]
    assert (hits["ci_low_adj"] > hits["margin"]).all() and (hits["ci_low_adj"] < hits["gain"]).all()
    # The one-sided p is Student's t of (gain - margin) / se on the images' degrees of freedom.
    from scipy import stats

    step = out.iloc[2]
    assert step["df"] == n - 1
    assert step["p"] == pytest.approx(stats.t.sf((step["gain"] - 0.01) / step["se"], n - 1))


def test_lower_is_better_metrics_are_signed() -> None:
    rng = np.random.default_rng(1)
    values = 1.0 + rng.normal(0, 0.1, (80, 4))
    values[:, 2] -= 0.3  # lower deletion AUC at step 2: better
    out = find_sweet_spots(_per_image(values, metric="deletion_auc"))
    assert metric_direction("interpretability", "gradcam", "deletion_auc") == -1
    assert out["sweet_spot"].tolist() == [False, True, False]
    assert out.loc[1, "gain"] == pytest.approx(0.3, abs=0.05)
    assert out.loc[1, "value"] < out.loc[1, "dense"]


def test_several_seeds_pair_dense_and_sparse_within_each_seed() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 1, (30, 3)), rng.normal(0, 1, (30, 3))
    both = pd.concat([_per_image(a, seed=0), _per_image(b, seed=1)])
    out = find_sweet_spots(both)
    pairs = np.stack([a, b])
    assert out["gain"].to_numpy() == pytest.approx((pairs[..., 1:] - pairs[..., :1]).mean(axis=(0, 1)))
    assert set(out["n_seeds"]) == {2} and set(out["n_images"]) == {30} and set(out["n_pairs"]) == {60}
    assert set(out["scope"]) == {SCOPE_CROSSED}


def test_flat_noisy_curves_give_sweet_spots_at_most_at_the_nominal_rate() -> None:
    # 400 flat curves of 6 sparse steps, 40 images each, in one vectorized call, each its own
    # Holm family; the level calibration over seeds is bench/bench_sweetspot_level.py.
    rng = np.random.default_rng(3)
    reps, n, alpha = 400, 40, 0.05
    values = rng.normal(0, 0.3, (n, reps, 1)) + rng.normal(0, 1, (n, reps, 7))
    out = curve_test(values, alpha=alpha, holm_scope="curve")
    family_rate = out["sweet_spot"].any(axis=1).mean()
    # Family-wise rate at most alpha, plus 3 Monte Carlo standard errors of 400 repetitions.
    assert family_rate <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / reps)
    # The test is not vacuous: unadjusted one-sided p-values are roughly uniform.
    assert 0.02 < np.mean(out["p"] < alpha) < 0.10
    # And a real effect is found in most curves: a shift of 1 (the per-step noise SD) at one
    # step is 4.5 standard errors of the paired mean difference (SD sqrt(2) / sqrt(40)).
    shifted = values.copy()
    shifted[:, :, 3] += 1.0
    assert curve_test(shifted, alpha=alpha, holm_scope="curve")["sweet_spot"][:, 2].mean() > 0.9


def test_curves_without_direction_or_dense_step_are_left_out() -> None:
    rng = np.random.default_rng(5)
    df = pd.concat([_per_image(rng.normal(size=(20, 3)), metric="kappa_dense", table="alignment"),
                    _per_image(rng.normal(size=(20, 3)))[lambda d: d["step"] > 0]])
    assert find_sweet_spots(df).empty
    # A user may declare the direction of a metric the defaults do not know.
    out = find_sweet_spots(_per_image(rng.normal(size=(20, 3)), metric="mystery", table="custom"),
                           directions=[("custom", "*", "mystery", -1)])
    assert set(out["direction"]) == {-1}


def test_curve_test_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(n_images, n_curves, n_steps\)"):
        curve_test(np.zeros((10, 3)))
    with pytest.raises(ValueError, match="holm_scope"):
        curve_test(np.zeros((10, 2, 3)), holm_scope="everything")


def test_multirun_directories_expand_to_their_jobs(tmp_path) -> None:
    for job in ("0", "1", "10", "2"):
        (tmp_path / job / ".hydra").mkdir(parents=True)
        (tmp_path / job / ".hydra" / "overrides.yaml").write_text(
            f"- model=m{job}\n- +seed={job}\n- hydra.verbose=true\n- ~eval.suites.discovery\n")
    (tmp_path / "aggregate").mkdir()  # gathered tables of an earlier aggregation: not a job
    pd.DataFrame({"step": [0], "sparsity": [0.0]}).to_csv(tmp_path / "aggregate" / "metrics.csv", index=False)
    assert [p.name for p in expand_run_dirs([tmp_path])] == ["0", "1", "2", "10"]
    assert job_overrides(tmp_path / "2") == {"model": "m2", "seed": "2"}
    assert expand_run_dirs([tmp_path / "aggregate"]) == [tmp_path / "aggregate"]  # a run given directly
    with pytest.raises(FileNotFoundError, match="holds no run"):
        expand_run_dirs([tmp_path / "0" / ".hydra"])


def test_per_image_values_of_unfinished_steps_are_left_out(tmp_path) -> None:
    from robustlab.pruning.runs import load_per_image

    (tmp_path / "per_image").mkdir()
    pd.DataFrame({"step": [0, 1], "sparsity": [0.0, 0.2], "model": "m", "prune_method": "p", "seed": 3}).to_csv(
        tmp_path / "metrics.csv", index=False)
    for step in (0, 1, 2):  # step 2 crashed before its metrics.csv row
        pd.DataFrame({"index": [0, 1], "metric": "top1", "value": [1.0, 0.0]}).to_parquet(
            tmp_path / "per_image" / f"accuracy_step{step:03d}.parquet")
    table = load_per_image([tmp_path])
    assert sorted(table["step"].unique()) == [0, 1]
    assert table.groupby("step")["sparsity"].first().tolist() == [0.0, 0.2]
    assert set(table["seed"]) == {3} and set(table["table"]) == {"accuracy"} and set(table["method"]) == {""}


def test_seeds_and_images_are_crossed() -> None:
    # Three seeds whose sparse step moves differently (+1.0, -0.8, +1.1) with little image
    # noise: pooled over seeds the gain (0.43) looks certain; the seed term shows it is not.
    rng = np.random.default_rng(3)
    n = 60
    frames = []
    for seed, shift in enumerate((1.0, -0.8, 1.1)):
        values = 0.5 + np.column_stack([np.zeros(n), np.full(n, shift)]) + rng.normal(0, 0.05, (n, 2))
        frames.append(_per_image(values, seed=seed))
    table = pd.concat(frames, ignore_index=True)
    crossed = find_sweet_spots(table).iloc[0]
    one = find_sweet_spots(frames[0]).iloc[0]
    assert crossed["scope"] == SCOPE_CROSSED and one["scope"] == SCOPE_IMAGES
    pooled = table[table["step"] == 1]["value"].mean() - table[table["step"] == 0]["value"].mean()
    assert crossed["gain"] == pytest.approx(pooled) and crossed["n_seeds"] == 3
    assert not crossed["sweet_spot"] and crossed["ci_low"] < 0 < crossed["ci_high"]
    assert one["sweet_spot"]  # one seed: sure about that trained model, silent about retraining


def test_an_image_effect_every_seed_shares_is_not_divided_by_the_seeds() -> None:
    # Every seed scores the same images and 90 % of each image's gain is shared: the spread of
    # the mean gain is the images' (sd / sqrt(n)), not sd / sqrt(seeds x n) as if nested.
    rng = np.random.default_rng(7)
    n, seeds = 200, 4
    shared = rng.normal(0, 1, n)
    frames = [_per_image(np.column_stack([np.zeros(n), 0.95 * shared + 0.3 * rng.normal(0, 1, n)]), seed=s)
              for s in range(seeds)]
    row = find_sweet_spots(pd.concat(frames, ignore_index=True)).iloc[0]
    image_means = np.mean([f[f["step"] == 1]["value"].to_numpy() for f in frames], axis=0)
    assert row["se"] == pytest.approx(image_means.std(ddof=1) / np.sqrt(n), rel=0.15)
    assert row["se"] > 1.5 * 0.95 / np.sqrt(seeds * n)


def test_a_certain_gain_below_the_margin_is_no_sweet_spot() -> None:
    # 4000 images, a gain of 0.005 on a [0, 1] metric: certain (se ~ 0.001) but below the default
    # margin of 0.01; with the margin set to 0 it is a sweet spot.
    rng = np.random.default_rng(8)
    base = rng.random(4000)
    values = np.column_stack([base, base + 0.005 + rng.normal(0, 0.05, 4000)])
    out = find_sweet_spots(_per_image(values)).iloc[0]
    assert out["ci_low"] > 0 and out["margin"] == 0.01 and not out["sweet_spot"] and out["p"] > 0.5
    zero = find_sweet_spots(_per_image(values), margins=parse_margins({"*/*/*": 0})).iloc[0]
    assert zero["sweet_spot"] and zero["margin"] == 0.0 and zero["ci_low_adj"] > 0


def test_margins_are_patterns_first_match_wins_shares_of_the_dense_value() -> None:
    margins = parse_margins({"interpretability/gradcam/*": "2%", "accuracy/*/top1": 0.005})
    assert metric_margin("interpretability", "gradcam", "rma", dense=0.4, margins=margins) == pytest.approx(0.008)
    assert metric_margin("accuracy", "", "top1", dense=0.9, margins=margins) == 0.005
    assert metric_margin("accuracy", "", "top5", dense=0.9, margins=margins) == 0.01  # the default
    assert metric_margin("interpretability", "ig", "complexity", dense=-5.0) == pytest.approx(0.05)
    assert parse_margins(["discovery/lost/corloc=0.02"]) == [("discovery", "lost", "corloc", 0.02)]
    for bad, match in ((["rma=0.1"], "not a table/method/metric pattern"),
                       ({"a/b/c": -0.1}, r"a/b/c=-0.1; expected a number >= 0"),
                       ({"a/b/c": "x%"}, "expected a number >= 0 or a share")):
        with pytest.raises(ConfigError, match=match):
            parse_margins(bad)
    from robustlab.common.config import from_dict

    for key, value, match in (("holm_scope", "everything", r"sweetspot\.holm_scope: must be one of curve, report"),
                              ("alpha", 0.0, r"sweetspot\.alpha: must be in \(0, 1\); got 0\.0"),
                              ("min_pairs", 1, r"sweetspot\.min_pairs: must be in \[2, inf\); got 1"),
                              ("margin", {"a/b/c": -1}, r"sweetspot\.margin: a/b/c=-1")):
        with pytest.raises(ConfigError, match=match):
            from_dict(SweetSpotOptions, {key: value}, "sweetspot")


def test_holm_across_the_report_is_the_default_and_one_family() -> None:
    from robustlab.common.stats import holm

    rng = np.random.default_rng(5)
    n = 80
    frames = [_per_image(0.5 + np.array([0.0, 0.08, 0.1]) * k + rng.normal(0, 0.3, (n, 3)), metric=f"m{k}")
              for k in range(4)]
    table = pd.concat(frames, ignore_index=True)
    per_curve = find_sweet_spots(table, holm_scope="curve")
    report = find_sweet_spots(table)
    assert (report["holm_scope"] == "report").all()
    np.testing.assert_allclose(report["p"], per_curve["p"])
    np.testing.assert_allclose(report["p_holm"], holm(report["p"].to_numpy()))
    assert (report["p_holm"] >= per_curve["p_holm"] - 1e-12).all()
    assert report["sweet_spot"].sum() <= per_curve["sweet_spot"].sum()
    with pytest.raises(ValueError, match="holm_scope"):
        find_sweet_spots(table, holm_scope="everything")


def test_a_step_with_too_few_finite_pairs_is_untestable(tmp_path) -> None:
    values = np.array([[0.2, 0.9], [0.3, np.nan], [0.25, np.nan], [0.35, np.nan], [0.3, np.nan], [0.28, np.nan]])
    out = find_sweet_spots(_per_image(values)).iloc[0]
    assert out["n_pairs"] == 1 and out["n_images"] == 6 and out["n_images_defined"] == 1
    assert out["defined_share"] == pytest.approx(1 / 6)
    assert np.isnan(out["p"]) and np.isnan(out["p_holm"]) and not out["testable"] and not out["sweet_spot"]
    raw = curve_test(values[:, None, :])
    assert np.isnan(raw["p"][0, 0]) and raw["n_pairs"][0, 0] == 1 and not raw["sweet_spot"][0, 0]
    # The count of finite pairs is a column of sweet_spots.csv.
    write_table(find_sweet_spots(_per_image(values)), tmp_path / "sweet_spots.csv")
    table = read_table(tmp_path / "sweet_spots.csv")
    assert {"n_pairs", "n_images_defined", "defined_share", "testable"} <= set(table.columns)
    assert table["n_pairs"].tolist() == [1]
    summary = summarize_sweet_spots(find_sweet_spots(_per_image(values)))
    assert summary[["n_untestable", "defined_min", "defined_max", "n_images"]].iloc[0].tolist() == [1, 1, 1, 6]


def test_holm_over_a_report_never_ranks_an_untestable_step_first() -> None:
    from robustlab.common.stats import holm

    rng = np.random.default_rng(6)
    n = 40
    good = 0.5 + np.array([0.0, 0.3, 0.02]) + rng.normal(0, 0.2, (n, 3))  # step 1 clearly better
    sparse_missing = 0.5 + np.array([0.0, 0.6, 0.0]) + rng.normal(0, 0.2, (n, 3))
    sparse_missing[: n - 2, 1] = np.nan  # 2 finite pairs at step 1: untestable
    table = pd.concat([_per_image(good, metric="m0"), _per_image(sparse_missing, metric="m1")], ignore_index=True)
    report = find_sweet_spots(table)
    untestable = report[(report["metric"] == "m1") & (report["step"] == 1)].iloc[0]
    assert np.isnan(untestable["p"]) and np.isnan(untestable["p_holm"]) and not untestable["sweet_spot"]
    finite = report["p"].notna()
    assert finite.sum() == 3
    np.testing.assert_allclose(report.loc[finite, "p_holm"], holm(report.loc[finite, "p"].to_numpy()))
    best = report.loc[report["p"].idxmin()]
    assert best["metric"] == "m0" and best["step"] == 1 and best["sweet_spot"]
    # The first Holm rank divides alpha by the 3 testable hypotheses, not by 4.
    from scipy import stats

    assert best["ci_low_adj"] == pytest.approx(best["gain"] - stats.t.ppf(1 - 0.05 / 3, n - 1) * best["se"])


def test_the_sweetspot_section_of_the_config_binds_and_a_bad_margin_stops_before_training(monkeypatch) -> None:
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from robustlab.common.hydra_app import CONFIG_ENV, config_dir
    from robustlab.pruning.config import bind

    monkeypatch.setenv(CONFIG_ENV, str(config_dir()))
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="pruning", overrides=["experiment=smoke"])
        bad = compose(config_name="pruning", overrides=["experiment=smoke", "sweetspot.margin={accuracy/*/top1: -1}"])
    assert bind(OmegaConf.to_container(cfg, resolve=True)).sweetspot == SweetSpotOptions()
    with pytest.raises(ConfigError, match=r"sweetspot\.margin: accuracy/\*/top1=-1"):
        bind(OmegaConf.to_container(bad, resolve=True))
