"""The resumable sparsity sweep: dense training, then ``steps`` prune-and-retrain steps.

Step ``k`` brings the prunable weights to sparsity ``1 - (1 - rate)^k`` (20 % of the remaining
weights per step at ``rate=0.2``, as in arXiv 2507.01722) and retrains. After each step the
sweep writes, in this order: ``checkpoints/step{k:03d}.pt``, per-image accuracy, every
evaluation suite's rows, ``layer_sparsity.csv`` and finally the step's row of ``metrics.csv``;
a step is finished when its ``metrics.csv`` row exists. Started again on the same run
directory, the sweep resumes after its last finished step from that step's checkpoint and
recomputes nothing; a step whose checkpoint was written but whose evaluation did not finish is
evaluated again from that checkpoint, not trained again. Every step seeds its own randomness
from ``(seed, step)``, so a resumed sweep writes the same metrics as an uninterrupted one (on
CPU; timings aside). ``sweep_spec.json`` is written once the data and the model are built: a
run stopped by bad input leaves nothing that refuses the corrected command; every suite's
options are checked on the initial model before any training. Checkpoints hold tensors and
plain containers only (:mod:`robustlab.pruning.checkpoints`) and record the sweep's settings
(a hash of the spec without its evaluation keys), step and sparsity: a checkpoint of another
sweep, step or sparsity is refused, not evaluated. The run folder is claimed as the command
line claims it (:class:`~robustlab.common.runfolder.RunFolder`): one process writes it (a
second one is refused, naming the first), and a folder of the radiomics app or one holding
files of no run is refused.

In a data-parallel run (:mod:`robustlab.pruning.distributed`) every rank trains on its share of
each global batch and evaluates its share of the held-out images; rank 0 alone writes the
checkpoints and tables, and after a crash of any rank the sweep resumes on every rank from the
last step that rank 0 finished.

The settings and their checks are in :mod:`robustlab.pruning.sweep_spec`; the run folder's
files (settings record, checkpoints, tables) and their consistency checks in
:mod:`robustlab.pruning.sweep_folder`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from robustlab.common import runfolder
from robustlab.common.errors import CheckpointError, ConfigError
from robustlab.common.progress import progress
from robustlab.pruning.checkpoints import resize_to_state
from robustlab.pruning.data.evaldata import check_arch
from robustlab.pruning.data.loader import train_batches
from robustlab.pruning.data.sources import DataBundle, build_data
from robustlab.pruning.distributed import (
    Dist,
    all_gather_objects,
    broadcast_object,
    broadcast_tensors,
    check_identical,
    fingerprint,
    local_device,
    shard_batches,
)
from robustlab.pruning.evaluate import evaluate_accuracy, make_context, suite_source
from robustlab.pruning.masks import (
    Target,
    apply_masks,
    count_parameters,
    get_masks,
    layer_sparsity,
    plain_state_dict,
    prunable_targets,
)
from robustlab.pruning.methods import PruneContext
from robustlab.pruning.models import classifier_head, create_model, model_arch
from robustlab.pruning.suites import SUITES, SuiteResult
from robustlab.pruning.sweep_folder import SweepFolder, finished_steps
from robustlab.pruning.sweep_spec import (
    SweepSpec,
    resolve_device,
    spec_record,
    target_sparsity,
    validate,
)
from robustlab.pruning.train import TrainStats, train

log = logging.getLogger(__name__)

#: Columns of ``metrics.csv`` that measure time, not results (left out of resume comparisons).
TIMING_COLUMNS = ("train_seconds", "images_per_second", "latency_ms", "eval_seconds")
#: Training statistics kept in a step's checkpoint (its metrics row is rebuilt from them).
TRAIN_STATS = ("final_loss", "images", "seconds", "images_per_second")


class _Sweep:
    """State of one running sweep (kept private: :func:`run_sweep` is the API)."""

    def __init__(self, spec: SweepSpec, run_dir: Path, dist: Dist):
        self.spec = spec
        self.run_dir = run_dir
        self.dist = dist
        self.method = validate(spec)
        self.device = local_device(resolve_device(spec.device), dist.local_rank)
        self.label = spec.label or spec.model.name
        self.folder = SweepFolder(run_dir, spec_record(spec), dist)
        self.folder.check_same_spec()
        self.data: DataBundle = build_data(spec.data, self.device if spec.data.name == "shapes" else "cpu",
                                           report_dir=run_dir, progress=spec.train.progress)
        if spec.model.num_classes != self.data.num_classes:
            raise ConfigError(f"model.num_classes={spec.model.num_classes} but the data has "
                              f"{self.data.num_classes} classes")
        s = spec.data.img_size
        self.example = torch.zeros(1, spec.model.in_chans, s, s, device=self.device)
        self.sources: dict[str, Any] = {}  # each suite's evaluation data, built at its first use

    # -- models and checkpoints -------------------------------------------------------------

    def fresh_model(self) -> nn.Module:
        # Each fresh model is drawn from the same seed: the initialisation is the sweep's.
        torch.manual_seed(self.spec.seed)
        return create_model(self.spec.model)

    def targets(self, model: nn.Module) -> list[Target]:
        return prunable_targets(model, self.spec.scope)

    def save(self, model: nn.Module, step: int, sparsity: float, stats: Any) -> Path:
        """Write step ``step``'s checkpoint: weights, masks and the training statistics."""
        state: dict[str, Any] = {"model": plain_state_dict(model), "step": step, "sparsity": sparsity,
                                 "model_name": self.spec.model.name, "method": self.spec.method,
                                 "spec_hash": self.folder.spec_hash,
                                 "train": {k: getattr(stats, k) for k in TRAIN_STATS}}
        if not self.method.structured:
            state["masks"] = get_masks(self.targets(model))
        return self.folder.save(step, state)

    def check_sparsity(self, model: nn.Module, state: dict[str, Any], step: int, dense_numel: dict[str, int]) -> None:
        """The model read from step ``step``'s checkpoint has the sparsity the checkpoint records."""
        layers = layer_sparsity(self.targets(model), dense_numel)
        self.folder.check_sparsity(step, state, float(layers["zeros"].sum() / layers["numel"].sum()))

    def load(self, step: int, state: dict[str, Any] | None = None) -> nn.Module:
        """The model of step ``step`` (from its checkpoint, or ``state`` already read from it)."""
        state = state if state is not None else self.folder.checkpoint(step)
        if state is None:
            raise FileNotFoundError(f"{self.folder.step_path(step)} is missing but metrics.csv lists step {step} as "
                                    "finished; delete the run directory's metrics.csv rows after the last checkpoint")
        model = self.fresh_model()
        if self.method.structured:
            resize_to_state(model, state["model"])
            model.load_state_dict(state["model"])
        else:
            model.load_state_dict(state["model"])
            apply_masks(self.targets(model), state["masks"])
        return model.to(self.device)

    def initial(self) -> nn.Module:
        """The sweep's initial weights, saved once as ``checkpoints/init.pt``."""
        model = self.fresh_model()
        self.folder.initial(model)
        return model.to(self.device)

    def rewind_weights(self, model: nn.Module) -> None:
        """Reset every weight (not the masks) to the initial values: lottery-ticket rewinding."""
        init = self.folder.initial_state()
        state = model.state_dict()
        for key in state:
            if key.endswith("_mask"):
                continue
            base = key[: -len("_orig")] if key.endswith("_orig") else key
            state[key] = init[base]
        model.load_state_dict(state)

    # -- one step ---------------------------------------------------------------------------

    def prune(self, model: nn.Module, step: int) -> None:
        spec = self.spec

        def batches():
            return train_batches(self.data, spec.train.batch_size, epoch=0, seed=spec.seed * 1000 + step,
                                 device=self.device)

        head = classifier_head(model)
        ctx = PruneContext(model=model, targets=self.targets(model), ignored=[head] if head is not None else [],
                           batches=batches, example_inputs=self.example, step=step, rate=spec.rate,
                           seed=spec.seed, options=dict(spec.method_options))
        self.method.prune(ctx, target_sparsity(step, spec.rate))
        self.same_masks(model)

    def same_masks(self, model: nn.Module) -> None:
        """Every rank keeps rank 0's masks (unstructured) and checks it prunes the same weights."""
        if not self.dist.enabled:
            return
        if self.method.structured:
            check_identical(self.dist, fingerprint(plain_state_dict(model)), "the structurally pruned model")
            return
        targets = self.targets(model)
        broadcast_tensors(self.dist, [getattr(t.module, f"{t.param}_mask") for t in targets
                                      if hasattr(t.module, f"{t.param}_mask")])
        check_identical(self.dist, fingerprint(get_masks(targets)), "the pruning masks")

    def train_step(self, model: nn.Module, step: int) -> Any:
        spec = self.spec
        train_spec = spec.train
        if step > 0 and spec.retrain_epochs is not None:
            train_spec = dataclasses.replace(train_spec, epochs=int(spec.retrain_epochs))
        return train(model, self.data, train_spec, self.device, seed=spec.seed * 1000 + step,
                     desc=f"{self.label} step {step}", dist=self.dist)

    def latency_ms(self, model: nn.Module, repeats: int = 10) -> float:
        """Median forward time of one evaluation batch, milliseconds."""
        s = self.spec.data.img_size
        x = torch.randn(min(self.spec.eval_batch_size, 32), self.spec.model.in_chans, s, s, device=self.device)
        times = []
        with torch.no_grad():
            model(x)
            for _ in range(repeats):
                if self.device.type == "cuda":
                    torch.cuda.synchronize(self.device)
                t = time.perf_counter()
                model(x)
                if self.device.type == "cuda":
                    torch.cuda.synchronize(self.device)
                times.append(time.perf_counter() - t)
        return 1000.0 * float(torch.tensor(times).median())

    def record(self, model: nn.Module, step: int, stats: Any, dense_numel: dict[str, int]) -> dict[str, Any]:
        """Evaluate one finished step and write its files (metrics.csv last)."""
        import torch_pruning as tp

        spec = self.spec
        folder = self.folder
        tags = {"model": self.label, "prune_method": spec.method, "seed": spec.seed}
        layers = layer_sparsity(self.targets(model), dense_numel)
        sparsity = float(layers["zeros"].sum() / layers["numel"].sum())
        main = self.dist.is_main
        if main:
            self.save(model, step, sparsity, stats)

        start = time.perf_counter()
        bar = progress(1 + len(spec.suites), f"{self.label} step {step} evaluation", unit="suite",
                       enabled=spec.train.progress and main, leave=False, postfix="accuracy")
        acc = evaluate_accuracy(model, self.data, self.device, spec.eval_batch_size, spec.eval_max_images,
                                amp=spec.train.amp, dist=self.dist)
        bar.update(1)
        if main:
            folder.write_per_image("accuracy", step, acc.per_image)
        # Counted before the suites: a suite's gradient pass leaves the pruned weights as graph
        # nodes (weight_orig * mask), which the counter's deep copy of the model cannot copy.
        with torch.no_grad():
            macs, _ = tp.utils.count_ops_and_params(model.eval(), self.example)
        for name, options in spec.suites.items():
            bar.set_postfix_str(name, refresh=False)
            result = self.run_suite(model, name, dict(options or {}), step, sparsity)
            bar.update(1)
            if result is None:
                continue
            table = SUITES.get(name).table
            rows = pd.DataFrame(result.rows)
            rows = rows.assign(step=step, sparsity=sparsity, eval_data=self.sources[name].name, **tags)
            folder.append(table, rows, step)
            if result.per_image is not None:
                folder.write_per_image(table, step, result.per_image)
        eval_seconds = time.perf_counter() - start
        bar.close()
        if not main:
            return {}

        folder.append("layer_sparsity", layers.assign(step=step, **tags), step)
        total, nonzero = count_parameters(model)
        row = {"step": step, "sparsity": sparsity, "target_sparsity": target_sparsity(step, spec.rate),
               "top1": acc.top1, "top5": acc.top5, "n_eval": acc.n, "params_total": total,
               "params_nonzero": nonzero, "macs": int(macs), "train_loss": stats.final_loss,
               "train_images": stats.images, "train_seconds": stats.seconds,
               "images_per_second": stats.images_per_second, "eval_seconds": eval_seconds, **tags}
        if spec.measure_latency:
            row["latency_ms"] = self.latency_ms(model)
        folder.append("metrics", pd.DataFrame([row]), step)
        log.info("%s step %d: sparsity %.4f top1 %.4f (%.1f s training, %.0f img/s)", self.label, step,
                 sparsity, acc.top1, stats.seconds, stats.images_per_second)
        return row

    def run_suite(self, model: nn.Module, name: str, options: dict[str, Any], step: int,
                  sparsity: float) -> SuiteResult | None:
        """Suite ``name`` at this step; its result on rank 0, None on the other ranks.

        A suite registered with ``summarize`` is split over the ranks (batch ``i`` on rank
        ``i % n``) and its rows are recomputed from the gathered per-image table; any other
        suite runs in full on every rank (the same values), and rank 0 keeps its files.
        """
        spec = self.spec
        suite = SUITES.get(name)
        summarize = suite.summarize if self.dist.enabled else None
        data_options = options.pop("data", None)
        if name not in self.sources:
            self.sources[name] = suite_source(data_options, model, self.data, self.device, spec.eval_batch_size)
        torch.manual_seed(spec.seed * 1000 + step)
        ctx = make_context(model, self.data, self.device, step=step, sparsity=sparsity,
                           run_dir=self.run_dir if self.dist.is_main else self.scratch_dir(), seed=spec.seed,
                           batch_size=spec.eval_batch_size, source=self.sources[name])
        if summarize is not None:
            ctx = dataclasses.replace(ctx, batches=shard_batches(ctx.batches, self.dist))
        result = suite.fn(ctx, **options)
        if summarize is not None:
            tables = [t for t in all_gather_objects(self.dist, result.per_image) if t is not None]
            per_image = pd.concat(tables, ignore_index=True) if tables else None
            result = SuiteResult(rows=summarize(per_image) if per_image is not None else [], per_image=per_image)
        return result if self.dist.is_main else None

    def check_suites(self, model: nn.Module) -> None:
        """Build every suite's evaluation data and check its options on ``model``, before any
        training (the ``check`` each suite registered: :class:`~robustlab.pruning.suites.Suite`)."""
        for name, options in self.spec.suites.items():
            options = dict(options or {})
            data_options = options.pop("data", None)
            self.sources[name] = suite_source(data_options, model, self.data, self.device, self.spec.eval_batch_size)
            check = SUITES.get(name).check
            if check is not None:
                check(make_context(model, self.data, self.device, step=0, sparsity=0.0, run_dir=self.run_dir,
                                   seed=self.spec.seed, batch_size=self.spec.eval_batch_size,
                                   source=self.sources[name]), **options)

    def scratch_dir(self) -> Path:
        """Where a rank other than 0 lets suites write their files (discarded)."""
        if not hasattr(self, "_scratch"):
            import tempfile

            self._scratch = tempfile.TemporaryDirectory(prefix=f"robustlab-rank{self.dist.rank}-")
        return Path(self._scratch.name)


def _report(on_step: Callable[[dict[str, Any], pd.DataFrame], None] | None, row: dict[str, Any],
            run_dir: Path) -> None:
    if on_step is not None:
        layers = pd.read_csv(run_dir / "layer_sparsity.csv")
        on_step(row, layers[layers["step"] == row["step"]])


def run_sweep(spec: SweepSpec, run_dir: str | Path, dist: Dist | None = None,
              on_step: Callable[[dict[str, Any], pd.DataFrame], None] | None = None) -> pd.DataFrame | None:
    """Run (or resume) the sweep of ``spec`` in ``run_dir``; return ``metrics.csv``'s table.

    Args:
        spec: the sweep.
        run_dir: its directory; an existing sweep there is resumed after its last finished
            step (the spec must be the same).
        dist: this process's rank in a data-parallel run (None: one process).
        on_step: called on rank 0 with each finished step's ``metrics.csv`` row and its
            ``layer_sparsity.csv`` rows (experiment trackers).

    Returns:
        The metrics table, one row per step (0 = dense); None on ranks other than 0.

    Raises:
        RunLockedError: another live process is writing ``run_dir`` (named by pid, host and
            start time).
        RunFolderError: ``run_dir`` is another app's run folder, or holds files of no run.
        CheckpointError: a checkpoint there is not this sweep's (another spec, step or
            sparsity), or the last finished step's checkpoint is damaged or missing.
    """
    dist = dist or Dist()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    # One writer per run folder: rank 0 claims it (the other ranks write nothing there).
    with runfolder.RunFolder(run_dir, "pruning") if dist.is_main else contextlib.nullcontext():
        return _run(spec, run_dir, dist, on_step)


def _run(spec: SweepSpec, run_dir: Path, dist: Dist,
         on_step: Callable[[dict[str, Any], pd.DataFrame], None] | None) -> pd.DataFrame | None:
    """:func:`run_sweep`'s work, with the run folder locked."""
    sweep = _Sweep(spec, run_dir, dist)
    done = broadcast_object(dist, finished_steps(run_dir))
    expected = list(range(len(done)))
    if done != expected:
        raise ConfigError(f"{run_dir / 'metrics.csv'} has steps {done}; expected 0..{len(done) - 1} "
                          "with no gap")
    probe = sweep.fresh_model().to(sweep.device).eval()  # the initial weights, nothing written yet
    check_arch(spec.suites, model_arch(probe))
    sweep.check_suites(probe)
    del probe
    dense = sweep.initial()
    sweep.folder.write_spec()
    dense_numel = {t.layer: getattr(t.module, t.param).numel() for t in sweep.targets(dense)}
    last = spec.steps
    if done:
        sweep.folder.check_finished(done[-1])
        if done[-1] >= last:
            log.info("%s: every step (0 to %d) is finished; nothing to run", run_dir, last)
        else:
            log.info("resuming %s after step %d of %d", run_dir, done[-1], last)
    model: nn.Module | None = None
    for step in range(len(done), last + 1):
        saved = sweep.folder.checkpoint(step)
        if broadcast_object(dist, saved is not None and int(saved.get("step", -1)) == step and "train" in saved):
            # Trained before, its evaluation stopped: evaluate the saved model again.
            log.info("step %d: checkpoint found, evaluating it (no training)", step)
            if saved is None:
                raise CheckpointError(f"{sweep.folder.step_path(step)}: rank 0 reads this checkpoint, rank "
                                      f"{dist.rank} finds none; every rank must share the run directory")
            model = sweep.load(step, saved)
            sweep.check_sparsity(model, saved, step, dense_numel)
            row = sweep.record(model, step, TrainStats(**saved["train"]), dense_numel)
            _report(on_step if dist.is_main else None, row, run_dir)
            continue
        if step == 0:
            model = dense
        elif sweep.method.start == "previous":
            model = model if model is not None else sweep.load(step - 1)
            sweep.prune(model, step)
        elif sweep.method.start == "dense":
            model = sweep.load(0)
            sweep.prune(model, step)
        else:
            model = sweep.initial()
            sweep.prune(model, step)
        if step > 0 and sweep.method.rewind == "weights":
            sweep.rewind_weights(model)
        stats = sweep.train_step(model, step)
        row = sweep.record(model, step, stats, dense_numel)
        _report(on_step if dist.is_main else None, row, run_dir)
    return pd.read_csv(run_dir / "metrics.csv") if dist.is_main else None
