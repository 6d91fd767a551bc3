"""The sweep report: every figure it references is embedded in report.html; tables and figures exist."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from robustlab.pruning.report import write_report

SPARSITIES = [0.0, 0.2, 0.4, 0.6, 0.8]


def write_fake_run(run: Path, model: str, seed: int, rng: np.random.Generator, bump: float = 0.0,
                   n_images: int = 40, overrides: list[str] | None = None) -> Path:
    """A run directory in the sweep's layout, with synthetic tables, per-image values and galleries.

    ``bump`` is added to the localisation metric's per-image values at sparsity 0.4 and 0.6, so a
    sweet spot is planted there.
    """
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text(
        "\n".join(f"- {o}" for o in (overrides or [f"model={model}", f"seed={seed}"])) + "\n")
    (run / "per_image").mkdir()
    (run / "interpretability").mkdir()
    metrics, align_rows, interp_rows = [], [], []
    for step, s in enumerate(SPARSITIES):
        correct = (rng.random(n_images) < 0.9 - 0.3 * s**2).astype(float)
        metrics.append({"step": step, "sparsity": s, "top1": correct.mean(), "top5": 1.0, "params_nonzero": int(1e5 * (1 - s)),
                        "macs": 1e6, "train_seconds": 1.0, "images_per_second": 100.0, "model": model,
                        "prune_method": "magnitude", "seed": seed})
        pd.DataFrame({"index": np.arange(n_images), "metric": "top1", "value": correct}).to_parquet(
            run / "per_image" / f"accuracy_step{step:03d}.parquet")
        shape = np.where(rng.random(n_images) < 0.3 + 0.2 * s, 1.0, 0.0)
        noisy = (rng.random((2, n_images)) < 0.7 - 0.5 * s).astype(float)
        align = pd.concat([
            pd.DataFrame({"index": np.arange(n_images), "method": "shape_bias", "metric": "shape_bias", "level": 0.0, "value": shape}),
            pd.DataFrame({"index": np.arange(n_images), "method": "clean", "metric": "top1", "level": 0.0, "value": correct}),
            pd.DataFrame({"index": np.arange(n_images), "method": "uniform_noise", "metric": "top1", "level": 0.1, "value": noisy[0]}),
            pd.DataFrame({"index": np.arange(n_images), "method": "uniform_noise", "metric": "top1", "level": 0.3, "value": noisy[1]}),
        ])
        align.to_parquet(run / "per_image" / f"alignment_step{step:03d}.parquet")
        for (method, metric, level), g in align.groupby(["method", "metric", "level"]):
            align_rows.append({"method": method, "metric": metric, "level": level, "mean": g["value"].mean(),
                               "std": g["value"].std(), "n": len(g), "step": step, "sparsity": s})
        align_rows.append({"method": "error_consistency", "metric": "kappa_dense", "level": 0.0, "mean": 1 - s,
                           "std": 0.05, "n": 3 * n_images, "step": step, "sparsity": s})
        loc = rng.normal(0.5, 0.1, n_images) + (bump if s in (0.4, 0.6) else 0.0)
        pd.DataFrame({"index": np.arange(n_images), "method": "gradcam", "metric": "pointing_game", "value": loc}).to_parquet(
            run / "per_image" / f"interpretability_step{step:03d}.parquet")
        interp_rows.append({"method": "gradcam", "metric": "pointing_game", "mean": loc.mean(), "std": loc.std(),
                            "n": n_images, "step": step, "sparsity": s})
        images = (rng.random((2, 16, 16, 3)) * 255).astype(np.uint8)
        np.savez(run / "interpretability" / f"gallery_step{step:03d}.npz", images=images, index=np.arange(2),
                 map_gradcam=rng.random((2, 16, 16)).astype(np.float32))
    extra = {"model": model, "prune_method": "magnitude", "seed": seed}
    pd.DataFrame(metrics).to_csv(run / "metrics.csv", index=False)
    pd.DataFrame(align_rows).assign(**extra).to_csv(run / "alignment.csv", index=False)
    pd.DataFrame(interp_rows).assign(**extra).to_csv(run / "interpretability.csv", index=False)
    pd.DataFrame([{"method": "lost", "metric": "corloc", "mean": 0.5, "std": 0.1, "n": n_images, "step": st,
                   "sparsity": s, **extra} for st, s in enumerate(SPARSITIES)]).to_csv(run / "discovery.csv", index=False)
    return run


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sweep")
    rng = np.random.default_rng(0)
    runs = [write_fake_run(root / str(i), model, seed, rng, bump=0.4)
            for i, (model, seed) in enumerate([("resnet_tiny", 0), ("resnet_tiny", 1), ("vit_tiny", 0)])]
    return write_report(runs, root / "report", n_resamples=300)


def test_report_html_embeds_every_figure_it_references(report: Path) -> None:
    out = report.parent
    page = report.read_text()
    md = (out / "report.md").read_text()
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", md)
    assert linked, "report.md links no figure"
    assert len(re.findall(r"<img ", page)) == len(linked)
    embedded = dict(re.findall(r"<img alt='([^']+)' src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page))
    for name in linked:
        assert (out / name).is_file(), f"{name} is linked but was not written"
        assert name in embedded, f"{name} is linked in report.md but not embedded in report.html"
        assert base64.b64decode(embedded[name]) == (out / name).read_bytes()
    assert not re.search(r"src=['\"](?!data:)", page), "report.html refers to an external file"


def test_report_draws_every_figure_kind(report: Path) -> None:
    names = {p.name for p in report.parent.glob("*.png")}
    expected = {"heatmap.png", "shape_bias.png", "metrics_resnet_tiny.png", "metrics_vit_tiny.png",
                "distortions_resnet_tiny.png", "gallery_resnet_tiny.png", "gallery_vit_tiny.png"}
    assert expected <= names


def test_report_finds_the_planted_sweet_spot(report: Path) -> None:
    sweet = pd.read_csv(report.parent / "sweet_spots.csv")
    loc = sweet[(sweet["metric"] == "pointing_game") & (sweet["model"] == "resnet_tiny")]
    assert set(loc.loc[loc["sweet_spot"], "sparsity"]) == {0.4, 0.6}
    assert set(loc["n_seeds"]) == {2}
    summary = pd.read_csv(report.parent / "sweet_spots_summary.csv")
    row = summary[(summary["metric"] == "pointing_game") & (summary["model"] == "resnet_tiny")].iloc[0]
    assert (row["sweet_min"], row["sweet_max"]) == (0.4, 0.6)
    assert row["params_dense"] == 1e5
    by_model = pd.read_csv(report.parent / "sweet_spots_by_model.csv").set_index("model")
    assert by_model.loc["resnet_tiny", "curves_with_sweet_spot"] >= 1
    assert "interpretability/gradcam/pointing_game" in by_model.loc["resnet_tiny", "metrics"]
    md = (report.parent / "report.md").read_text()
    assert "pointing_game" in md and "Sweet spots" in md


def test_declared_directions_reach_the_test_and_the_figures(report: Path, tmp_path: Path) -> None:
    runs = sorted(p for p in report.parent.parent.iterdir() if (p / "metrics.csv").exists())
    out = write_report(runs, tmp_path / "report", n_resamples=100,
                       directions=[("interpretability", "gradcam", "pointing_game", 0)])
    sweet = pd.read_csv(out.parent / "sweet_spots.csv")
    assert "pointing_game" not in set(sweet["metric"])  # declared untested: left out
    assert "pointing_game" in set(pd.read_csv(report.parent / "sweet_spots.csv")["metric"])
    section = (out.parent / "report.md").read_text().split("## Sweet spots")[1].split("## Figures")[0]
    assert "pointing_game" not in section
