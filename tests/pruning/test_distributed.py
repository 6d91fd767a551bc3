"""Data-parallel sweeps on CPU (gloo, two processes): the same sweep as one process, sharded
evaluation, a killed rank, resume."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from robustlab.common.seeding import seed_everything
from robustlab.pruning import sweep as sweep_module
from robustlab.pruning.data.sources import DataSpec, build_data
from robustlab.pruning.distributed import (
    Dist,
    GlobalBatchNorm2d,
    init_distributed,
    ranks_from_env,
    shard_batches,
    shutdown,
)
from robustlab.pruning.evaluate import evaluate_accuracy
from robustlab.pruning.interpret.suite import summarize
from robustlab.pruning.masks import get_masks
from robustlab.pruning.models import ModelSpec, create_model
from robustlab.pruning.suites import SUITES, SuiteResult
from robustlab.pruning.sweep import run_sweep
from robustlab.pruning.sweep_spec import SweepSpec
from robustlab.pruning.train import TrainSpec

REPO = Path(__file__).resolve().parents[2]
#: Final weights of the two-process sweep against one process: the same global batches and
#: BatchNorm statistics, summed in another order (float32 rounding, grown over 12 SGD steps).
WEIGHT_ATOL = 1e-4


@SUITES.register("test_sharded_probe", summarize=summarize)
def _probe_suite(ctx, n_images=None):
    """Per image: the model's largest softmax probability; rows from the per-image table."""
    tables = []
    for batch in ctx.batches(max_images=n_images):
        with torch.no_grad():
            top = ctx.model(batch.images).softmax(dim=1).max(dim=1).values
        tables.append(pd.DataFrame({"index": batch.index.numpy(), "method": "probe", "metric": "top_prob",
                                    "value": top.numpy()}))
    per_image = pd.concat(tables, ignore_index=True)
    return SuiteResult(rows=summarize(per_image), per_image=per_image)


def _spec() -> SweepSpec:
    return SweepSpec(
        model=ModelSpec("resnet18", num_classes=4, img_size=32, kwargs={"channels": [8, 16, 32, 64],
                                                                             "stem_width": 8}),
        data=DataSpec(num_classes=4, img_size=32, train_size=64, val_size=33),
        train=TrainSpec(epochs=1, batch_size=16, lr=0.05, max_batches_per_epoch=4, sync_batchnorm=True,
                        progress=False),
        steps=2, rate=0.2, eval_batch_size=8, device="cpu", suites={"test_sharded_probe": {}})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _join(rank: int, world: int, port: int) -> Dist:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    return init_distributed(torch.device("cpu"), timeout_s=60)


def _rank_main(rank: int, world: int, port: int, out: str) -> None:
    """One rank: a sharded evaluation of a fresh model, then the sweep (saving each step's
    trained masks and weights per rank)."""
    d = _join(rank, world, port)
    torch.manual_seed(0)
    spec = _spec()
    acc = evaluate_accuracy(create_model(spec.model).eval(), build_data(spec.data), torch.device("cpu"),
                            batch_size=5, dist=d)
    if d.is_main:
        acc.per_image.to_csv(Path(out) / "sharded.csv", index=False)
    real_record = sweep_module._Sweep.record

    def probing_record(self, model, step, stats, dense_numel):
        targets = self.targets(model)
        torch.save({"masks": get_masks(targets),
                    "weights": {t.layer: getattr(t.module, t.param).detach().clone() for t in targets}},
                   Path(out) / f"rank{rank}_step{step}.pt")
        return real_record(self, model, step, stats, dense_numel)

    sweep_module._Sweep.record = probing_record
    seed_everything(0)
    run_sweep(_spec(), Path(out) / "two", dist=d)
    shutdown(d)


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> Path:
    """The output of :func:`_rank_main` on two processes."""
    out = tmp_path_factory.mktemp("ddp")
    torch.multiprocessing.spawn(_rank_main, args=(2, _free_port(), str(out)), nprocs=2)
    return out


def test_two_processes_train_the_same_sweep_as_one(tmp_path, two_ranks):
    seed_everything(0)
    torch.set_num_threads(1)
    one = run_sweep(_spec(), tmp_path / "one")
    probes = two_ranks
    two = pd.read_csv(two_ranks / "two" / "metrics.csv")

    assert list(two["step"]) == [0, 1, 2]
    assert two["sparsity"].tolist() == one["sparsity"].tolist()
    assert two["params_nonzero"].tolist() == one["params_nonzero"].tolist()
    assert two["train_loss"].to_numpy() == pytest.approx(one["train_loss"].to_numpy(), rel=1e-3)
    assert ((two["top1"] - one["top1"]).abs() * one["n_eval"]).max() <= 1 + 1e-9
    for step in range(3):
        ranks = [torch.load(probes / f"rank{r}_step{step}.pt", weights_only=True) for r in range(2)]
        single = torch.load(tmp_path / "one" / "checkpoints" / f"step{step:03d}.pt", weights_only=True)
        for key, mask in single["masks"].items():
            assert torch.equal(ranks[0]["masks"][key], mask) and torch.equal(ranks[1]["masks"][key], mask)
        for probe in ranks:  # pruned weights are zero on every rank
            for layer, weight in probe["weights"].items():
                assert not weight[~probe["masks"][f"{layer}.weight"]].any()
        dual = torch.load(two_ranks / "two" / "checkpoints" / f"step{step:03d}.pt", weights_only=True)
        for key, value in single["model"].items():
            if value.is_floating_point():
                torch.testing.assert_close(dual["model"][key], value, atol=WEIGHT_ATOL, rtol=0)
    # the suite, split over the ranks by batch, gathered: the values of one process
    for step in range(3):
        name = f"per_image/test_sharded_probe_step{step:03d}.parquet"
        single, dual = (pd.read_parquet(d / name).sort_values("index") for d in (tmp_path / "one", two_ranks / "two"))
        assert dual["index"].tolist() == single["index"].tolist() == list(range(33))
        assert dual["value"].to_numpy() == pytest.approx(single["value"].to_numpy(), abs=1e-4)
    rows = [pd.read_csv(d / "test_sharded_probe.csv") for d in (tmp_path / "one", two_ranks / "two")]
    assert rows[1]["n"].tolist() == rows[0]["n"].tolist() == [33, 33, 33]
    assert rows[1]["mean"].to_numpy() == pytest.approx(rows[0]["mean"].to_numpy(), abs=1e-4)
    # rank 0 alone wrote the run directory
    assert not list((two_ranks / "two").glob("**/*rank1*"))


def test_sharded_evaluation_equals_one_process_per_image(two_ranks):
    torch.manual_seed(0)
    spec = _spec()
    model = create_model(spec.model).eval()
    single = evaluate_accuracy(model, build_data(spec.data), torch.device("cpu"), batch_size=5).per_image
    sharded = pd.read_csv(two_ranks / "sharded.csv")
    assert sharded["index"].tolist() == list(range(33))
    pd.testing.assert_frame_equal(sharded, single, check_dtype=False)


def test_suite_batches_alternate_over_the_ranks():
    batches = lambda max_images=None: iter(range(5))  # noqa: E731
    assert [list(shard_batches(batches, Dist(r, 2))(max_images=3)) for r in range(2)] == [[0, 2, 4], [1, 3]]


def test_ranks_come_from_torchrun_or_a_slurm_step():
    assert ranks_from_env({"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "3"}) == (3, 8, 3, "torchrun")
    slurm = {"SLURM_PROCID": "9", "SLURM_STEP_NUM_TASKS": "16", "SLURM_LOCALID": "1"}
    assert ranks_from_env(slurm) == (9, 16, 1, "slurm")
    # an sbatch script's own process (no srun step of several tasks) is a plain launch
    assert ranks_from_env({"SLURM_PROCID": "0", "SLURM_NTASKS": "8"}) == (0, 1, 0, "none")
    assert ranks_from_env({}) == (0, 1, 0, "none")


def test_global_batchnorm_is_batchnorm_in_one_process():
    bn = GlobalBatchNorm2d(3)
    ref = torch.nn.BatchNorm2d(3)
    x = torch.randn(4, 3, 5, 5)
    torch.testing.assert_close(bn(x), ref(x))
    torch.testing.assert_close(bn.running_var, ref.running_var)


def _children_with_rank(parent: int, rank: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            env = (stat.parent / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and f"RANK={rank}".encode() in env:
            found.append(int(stat.parent.name))
    return found


def _torchrun(run_dir: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "0"}
    args = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--monitor-interval=0.1",
            str(Path(sys.executable).with_name("robustlab-prune")), "experiment=smoke", "threads=1",
            "train.sync_batchnorm=true", "dist_timeout_s=30", f"hydra.run.dir={run_dir}", *extra]
    return subprocess.Popen(args, cwd=run_dir.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the rank's process in /proc")
def test_a_killed_rank_stops_the_run_with_its_name_and_a_relaunch_resumes(tmp_path):
    run = tmp_path / "run"
    slow = ("train.epochs=6",)
    proc = _torchrun(run, *slow)
    deadline = time.monotonic() + 120
    while not (run / "metrics.csv").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert (run / "metrics.csv").exists(), proc.communicate()[0][-3000:]
    victims = _children_with_rank(proc.pid, 1)
    assert len(victims) == 1
    os.kill(victims[0], signal.SIGKILL)  # rank 1 dies in the middle of step 1
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode != 0
    assert pd.read_csv(run / "metrics.csv")["step"].tolist() == [0]
    root_cause = output[output.index("Root Cause"):]
    assert "rank      : 1" in root_cause.split("=====")[0] and "SIGKILL" in root_cause, output[-3000:]

    again = _torchrun(run, *slow)
    output = again.communicate(timeout=180)[0]
    assert again.returncode == 0, output[-3000:]
    assert "resuming" in output and "after step 0" in output
    assert pd.read_csv(run / "metrics.csv")["step"].tolist() == [0, 1, 2]
