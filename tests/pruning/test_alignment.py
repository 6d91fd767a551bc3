"""Human alignment: shape bias, error consistency, distortions, the human-data reader and the suite."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from robustlab.pruning.alignment import (
    DISTORTIONS,
    HUMAN_SHAPE_BIAS,
    distort,
    error_consistency,
    shape_bias,
    shape_decisions,
)
from robustlab.pruning.alignment.human_data import (
    human_dataset,
    model_human_consistency,
    read_human_trials,
    short_imagename,
)
from robustlab.pruning.alignment.suite import alignment_suite
from robustlab.pruning.data.shapes import ShapesOnTextures
from robustlab.pruning.suites import SUITES, EvalBatch, EvalContext

K, SIZE = 4, 32


# ---------------------------------------------------------------------------- shape bias

def test_shape_bias_of_pure_shape_and_pure_texture_observers() -> None:
    rng = np.random.default_rng(0)
    shape = rng.integers(0, K, 50)
    texture = (shape + rng.integers(1, K, 50)) % K
    assert shape_bias(shape, shape, texture) == 1.0
    assert shape_bias(texture, shape, texture) == 0.0
    # Answers that are neither class do not count; three shape and one texture decision: 0.75.
    pred = np.array([0, 1, 2, 1, 3])
    assert shape_bias(pred, [0, 1, 2, 0, 0], [1, 2, 3, 1, 1]) == 0.75
    assert np.isnan(shape_decisions(pred, [0, 1, 2, 0, 0], [1, 2, 3, 1, 1])[4])
    assert np.isnan(shape_bias([3, 3], [0, 1], [1, 2]))


def test_shape_bias_on_degenerate_input() -> None:
    # No trial, or no trial answered with the shape or the texture class: undefined.
    assert np.isnan(shape_bias([], [], []))
    assert np.isnan(shape_bias([3, 3, 3], [0, 1, 2], [1, 2, 0]))
    # Every answer one class: 0 is the shape of the first two stimuli and the texture of the third.
    assert shape_bias([0, 0, 0, 0], [0, 0, 1, 2], [1, 2, 0, 3]) == pytest.approx(2 / 3)
    # As many shape as texture decisions: exactly one half.
    assert shape_bias([0, 2], [0, 1], [1, 2]) == 0.5
    # A stimulus without a cue conflict (texture class = shape class) counts as neither, whatever
    # the answer; a set of such stimuli only has no shape bias.
    decisions = shape_decisions([0, 2, 2], [0, 1, 2], [1, 2, 2])
    assert decisions[:2].tolist() == [1.0, 0.0] and np.isnan(decisions[2])
    assert shape_bias([0, 2, 2], [0, 1, 2], [1, 2, 2]) == 0.5
    assert np.isnan(shape_bias([2, 2], [2, 2], [2, 2]))
    # Class names work as indices do.
    assert shape_bias(["cat", "dog", "dog"], ["cat", "car", "dog"], ["dog", "dog", "dog"]) == 0.5


def test_shape_bias_rejects_bad_input_naming_the_problem() -> None:
    with pytest.raises(ValueError, match="same length"):
        shape_bias([0, 1], [0, 1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="integer class indices or class names"):
        shape_bias([0.5, 1.0], [0, 1], [1, 2])
    with pytest.raises(ValueError, match="all be class indices or all class names"):
        shape_bias(["cat", "dog"], [0, 1], [1, 2])


def _tiny_cnn(num_classes: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(32, num_classes),
    )


@pytest.fixture(scope="module")
def texture_model() -> nn.Module:
    """A small CNN trained for a few seconds where the texture always follows the class."""
    torch.manual_seed(0)
    ds = ShapesOnTextures(num_classes=K, img_size=SIZE, size=512, seed=0, texture_correlation=1.0, split="train")
    x, _, _ = ds.render_indices(torch.arange(512))
    y = ds.labels
    model = _tiny_cnn(K)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(6):
        perm = torch.randperm(512, generator=g)
        for i in range(0, 512, 64):
            idx = perm[i:i + 64]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def test_texture_correlated_training_gives_a_shape_bias_measurably_below_one(texture_model: nn.Module) -> None:
    val = ShapesOnTextures(num_classes=K, img_size=SIZE, size=200, seed=0, texture_correlation=1.0, split="val")
    rng = np.random.default_rng(1)
    shape = rng.integers(0, K, 200)
    texture = (shape + rng.integers(1, K, 200)) % K
    images, _, _ = val.render(shape, texture, seed=3)
    with torch.no_grad():
        pred = texture_model(images).argmax(1).numpy()
        accuracy = (texture_model(val.render_indices(torch.arange(200))[0]).argmax(1) == val.labels).float().mean()
    assert accuracy > 0.45, "the model did not learn the task; the shape-bias check would mean nothing"
    decisions = shape_decisions(pred, shape, texture)
    d = decisions[np.isfinite(decisions)]
    assert d.size >= 100, "too few shape-or-texture decisions to measure a bias"
    bias = shape_bias(pred, shape, texture)
    upper = bias + 3 * np.sqrt(bias * (1 - bias) / d.size)  # 3 binomial standard errors
    assert upper < 0.6 < HUMAN_SHAPE_BIAS, f"shape bias {bias:.2f} (upper bound {upper:.2f}) is not measurably below 1"


# ---------------------------------------------------------------------------- error consistency

def test_error_consistency_is_one_for_identical_patterns_and_negative_for_opposite() -> None:
    rng = np.random.default_rng(0)
    a = rng.random(300) < 0.6
    assert error_consistency(a, a) == pytest.approx(1.0)
    half = rng.permutation(np.arange(300) < 150)  # accuracy 0.5: the opposite pattern has kappa -1
    assert error_consistency(half, ~half) == pytest.approx(-1.0)
    assert error_consistency(a, ~a) < -0.9
    assert np.isnan(error_consistency(np.ones(5, bool), np.ones(5, bool)))


def test_error_consistency_of_independent_observers_is_zero_within_sampling_error() -> None:
    rng = np.random.default_rng(1)
    n, reps, p = 400, 2000, 0.7
    a, b = rng.random((reps, n)) < p, rng.random((reps, n)) < p
    kappa = error_consistency(a, b)
    assert kappa.shape == (reps,)
    c_exp = p * p + (1 - p) * (1 - p)
    # Sampling SD of kappa under independence (Fleiss, Cohen and Everitt 1969), categories
    # "correct" (marginals p, p) and "wrong" (1 - p, 1 - p).
    spread = p * p * (2 * p) + (1 - p) * (1 - p) * (2 - 2 * p)
    sd = np.sqrt((c_exp + c_exp**2 - spread) / n) / (1 - c_exp)
    # The mean of 2000 repetitions is within 4 standard errors of 0, and about 95 % of the
    # repetitions lie within 1.96 SD (binomial tolerance of 4 SE on 2000 draws: +-2 %).
    assert abs(kappa.mean()) < 4 * sd / np.sqrt(reps)
    assert np.mean(np.abs(kappa) < 1.96 * sd) == pytest.approx(0.95, abs=0.02)


def test_error_consistency_on_degenerate_input() -> None:
    right, wrong = np.ones(6, bool), np.zeros(6, bool)
    mixed = np.array([1, 0, 1, 1, 0, 1], bool)
    # Both always right, or both always wrong: c_exp = c_obs = 1, kappa 0/0, undefined (NaN);
    # model-vs-human's value there is 1.
    for a in (right, wrong):
        assert np.isnan(error_consistency(a, a))
        assert error_consistency(a, a, undefined=1.0) == 1.0
    # An observer who never errs (or always errs) against any other: c_obs = c_exp, kappa 0 (up
    # to rounding).
    assert error_consistency(right, mixed) == pytest.approx(0.0, abs=1e-12)
    assert error_consistency(mixed, wrong) == pytest.approx(0.0, abs=1e-12)
    assert error_consistency(right, wrong) == 0.0
    # One trial: agreement is undefined, disagreement is 0.
    assert np.isnan(error_consistency([1], [1])) and error_consistency([1], [0]) == 0.0
    # Vectorized: only the degenerate comparison is NaN; ``undefined`` changes nothing else.
    rows = error_consistency(np.stack([right, mixed]), np.stack([right, mixed]))
    assert np.isnan(rows[0]) and rows[1] == 1.0
    assert error_consistency(mixed, ~mixed, undefined=1.0) == error_consistency(mixed, ~mixed)
    with pytest.raises(ValueError, match="at least one trial"):
        error_consistency([], [])


def test_error_consistency_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="same shape"):
        error_consistency([1, 0, 1], [1, 0])
    with pytest.raises(ValueError, match="bool or 0/1"):
        error_consistency([1, 2], [1, 0])


# ---------------------------------------------------------------------------- distortions

@pytest.fixture(scope="module")
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    ds = ShapesOnTextures(num_classes=K, img_size=SIZE, size=6, seed=0, split="val")
    images, masks, _ = ds.render_indices(torch.arange(6))
    return images, masks


LEVELS = {"rotation": 30.0, "contrast": 0.7, "greyscale": 1.0, "false_colour": 1.0, "edges": 1.0, "silhouette": 1.0,
          "power_equalisation": 1.0, "uniform_noise": 0.3, "phase_noise": 2.0, "low_pass": 2.0, "high_pass": 3.0,
          "eidolon": 3.0}


def test_all_model_vs_human_distortions_are_registered() -> None:
    assert set(LEVELS) <= set(DISTORTIONS.list())


@pytest.mark.parametrize("name", sorted(LEVELS))
def test_distortion_is_identity_at_level_zero_and_deterministic_per_seed(
        name: str, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, masks = batch
    assert torch.equal(distort(name, images, 0.0, seed=1, masks=masks), images)
    first = distort(name, images, LEVELS[name], seed=1, masks=masks)
    again = distort(name, images, LEVELS[name], seed=1, masks=masks)
    assert torch.equal(first, again)
    assert first.shape == images.shape and float(first.min()) >= 0.0 and float(first.max()) <= 1.0
    assert float((first - images).abs().mean()) > 0.01, f"{name} at level {LEVELS[name]} barely changes the images"
    if name in ("uniform_noise", "phase_noise", "eidolon"):
        assert not torch.equal(first, distort(name, images, LEVELS[name], seed=2, masks=masks))


def test_distortions_do_what_their_names_say(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, masks = batch
    grey = distort("greyscale", images, 1.0)
    assert torch.allclose(grey[:, 0], grey[:, 1], atol=1e-6) and torch.allclose(grey[:, 1], grey[:, 2], atol=1e-6)
    assert torch.allclose(distort("contrast", images, 1.0), torch.full_like(images, 0.5))
    assert torch.equal(distort("rotation", images, 360.0), images)
    assert torch.equal(distort("rotation", images, 90.0), torch.rot90(images, 1, dims=(-2, -1)))
    luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    false = distort("false_colour", images, 1.0)
    inside = (false > 0.0) & (false < 1.0)  # where no clipping happened, luminance is kept
    assert torch.allclose(((false - images) * luma).sum(1)[inside.all(1)], torch.zeros(()), atol=1e-5)
    blurred = distort("low_pass", images, 2.0)
    assert torch.allclose(blurred.mean((-2, -1)), images.mean((-2, -1)), atol=1e-4)
    assert blurred.diff(dim=-1).abs().mean() < images.diff(dim=-1).abs().mean()
    silhouette = distort("silhouette", images, 1.0, masks=masks)
    assert torch.all(silhouette[:, :, masks[0].nonzero()[:, 0], masks[0].nonzero()[:, 1]][0] == 0)


def test_distortion_errors_name_the_problem(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, _ = batch
    with pytest.raises(KeyError, match="did you mean uniform_noise"):
        distort("uniform_nois", images, 0.1)
    with pytest.raises(ValueError, match="needs the object masks"):
        distort("edges", images, 1.0)
    with pytest.raises(ValueError, match="level must be a finite number >= 0"):
        distort("contrast", images, -1.0)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        distort("contrast", images[:, :1], 0.5)
    assert DISTORTIONS.list(needs_masks=True) == ["edges", "silhouette"]
    assert DISTORTIONS.get("edges").needs_masks and not DISTORTIONS.get("contrast").needs_masks


# ---------------------------------------------------------------------------- human data

def _write_human_fixture(root, ds: ShapesOnTextures) -> list[str]:
    """model-vs-human's layout: raw-data/<set>/<set>_subject-XX_session_1.csv and datasets/<set>/dnn/session-1/."""
    from PIL import Image

    stimuli = root / "datasets" / "shapes-test" / "dnn" / "session-1"
    stimuli.mkdir(parents=True)
    raw = root / "raw-data" / "shapes-test"
    raw.mkdir(parents=True)
    images, _, _ = ds.render_indices(torch.arange(12))
    names = []
    for i in range(12):
        cat = ds.classes[int(ds.labels[i])]
        name = f"{i:04d}_sh_s01_cl_{cat}_{i:02d}_img{i:02d}.png"
        Image.fromarray((images[i].permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(stimuli / name)
        names.append((name, cat))
    rng = np.random.default_rng(0)
    for subj in (1, 2):
        rows = []
        for t, (name, cat) in enumerate(names):
            answer = cat if rng.random() < 0.75 else ds.classes[(ds.classes.index(cat) + 1) % K]
            rows.append({"Subj": f"subject-{subj:02d}", "Session": 1, "trial": t + 1, "rt": 900,
                         "object_response": answer, "category": cat, "condition": "0", "imagename": name})
        pd.DataFrame(rows).to_csv(raw / f"shapes-test_subject-{subj:02d}_session_1.csv", index=False)
    return [n for n, _ in names]


def test_human_reader_on_a_fixture_in_model_vs_human_layout(tmp_path) -> None:
    ds = ShapesOnTextures(num_classes=K, img_size=SIZE, size=12, seed=0, split="val")
    names = _write_human_fixture(tmp_path, ds)
    assert short_imagename("0000_cl_s01_bw_boat_40_n02951358_5952.JPEG") == "n02951358_5952.JPEG"
    trials, stimuli = human_dataset(tmp_path, "shapes-test")
    assert len(trials) == 24 and set(trials["subj"]) == {"subject-01", "subject-02"}
    assert set(stimuli) == {short_imagename(n) for n in names}
    assert trials["correct"].mean() == pytest.approx((trials["object_response"] == trials["category"]).mean())
    # A model answering exactly as subject 1 has kappa 1 with subject 1.
    s1 = trials[trials["subj"] == "subject-01"].set_index("image_id")["object_response"]
    table = model_human_consistency(trials, s1)
    assert table.set_index("subj").loc["subject-01", "kappa"] == pytest.approx(1.0)
    assert table["n"].tolist() == [12, 12]


def test_human_reader_names_a_missing_column(tmp_path) -> None:
    raw = tmp_path / "raw-data" / "x"
    raw.mkdir(parents=True)
    pd.DataFrame({"subj": ["a"], "category": ["cat"]}).to_csv(raw / "x_subject-01_session_1.csv", index=False)
    with pytest.raises(ValueError, match=r"x_subject-01_session_1.csv: missing column\(s\) object_response"):
        read_human_trials(raw)


# ---------------------------------------------------------------------------- the suite

def _context(model: nn.Module, run_dir, step: int) -> EvalContext:
    val = ShapesOnTextures(num_classes=K, img_size=SIZE, size=48, seed=0, texture_correlation=1.0, split="val")
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)

    def batches(max_images=None):
        n = len(val) if max_images is None else min(max_images, len(val))
        for i in range(0, n, 32):
            idx = torch.arange(i, min(i + 32, n))
            images, masks, boxes = val.render_indices(idx)
            yield EvalBatch(images=(images - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1),
                            labels=val.labels[idx], masks=masks, boxes=[b.reshape(1, 4).numpy() for b in boxes],
                            index=idx)

    class Normalised(nn.Module):  # the suite feeds normalised images; the test model wants [0, 1]
        def __init__(self, inner: nn.Module):
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner(x * torch.tensor(std).view(1, 3, 1, 1) + torch.tensor(mean).view(1, 3, 1, 1))

    return EvalContext(model=Normalised(model).eval(), arch="cnn", batches=batches, device=torch.device("cpu"),
                       step=step, sparsity=0.2 * step, run_dir=run_dir, seed=0, num_classes=K, img_size=SIZE,
                       extras={"shapes": val, "normalize": (mean, std), "classes": list(val.classes),
                               "has_masks": True})


OPTIONS = {"n_images": 40, "cue_conflict_images": 40, "distortions": {"uniform_noise": [0.2], "rotation": [90, 180],
                                                                      "silhouette": [1.0], "contrast": [0, 0.8]}}


def test_suite_rows_per_image_values_and_dense_consistency(texture_model: nn.Module, tmp_path) -> None:
    fn, table = SUITES.get("alignment").fn, SUITES.get("alignment").table
    assert fn is alignment_suite and table == "alignment"
    dense = fn(_context(texture_model, tmp_path, 0), **OPTIONS)
    rows = pd.DataFrame(dense.rows)
    assert {"method", "metric", "level", "mean", "std", "n"} <= set(rows.columns)
    acc = rows[rows["metric"] == "top1"].set_index(["method", "level"])["mean"]
    assert set(acc.index) == {("clean", 0.0), ("uniform_noise", 0.2), ("rotation", 90.0), ("rotation", 180.0),
                              ("silhouette", 1.0), ("contrast", 0.0), ("contrast", 0.8)}
    assert acc[("contrast", 0.0)] == acc[("clean", 0.0)]
    sb = rows[(rows["method"] == "shape_bias") & (rows["metric"] == "shape_bias")]["mean"].item()
    assert sb < 0.6  # the texture-trained model, as above
    kappa = rows[rows["metric"] == "kappa_dense"]["mean"].item()
    assert kappa == pytest.approx(1.0)
    per = dense.per_image
    assert list(per.columns) == ["index", "method", "metric", "level", "value"]
    assert per.groupby(["method", "metric", "level"]).size().min() == 40
    assert (tmp_path / "alignment" / "dense_correct.parquet").exists()

    # A later step with the same weights agrees with the dense model perfectly, read from disk.
    same = pd.DataFrame(fn(_context(texture_model, tmp_path, 1), **OPTIONS).rows)
    assert same.loc[same["metric"] == "kappa_dense", "mean"].item() == pytest.approx(1.0)
    pd.testing.assert_frame_equal(same.drop(columns="std"), rows.drop(columns="std"))
    # A different model does not.
    torch.manual_seed(1)
    other = pd.DataFrame(fn(_context(_tiny_cnn(K).eval(), tmp_path, 2), **OPTIONS).rows)
    assert other.loc[other["metric"] == "kappa_dense", "mean"].item() < 0.5


def test_suite_checks_options_before_work(texture_model: nn.Module, tmp_path) -> None:
    ctx = _context(texture_model, tmp_path, 0)
    with pytest.raises(KeyError, match="unknown distortion 'blurr'"):
        alignment_suite(ctx, distortions={"blurr": [1.0]})
    with pytest.raises(ValueError,
                       match=r"eval\.suites\.alignment\.distortions\.contrast\[0\]: must be in \[0, inf\); got -0\.5"):
        alignment_suite(ctx, distortions={"contrast": [-0.5]})
    with pytest.raises(FileNotFoundError, match="has no raw-data/ folder"):
        alignment_suite(ctx, human_data=str(tmp_path / "nowhere"))
    assert not (tmp_path / "alignment").exists()


def test_suite_error_consistency_with_human_observers(texture_model: nn.Module, tmp_path) -> None:
    ds = ShapesOnTextures(num_classes=K, img_size=SIZE, size=12, seed=0, split="val")
    _write_human_fixture(tmp_path / "mvh", ds)
    result = alignment_suite(_context(texture_model, tmp_path / "run", 0), n_images=8, cue_conflict_images=0,
                             distortions={}, human_data=str(tmp_path / "mvh"))
    rows = pd.DataFrame(result.rows).set_index(["method", "metric"])
    assert rows.loc[("error_consistency", "kappa_human:shapes-test"), "n"] == 2
    assert -1.0 <= rows.loc[("error_consistency", "kappa_human:shapes-test"), "mean"] <= 1.0
    assert rows.loc[("human:shapes-test", "top1"), "n"] == 12
    with pytest.raises(ValueError, match="no category of 'shapes-test'"):
        alignment_suite(_context(texture_model, tmp_path / "run2", 0), distortions={}, human_data=str(tmp_path / "mvh"),
                        class_names=["a", "b", "c", "d"])
