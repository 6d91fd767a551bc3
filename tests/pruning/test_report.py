"""The sweep report: every figure it references is embedded in report.html; tables and figures exist."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from robustlab.pruning.report import write_report
from robustlab.pruning.sweetspot import SCOPE_CROSSED, SCOPE_IMAGES


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, write_fake_run) -> Path:
    root = tmp_path_factory.mktemp("sweep")
    rng = np.random.default_rng(0)
    runs = [write_fake_run(root / str(i), model, seed, rng, bump=0.4)
            for i, (model, seed) in enumerate([("resnet_tiny", 0), ("resnet_tiny", 1), ("vit_tiny", 0)])]
    return write_report(runs, root / "report")


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
    section = md.split("## Sweet spots")[1].split("## Figures")[0]
    assert "ci_low_adj" in section and "margin" in section  # every sweet spot with its bound and margin
    # vit_tiny has one seed: the report says its inference is over images only.
    assert "cannot speak for retraining" in section
    assert set(sweet.loc[sweet["model"] == "vit_tiny", "scope"]) == {SCOPE_IMAGES}
    assert set(loc["scope"]) == {SCOPE_CROSSED}


def test_a_curve_undefined_on_most_images_is_named(tmp_path: Path, write_fake_run) -> None:
    run = write_fake_run(tmp_path / "0", "vit_tiny", 0, np.random.default_rng(1), n_images=64)
    for path in (run / "per_image").glob("interpretability_step*.parquet"):
        df = pd.read_parquet(path)
        df.loc[df["index"] % 4 != 0, "value"] = np.nan  # defined on 16 of 64 images
        df.to_parquet(path)
    out = write_report([run], tmp_path / "report")
    section = (out.parent / "report.md").read_text().split("## Sweet spots")[1].split("## Figures")[0]
    assert "Values undefined on most images" in section
    assert "interpretability/gradcam/pointing_game (defined on 16-16 of 64 images)" in section


def test_declared_directions_reach_the_test_and_the_figures(report: Path, tmp_path: Path) -> None:
    runs = sorted(p for p in report.parent.parent.iterdir() if (p / "metrics.csv").exists())
    out = write_report(runs, tmp_path / "report",
                       directions=[("interpretability", "gradcam", "pointing_game", 0)])
    sweet = pd.read_csv(out.parent / "sweet_spots.csv")
    assert "pointing_game" not in set(sweet["metric"])  # declared untested: left out
    assert "pointing_game" in set(pd.read_csv(report.parent / "sweet_spots.csv")["metric"])
    section = (out.parent / "report.md").read_text().split("## Sweet spots")[1].split("## Figures")[0]
    assert "pointing_game" not in section


def test_a_gallery_panel_says_when_its_map_is_undefined():
    from robustlab.pruning.report.figures import undefined_map

    assert undefined_map(np.zeros((4, 4))) == "undefined\n(zero map)"
    assert undefined_map(np.full((4, 4), np.nan)) == "undefined\n(no finite value)"
    assert undefined_map(np.eye(4)) is None
    assert undefined_map(np.where(np.eye(4) > 0, np.nan, 0.5)) is None   # some values: drawn
