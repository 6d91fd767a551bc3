"""`plan=true`: what a sweep will cost, printed without training."""


import pytest
import torch

from robustlab.pruning.cost import expand_overrides, print_costs, split_sizes

torch.set_num_threads(1)


def test_the_paper_resnet50_plan_prints_the_totals_without_training(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    jobs = print_costs(["-m", "experiment=paper_resnet50", "seed=0,1", "plan=true", "hydra/launcher=submitit_slurm",
                      "hydra.launcher.nodes=2", "hydra.launcher.tasks_per_node=8", "hydra.launcher.timeout_min=2880"])
    out = capsys.readouterr().out
    assert [j.overrides[1] for j in jobs] == ["seed=0", "seed=1"]
    job = jobs[0]
    # 26 trainings of 90 epochs over ImageNet-1k's published 1,281,167 images, batch 256
    assert job.trainings == 26 and job.epochs == (90, 90) and job.train_size == 1_281_167
    assert job.train_images == 26 * 90 * (1_281_167 // 256) * 256 == 2_997_596_160
    assert "published split sizes; no data.root given" in out and "2,997,596,160 in all" in out
    assert job.world_size == 16 and job.wall_hours == pytest.approx(job.device_hours / 16)
    assert f"total: {2 * job.device_hours:,.1f} device-hours for 2 job(s)" in out
    assert "slurm: 2 job(s)" in out and "2 node(s) x 8 task(s)" in out and "job 1: seed=1" in out
    assert "not in the estimate: the evaluation suites alignment, discovery, interpretability" in out
    assert list(tmp_path.iterdir()) == []  # no run directory, nothing trained


def test_split_sizes_are_counted_on_disk_when_the_data_is_there(tmp_path):
    for split, n in (("train", 3), ("val", 2)):
        for c in ("a", "b"):
            (tmp_path / split / c).mkdir(parents=True)
            for i in range(n):
                (tmp_path / split / c / f"{i}.JPEG").write_bytes(b"")
    data = {"name": "imagefolder", "root": str(tmp_path), "num_classes": 1000, "train_split": "train",
            "val_split": "val"}
    assert split_sizes(data) == (6, 4, f"counted in {tmp_path}")
    assert split_sizes({**data, "root": str(tmp_path / "absent")})[:2] == (1_281_167, 50_000)
    with pytest.raises(ValueError, match="data.root"):
        split_sizes({**data, "root": None, "num_classes": 10})


def test_sweep_overrides_expand_to_jobs():
    assert expand_overrides(["-m", "a=1,2", "b=x", "plan=true"]) == [["a=1", "b=x"], ["a=2", "b=x"]]


@pytest.mark.parametrize(("override", "message"), [
    ("method=nope", r"^method=nope: unknown method option 'nope' "
                    r"\(known: imp_lr_rewind, .*, snip, "),
    ("method=snp", r"^method=snp: unknown method option 'snp'; did you mean snip\?"),
    ("train.batchsize=8", r"^Could not override 'train\.batchsize'\. To append to your config use "
                          r"\+train\.batchsize=8$"),
    ("method=[a", r"^no viable alternative at input '\[a'"),
])
def test_a_plan_hydra_cannot_compose_is_one_line(override, message, tmp_path, monkeypatch):
    """Before: Hydra's multi-line message and its traceback (plan=true composes with compose())."""
    from robustlab.common.errors import ConfigError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=message) as info:
        print_costs([override, "plan=true"])
    assert "\n" not in str(info.value)
