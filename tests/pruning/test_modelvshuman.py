"""The model-vs-human benchmark: decision mapping, raw-data rules, every metric against hand values."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

from robustlab.pruning.alignment.modelvshuman import (
    CATEGORIES,
    IMAGENET_INDICES,
    benchmark,
    benchmark_conditions,
    decide,
    evaluate_model,
    list_stimuli,
    modelvshuman_suite,
    read_trials,
    shape_bias,
    shape_bias_per_category,
)
from robustlab.pruning.alignment.modelvshuman.decisions import load_stimulus
from robustlab.pruning.alignment.modelvshuman.metrics import error_consistency
from robustlab.pruning.suites import EvalContext

RAW_COLUMNS = ["subj", "session", "trial", "rt", "object_response", "category", "condition", "imagename"]


def _write(folder, dataset: str, subj: str, rows: list[tuple[str, str, str, str]], shuffle: int | None = None,
           session_header: str = "session") -> None:
    """One raw-data CSV; rows are (object_response, category, condition, imagename)."""
    frame = pd.DataFrame([{"subj": subj, "session": 1, "trial": t + 1, "rt": 0.8, "object_response": r,
                           "category": c, "condition": cond, "imagename": name}
                          for t, (r, c, cond, name) in enumerate(rows)], columns=RAW_COLUMNS)
    if shuffle is not None:  # model trials in another order than the humans': pairing must go by image
        frame = frame.sample(frac=1.0, random_state=shuffle)
    frame = frame.rename(columns={"session": session_header})
    (folder / dataset).mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / dataset / f"{dataset}_{subj}_session_1.csv", index=False)


def _answer(correct: bool, category: str) -> str:
    return category if correct else CATEGORIES[(CATEGORIES.index(category) + 3) % 16]


# ------------------------------------------------------------------ the 16-class decision mapping

def test_sixteen_class_decision_averages_softmax_over_each_categorys_imagenet_classes() -> None:
    assert len(CATEGORIES) == 16 and list(CATEGORIES) == sorted(CATEGORIES)
    assert len(IMAGENET_INDICES["dog"]) == 109 and IMAGENET_INDICES["knife"] == [499]
    rows = np.full((3, 1000), 0.0)
    # Row 0: a dog class has the top probability (0.3) but dog's mean over 109 classes is ~0.003;
    # airplane's one class (404) has 0.2: the decision is airplane, not the 1000-class argmax.
    rows[0, :] = 0.5 / 998
    rows[0, 152], rows[0, 404] = 0.3, 0.2
    # Row 1: each of cat's six classes 0.1 (mean 0.1) beats airplane at 0.05.
    rows[1, :] = 0.35 / 993
    rows[1, 281:287], rows[1, 404] = 0.1, 0.05
    # Row 2: airplane (404) and knife (499) tie at 0.25: the later category (knife) wins, as
    # model-vs-human's flipped argsort gives it.
    rows[2, :] = 0.5 / 998
    rows[2, 404], rows[2, 499] = 0.25, 0.25
    assert decide(rows).tolist() == ["airplane", "cat", "knife"]
    sixteen = np.zeros((1, 16))
    sixteen[0, CATEGORIES.index("oven")] = 1.0
    assert decide(sixteen).tolist() == ["oven"]  # a 16-category model is used as it is
    with pytest.raises(ValueError, match=r"\(n, 1000\).*got shape \(2, 999\)"):
        decide(np.full((2, 999), 0.001))
    with pytest.raises(ValueError, match="softmax"):
        decide(np.full((1, 1000), -1.0))


# ------------------------------------------------------------------ a tiny raw-data tree, by hand

# sketch: 4 images; correctness of the model and of three observers (hand-chosen).
SKETCH = {"net-a": [1, 1, 0, 1], "subject-01": [1, 1, 0, 0], "subject-02": [1, 0, 1, 0], "subject-03": [1, 1, 0, 1]}
# cue-conflict: (shape, texture) per image; the third has no conflict (cat on cat).
CUE = [("airplane", "bear"), ("bear", "cat"), ("cat", "cat"), ("dog", "knife"), ("knife", "dog")]
CUE_ANSWERS = {"net-a": ["bear", "bear", "cat", "oven", "dog"],          # texture, shape, shape, neither, texture
               "subject-01": ["airplane", "bear", "cat", "dog", "knife"],  # all shape
               "subject-02": ["airplane", "cat", "cat", "na", "knife"]}    # shape, texture, shape, no answer, shape
# Parametric datasets: conditions as the human files write them (pandas parses them as floats).
UNIFORM_WRITTEN = ["0.00", "0.03", "0.05", "0.10", "0.20", "0.35", "0.60", "0.90"]
UNIFORM_SCORED = ["0.03", "0.05", "0.1", "0.2", "0.35"]          # without 0.0, 0.6, 0.9 (excluded)
HIGHPASS_WRITTEN = ["inf", "3", "1.5", "1", "0.7", "0.55", "0.45", "0.4"]
HIGHPASS_SCORED = ["3.0", "1.5", "1.0", "0.7"]                   # without inf, 0.55, 0.45, 0.4
PARAM_OBSERVERS = ["subject-01", "subject-02", "subject-03", "net-a", "net_b"]


def _parametric_patterns(seed: int, written: list[str]) -> dict[str, dict[str, list[int]]]:
    """observer -> condition (as written) -> correctness per image; 3 images in the 2nd condition, else 2."""
    rng = np.random.default_rng(seed)
    out = {s: {c: rng.integers(0, 2, 3 if i == 1 else 2).tolist() for i, c in enumerate(written)}
           for s in PARAM_OBSERVERS}
    # The 3rd condition: net-a and subject-01 both always right (c_exp = 1): kappa must be 1.
    out["net-a"][written[2]] = out["subject-01"][written[2]] = [1, 1]
    return out


def _write_parametric(raw, dataset: str, written: list[str], excluded_written: set[str], seed: int) -> dict:
    patterns = _parametric_patterns(seed, written)
    for subj, by_cond in patterns.items():
        rows = []
        for ci, cond in enumerate(written):
            for k, ok in enumerate(by_cond[cond]):
                cat = CATEGORIES[(ci + k) % 16]
                image = f"n{ci:02d}{k:02d}_{k}.png"
                if not subj.startswith("subject-") and cond in excluded_written:
                    image, ok = f"other{ci}{k}.png", 0  # unpaired and wrong: must be ignored
                rows.append((_answer(bool(ok), cat), cat, cond, f"{len(rows) + 1:04d}_xx_s01_{cond}_{cat}_00_{image}"))
        _write(raw, dataset, subj, rows, shuffle=0 if not subj.startswith("subject-") else None,
               session_header="Session" if subj == "subject-02" else "session")
    return patterns


@pytest.fixture
def tree(tmp_path):
    raw = tmp_path / "raw-data"
    for subj, pattern in SKETCH.items():
        cats = ["bird", "boat", "car", "clock"]
        rows = [(_answer(bool(ok), c) if not (subj == "subject-02" and i == 3) else "na", c, "0",
                 f"{i + 1:04d}_sk_s01_0_{c}_00_n0{i}_{i}.png")
                for i, (ok, c) in enumerate(zip(pattern, cats, strict=True))]
        _write(raw, "sketch", subj, rows, shuffle=1 if subj == "net-a" else None)
    for subj, answers in CUE_ANSWERS.items():
        rows = [(a, s, "0", f"{i + 1:04d}_s5n_s01_0_{s}_00_{s}{i}-{t}{i + 1}.png")
                for i, (a, (s, t)) in enumerate(zip(answers, CUE, strict=True))]
        _write(raw, "cue-conflict", subj, rows, shuffle=2 if subj == "net-a" else None)
    uniform = _write_parametric(raw, "uniform-noise", UNIFORM_WRITTEN, {"0.00", "0.60", "0.90"}, seed=3)
    highpass = _write_parametric(raw, "high-pass", HIGHPASS_WRITTEN, {"inf", "0.55", "0.45", "0.4"}, seed=4)
    return raw, {"uniform-noise": uniform, "high-pass": highpass}


def test_reader_lowercases_columns_and_turns_parsed_conditions_into_text(tree) -> None:
    raw, _ = tree
    trials = read_trials([raw], "uniform-noise")
    assert "session" in trials.columns and "Session" not in trials.columns
    assert sorted(set(trials["condition"])) == ["0.0", "0.03", "0.05", "0.1", "0.2", "0.35", "0.6", "0.9"]
    assert {"3.0", "1.0", "inf"} <= set(read_trials([raw], "high-pass")["condition"])
    assert benchmark_conditions("high-pass") == tuple(HIGHPASS_SCORED)
    assert benchmark_conditions("uniform-noise") == tuple(UNIFORM_SCORED)
    assert benchmark_conditions("sketch") is None
    sketch = read_trials([raw], "sketch")
    na = sketch[sketch["object_response"] == "na"]
    assert len(na) == 1 and not na["correct"].any()  # no answer is an error


def test_sketch_and_cue_conflict_metrics_against_hand_values(tree) -> None:
    raw, _ = tree
    table = benchmark(raw, models=["net-a"], datasets=["sketch", "cue-conflict"])
    got = table.set_index(["dataset", "metric"])["value"]
    # sketch, model [1,1,0,1] (p = .75) against
    #   s1 [1,1,0,0] p=.5: c_obs=.75, c_exp=.75*.5+.25*.5=.5, kappa=.5,  diff=.0625
    #   s2 [1,0,1,0] p=.5: c_obs=.25, c_exp=.5,               kappa=-.5, diff=.0625
    #   s3 [1,1,0,1] p=.75: c_obs=1,                          kappa=1,   diff=0
    assert got["sketch", "ood_accuracy"] == pytest.approx(0.75)
    assert got["sketch", "observed_consistency"] == pytest.approx((0.75 + 0.25 + 1.0) / 3)
    assert got["sketch", "error_consistency"] == pytest.approx((0.5 - 0.5 + 1.0) / 3)
    assert got["sketch", "accuracy_difference"] == pytest.approx((0.0625 + 0.0625 + 0.0) / 3)
    # cue-conflict, model correct (shape) [0,1,1,0,0] p=.4 against
    #   s1 [1,1,1,1,1] p=1:  c_obs=.4, c_exp=.4,                 kappa=0,           diff=.36
    #   s2 [1,0,1,0,1] p=.6: c_obs=.4, c_exp=.4*.6+.6*.4=.48,    kappa=-.08/.52,    diff=.04
    assert got["cue-conflict", "ood_accuracy"] == pytest.approx(0.4)
    assert got["cue-conflict", "observed_consistency"] == pytest.approx(0.4)
    assert got["cue-conflict", "error_consistency"] == pytest.approx((0.0 - 0.08 / 0.52) / 2)
    assert got["cue-conflict", "accuracy_difference"] == pytest.approx((0.36 + 0.04) / 2)
    # shape bias: one shape decision (bear), two texture (bear on airplane, dog on knife); the
    # cat-on-cat trial (answered cat) is left out: 1/3, not 2/4.
    assert got["cue-conflict", "shape_bias"] == pytest.approx(1 / 3)
    assert ("sketch", "shape_bias") not in got.index
    # 'all' averages the two datasets.
    for metric in ("ood_accuracy", "observed_consistency", "error_consistency", "accuracy_difference"):
        assert got["all", metric] == pytest.approx((got["sketch", metric] + got["cue-conflict", metric]) / 2)


def test_human_rows_over_every_pair_of_observers(tree) -> None:
    raw, _ = tree
    table = benchmark(raw, models=[], datasets=["sketch", "cue-conflict"], include_humans=True)
    assert set(table["model"]) == {"humans"}
    got = table.set_index(["dataset", "metric"])["value"]
    # sketch observers [1,1,0,0], [1,0,1,0], [1,1,0,1]; pairs (1,2): c_obs .5, kappa 0, diff 0;
    # (1,3): c_obs .75, c_exp .5, kappa .5, diff .0625; (2,3): c_obs .25, c_exp .5, kappa -.5, diff .0625
    assert got["sketch", "ood_accuracy"] == pytest.approx(7 / 12)  # pooled over the observers' trials
    assert got["sketch", "observed_consistency"] == pytest.approx(0.5)
    assert got["sketch", "error_consistency"] == pytest.approx(0.0)
    assert got["sketch", "accuracy_difference"] == pytest.approx(0.125 / 3)
    # cue-conflict, pooled: observer 1 four shape decisions, observer 2 two shape and one texture: 6/7
    assert got["cue-conflict", "shape_bias"] == pytest.approx(6 / 7)
    assert got["cue-conflict", "ood_accuracy"] == pytest.approx(0.8)


def test_command_prints_the_table_and_writes_the_long_one(tree, tmp_path, capsys) -> None:
    from robustlab.pruning.alignment.modelvshuman.__main__ import main

    raw, _ = tree
    main([str(raw), "--models", "net-a", "--datasets", "sketch", "cue-conflict", "--humans",
          "--out", str(tmp_path / "b.csv")])
    printed = capsys.readouterr().out
    assert "net-a" in printed and "humans" in printed and "0.333" in printed  # net-a's shape bias
    written = pd.read_csv(tmp_path / "b.csv")
    assert list(written.columns) == ["model", "dataset", "metric", "value"] and len(written) == 2 * (4 + 5 + 4)


def test_shape_bias_per_category_and_of_an_observer(tree) -> None:
    raw, _ = tree
    trials = read_trials([raw], "cue-conflict")
    human = trials[trials["subj"] == "subject-02"]
    # shape, texture, (no conflict), no answer, shape: 2 / (2 + 1)
    assert shape_bias(human) == pytest.approx(2 / 3)
    per = shape_bias_per_category(trials[trials["subj"] == "net-a"]).set_index("category")
    assert per.loc["bear", "shape_bias"] == 1.0 and per.loc["airplane", "shape_bias"] == 0.0
    assert np.isnan(per.loc["dog", "shape_bias"]) and np.isnan(per.loc["cat", "shape_bias"])
    assert per["n_trials"].sum() == 5


def test_the_benchmarks_metrics_are_the_alignment_ones_on_degenerate_input(tree) -> None:
    """One implementation each: the benchmark's kappa differs only where the formula is 0/0."""
    from robustlab.pruning.alignment import consistency
    from robustlab.pruning.alignment.modelvshuman.raw_data import texture_category
    from robustlab.pruning.alignment.shape_bias import shape_bias as cue_conflict_shape_bias

    right, mixed = np.ones(4, bool), np.array([1, 0, 1, 1], bool)
    assert error_consistency(right, right) == 1.0 and np.isnan(consistency.error_consistency(right, right))
    assert error_consistency(~right, ~right) == 1.0
    assert (error_consistency(right, mixed) == consistency.error_consistency(right, mixed)
            == pytest.approx(0.0, abs=1e-12))
    assert error_consistency(mixed, ~mixed) == consistency.error_consistency(mixed, ~mixed)
    assert np.isnan(error_consistency(np.array([], bool), np.array([], bool)))  # a pair without trials
    raw, _ = tree
    trials = read_trials([raw], "cue-conflict")
    for _, own in trials.groupby("subj"):
        texture = own["imagename"].map(texture_category).to_numpy(dtype=str)
        assert shape_bias(own) == cue_conflict_shape_bias(
            own["object_response"].to_numpy(dtype=str), own["category"].to_numpy(dtype=str), texture)
    assert np.isnan(shape_bias(trials.iloc[:0]))
    # Answers on the stimulus without a cue conflict (cat on cat) only: no shape bias.
    assert np.isnan(shape_bias(trials[trials["category"] == "cat"]))


def _reference(patterns: dict, scored_written: list[str], model: str, metric: str) -> float:
    """Conditions first, then humans; pairs by position (both observers list images in the same order)."""
    per_human = []
    for human in ("subject-01", "subject-02", "subject-03"):
        values = []
        for cond in scored_written:
            a, b = np.array(patterns[model][cond], bool), np.array(patterns[human][cond], bool)
            pa, pb, obs = a.mean(), b.mean(), (a == b).mean()
            exp = pa * pb + (1 - pa) * (1 - pb)
            values.append({"accuracy_difference": (pa - pb) ** 2, "observed_consistency": obs,
                           "error_consistency": 1.0 if obs == 1 else (obs - exp) / (1 - exp)}[metric])
        per_human.append(np.mean(values))
    return float(np.mean(per_human))


def test_parametric_metrics_honour_excluded_conditions_and_the_aggregation_order(tree) -> None:
    raw, patterns = tree
    table = benchmark(raw)  # models=None: every subj that is not subject-*
    assert set(table["model"]) == {"net-a", "net_b"}
    assert set(table["dataset"]) == {"sketch", "cue-conflict", "uniform-noise", "high-pass", "all"}
    got = table.set_index(["model", "dataset", "metric"])["value"]
    scored = {"uniform-noise": ["0.03", "0.05", "0.10", "0.20", "0.35"], "high-pass": ["3", "1.5", "1", "0.7"]}
    for model in ("net-a", "net_b"):
        for dataset, conds in scored.items():
            p = patterns[dataset]
            pooled = np.concatenate([p[model][c] for c in conds]).mean()  # pooled over trials, not per condition
            assert got[model, dataset, "ood_accuracy"] == pytest.approx(pooled)
            for metric in ("accuracy_difference", "observed_consistency", "error_consistency"):
                expected = _reference(p, conds, model, metric)
                assert got[model, dataset, metric] == pytest.approx(expected), (model, dataset, metric)
    # kappa 1 where both are always right (net-a and subject-01 in uniform-noise 0.05): c_exp = 1, 0/0
    assert error_consistency(np.ones(2, bool), np.ones(2, bool)) == 1.0
    # 'all' is the mean over the datasets (each dataset weighs the same), not over conditions.
    per_dataset = table[(table["model"] == "net-a") & (table["dataset"] != "all")
                        & (table["metric"] == "error_consistency")]
    assert got["net-a", "all", "error_consistency"] == pytest.approx(per_dataset["value"].mean())
    flat = [_reference(patterns[d], [c], "net-a", "error_consistency") for d in scored for c in scored[d]]
    flat += [got["net-a", d, "error_consistency"] for d in ("sketch", "cue-conflict")]
    assert abs(per_dataset["value"].mean() - np.mean(flat)) > 1e-3  # the order matters on this tree


def test_benchmark_errors_name_the_problem(tree, tmp_path) -> None:
    raw, _ = tree
    with pytest.raises(ValueError, match="model.*nobody.*in no raw-data CSV"):
        benchmark(raw, models=["nobody"], datasets=["sketch"])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        benchmark(tmp_path / "nowhere")
    with pytest.raises(KeyError, match="unknown model-vs-human dataset 'sketchy'"):
        benchmark(raw, datasets=["sketchy"])
    # A model that skipped an image of a scored condition cannot be paired.
    path = raw / "sketch" / "sketch_net-a_session_1.csv"
    pd.read_csv(path).iloc[:-1].to_csv(path, index=False)
    with pytest.raises(ValueError,
                       match=r"sketch, net-a vs subject-01: the two observers did not see the same images \(3 and 4"):
        benchmark(raw, datasets=["sketch"])
    # A parametric dataset missing one of its conditions.
    for f in (raw / "high-pass").glob("*.csv"):
        frame = pd.read_csv(f)
        frame[frame["condition"].astype(str) != "0.7"].to_csv(f, index=False)
    with pytest.raises(ValueError, match="high-pass: condition.*0.7"):
        benchmark(raw, datasets=["high-pass"])
    bad = tmp_path / "bad"
    _write(bad, "edge", "subject-01", [("cat", "cat", "0", "x.png")])
    csv = bad / "edge" / "edge_subject-01_session_1.csv"
    pd.read_csv(csv).drop(columns="category").to_csv(csv, index=False)
    with pytest.raises(ValueError, match=r"edge_subject-01_session_1.csv: missing column\(s\) category"):
        benchmark(bad)


# ------------------------------------------------------------------ a model's decisions, round trip

COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}


class ColourNet(nn.Module):
    """1000 ImageNet logits from the mean colour: red -> airplane (404), green -> boat (472), blue -> knife (499)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(x.shape[0], 1000)
        means = x.mean(dim=(2, 3))
        for channel, index in enumerate((404, 472, 499)):
            logits[:, index] = 20 * means[:, channel]
        return logits


def _stimuli_tree(root) -> None:
    """cue-conflict (category folders) and sketch (dnn/session-1), with human CSVs; one 300x260 image."""
    def save(path, colour, size=(224, 224)):
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size, COLOURS[colour]).save(path)

    cue = [("airplane", "airplane1-boat1.png", "red"), ("boat", "boat1-knife1.png", "blue"),
           ("knife", "knife1-airplane2.png", "green")]
    for i, (cat, name, colour) in enumerate(cue):
        save(root / "datasets" / "cue-conflict" / cat / name, colour, (300, 260) if i == 0 else (224, 224))
    _write(root / "raw-data", "cue-conflict", "subject-01",
           [(c, c, "0", f"{i + 1:04d}_s5n_s01_0_{c}_00_{n}") for i, (c, n, _) in enumerate(cue)])
    sketch = [("airplane", "n02690373_1.png", "red"), ("boat", "n02951358_2.png", "red"),
              ("boat", "n02951358_3.png", "green")]
    for i, (cat, name, colour) in enumerate(sketch):
        save(root / "datasets" / "sketch" / "dnn" / "session-1" / f"{i + 1:04d}_sk_dnn_0_{cat}_00_{name}", colour)
    _write(root / "raw-data", "sketch", "subject-01",
           [(c, c, "0", f"{i + 1:04d}_sk_s01_0_{c}_00_{n}") for i, (c, n, _) in enumerate(sketch)])


def test_preprocessing_keeps_224_images_and_resizes_others_as_model_vs_human(tmp_path) -> None:
    from torchvision import transforms

    rng = np.random.default_rng(0)
    for size in ((224, 224), (512, 448)):
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(tmp_path / "x.png")
        with Image.open(tmp_path / "x.png") as im:
            rgb = im.convert("RGB")
            theirs = transforms.ToTensor()(rgb) if size == (224, 224) else transforms.Compose(
                [transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor()])(rgb)
        ours = load_stimulus(tmp_path / "x.png")
        assert ours.shape == (3, 224, 224) and torch.equal(ours, theirs)
    # a model with another input size sees the whole 224 stimulus, resized
    Image.fromarray(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)).save(tmp_path / "x.png")
    with Image.open(tmp_path / "x.png") as im:
        whole = transforms.ToTensor()(transforms.Resize((64, 64))(im.convert("RGB")))
    assert torch.equal(load_stimulus(tmp_path / "x.png", image_size=64), whole)


def test_decision_csvs_round_trip_through_benchmark(tmp_path) -> None:
    _stimuli_tree(tmp_path)
    stimuli = list_stimuli(tmp_path / "datasets", "sketch")
    assert ([(s.session, s.condition, s.category) for s in stimuli]
            == [(1, "0", "airplane"), (1, "0", "boat"), (1, "0", "boat")])
    out = tmp_path / "run"
    paths = evaluate_model(ColourNet(), tmp_path / "datasets", out, "colour_net", batch_size=2)
    assert sorted(p.name for p in paths) == ["cue-conflict_colour-net_session_1.csv", "sketch_colour-net_session_1.csv"]
    cue = pd.read_csv(out / "cue-conflict" / "cue-conflict_colour-net_session_1.csv")
    assert list(cue.columns) == RAW_COLUMNS
    assert cue["subj"].eq("colour_net").all() and cue["trial"].tolist() == [1, 2, 3] and cue["rt"].isna().all()
    assert cue["object_response"].tolist() == ["airplane", "knife", "boat"]
    assert cue["category"].tolist() == ["airplane", "boat", "knife"] and cue["condition"].isna().all()
    table = benchmark(tmp_path / "raw-data", models=["colour_net"], model_dirs=[out])
    got = table.set_index(["dataset", "metric"])["value"]
    assert got["cue-conflict", "ood_accuracy"] == pytest.approx(1 / 3)
    assert got["cue-conflict", "shape_bias"] == pytest.approx(0.5)   # airplane: shape; knife: texture; boat: neither
    assert got["sketch", "ood_accuracy"] == pytest.approx(2 / 3)
    assert got["all", "error_consistency"] == pytest.approx(0.0)     # the one observer is always right
    # resumable: the CSVs are there, nothing is run again (a model that would fail is not called)
    assert sorted(evaluate_model(nn.Identity(), tmp_path / "datasets", out, "colour_net")) == sorted(paths)


def test_suite_rows_of_the_sweeps_model(tmp_path) -> None:
    _stimuli_tree(tmp_path)
    ctx = EvalContext(model=ColourNet(), arch="cnn", batches=lambda **_: iter(()), device="cpu", step=2, sparsity=0.5,
                      run_dir=tmp_path / "run", seed=0, num_classes=1000, img_size=224, extras={})
    rows = pd.DataFrame(modelvshuman_suite(ctx, tmp_path / "datasets", tmp_path / "raw-data").rows)
    means = rows.set_index(["method", "metric"])["mean"]
    assert means[("modelvshuman:cue-conflict", "shape_bias")] == pytest.approx(0.5)
    assert set(rows["method"]) == {"modelvshuman:cue-conflict", "modelvshuman:sketch", "modelvshuman"}
    assert (tmp_path / "run" / "alignment" / "modelvshuman" / "sketch" / "sketch_step2_session_1.csv").is_file()


# ------------------------------------------------------------------ model-vs-human's human data

def test_human_shape_bias_on_the_real_cue_conflict_data(shared_data) -> None:
    raw = shared_data / "modelvshuman" / "raw-data"
    if not (raw / "cue-conflict").is_dir():
        pytest.skip(f"no model-vs-human raw data at {raw}")
    trials = read_trials([raw], "cue-conflict")
    per_observer = {subj: shape_bias(group) for subj, group in trials.groupby("subj")}
    assert len(per_observer) == 10 and len(trials) == 12800
    assert np.mean(list(per_observer.values())) == pytest.approx(0.958, abs=5e-4)
    assert 0.9185 <= min(per_observer.values()) < 0.9195 and 0.9865 <= max(per_observer.values()) < 0.9875


def _kappa_by_merge(a: pd.DataFrame, b: pd.DataFrame) -> tuple[float, float, float]:
    """(accuracy difference, observed consistency, kappa) by a merge on image id."""
    both = a.merge(b, on="image_id", suffixes=("_a", "_b"), validate="one_to_one")
    assert len(both) == len(a) == len(b)
    ca, cb = both["correct_a"].to_numpy(bool), both["correct_b"].to_numpy(bool)
    obs, pa, pb = (ca == cb).mean(), ca.mean(), cb.mean()
    exp = pa * pb + (1 - pa) * (1 - pb)
    return (pa - pb) ** 2, obs, 1.0 if obs == 1 else (obs - exp) / (1 - exp)


def test_benchmark_on_real_data_with_an_observer_copied_as_a_model(shared_data, tmp_path) -> None:
    raw = shared_data / "modelvshuman" / "raw-data"
    if not (raw / "cue-conflict").is_dir() or not (raw / "edge").is_dir():
        pytest.skip(f"no model-vs-human raw data at {raw}")
    models = tmp_path / "models"
    for dataset in ("cue-conflict", "edge"):
        copy = pd.read_csv(raw / dataset / f"{dataset}_subject-03_session_1.csv").sample(frac=1.0, random_state=0)
        copy["subj"] = "observer-copy"
        (models / dataset).mkdir(parents=True)
        copy.to_csv(models / dataset / f"{dataset}_observer-copy_session_1.csv", index=False)
    table = benchmark(raw, model_dirs=[models], include_humans=True)
    assert set(table["model"]) == {"observer-copy", "humans"}
    humans = table[table["model"] == "humans"].set_index(["dataset", "metric"])["value"]
    table = table[table["model"] == "observer-copy"]
    got = table.set_index(["dataset", "metric"])["value"]
    for dataset in ("cue-conflict", "edge"):
        trials = read_trials([raw], dataset)
        own = trials[trials["subj"] == "subject-03"]
        assert got[dataset, "ood_accuracy"] == pytest.approx(own["correct"].mean())
        pairs = [_kappa_by_merge(own, group) for _, group in trials.groupby("subj")]  # itself included: kappa 1
        assert sum(p[2] == 1.0 for p in pairs) == 1
        for i, metric in enumerate(("accuracy_difference", "observed_consistency", "error_consistency")):
            assert got[dataset, metric] == pytest.approx(np.mean([p[i] for p in pairs])), (dataset, metric)
        observers = [group for _, group in trials[trials["subj"].str.startswith("subject-")].groupby("subj")]
        pairs = [_kappa_by_merge(a, b) for i, a in enumerate(observers) for b in observers[i + 1:]]
        assert len(pairs) == 45
        assert humans[dataset, "error_consistency"] == pytest.approx(np.mean([p[2] for p in pairs]))
    subject = read_trials([raw], "cue-conflict").query("subj == 'subject-03'")
    assert got["cue-conflict", "shape_bias"] == pytest.approx(shape_bias(subject))
    assert 0.9 < got["cue-conflict", "shape_bias"] < 1.0
    assert got["all", "error_consistency"] == pytest.approx(
        (got["edge", "error_consistency"] + got["cue-conflict", "error_consistency"]) / 2)
    shutil.rmtree(models)
