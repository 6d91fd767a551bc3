"""What a sweep will cost before it runs: ``robustlab-prune ... plan=true`` (trains nothing).

For every job of the command (a multirun's ``a,b`` overrides expanded as Hydra would), it
prints the trainings (dense plus ``method.steps``), their epochs and images, a short measured
throughput of the model on this machine's device (training: forward, backward and SGD step;
evaluation: forward), and from them

    device-hours = (training images / training images per s
                    + evaluation images / evaluation images per s) / 3600

per job and in total; the wall time on ``n`` devices is that divided by ``n`` (linear scaling
assumed). The evaluation suites (attribution, discovery, alignment) come on top and are listed.
Split sizes are counted on disk when ``data.root`` exists; otherwise the dataset's published
sizes are used, and the output says so. Under ``hydra/launcher=submitit_slurm`` it lists the Slurm
jobs it would submit and the time limit's requeues.
"""

from __future__ import annotations

import itertools
import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch

#: Published split sizes: ImageNet-1k (ILSVRC 2012; Russakovsky et al., IJCV 2015) and the Pascal
#: VOC segmentation splits (Everingham et al., IJCV 2015; the VOC 2007 and 2012 devkits).
PUBLISHED_SPLITS = {
    "imagenet-1k": {"train": 1_281_167, "val": 50_000},
    "voc2012": {"train": 1_464, "val": 1_449, "trainval": 2_913},
    "voc2007": {"train": 209, "val": 213, "trainval": 422, "test": 210},
}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


@dataclass
class Throughput:
    """Measured images per second of one device, and how."""

    train: float
    evaluate: float
    device: str
    batch: int
    precision: str


def split_sizes(data: Any) -> tuple[int, int, str]:
    """``(train images, held-out images, where the numbers come from)`` for a data config."""
    name, root = data["name"], data.get("root")
    if name == "shapes":
        return int(data["train_size"]), int(data["val_size"]), "procedural (data.train_size, data.val_size)"
    if root and Path(root).expanduser().is_dir():
        return _count_on_disk(data) + (f"counted in {root}",)
    imagenet = name == "imagefolder" and int(data.get("num_classes", 0)) == 1000
    key = "imagenet-1k" if imagenet else f"voc{data.get('year')}"
    published = PUBLISHED_SPLITS.get(key)
    if name == "imagefolder" and key != "imagenet-1k" or published is None:
        raise ValueError(f"data.root={root!r} is not on disk and data.name={name!r} has no published split "
                         "sizes here; give data.root")
    where = "no data.root given" if not root else f"data.root={root} is not on disk"
    return published[data["train_split"]], published[data["val_split"]], f"{key}'s published split sizes; {where}"


def _count_on_disk(data: Any) -> tuple[int, int]:
    root = Path(data["root"]).expanduser()
    if data["name"] == "voc":
        sets = root / "VOCdevkit" / f"VOC{data['year']}" / "ImageSets" / "Segmentation"
        train, val = (len((sets / f"{data[k]}.txt").read_text().split()) for k in ("train_split", "val_split"))
        return train, val

    def count(folder: Path) -> int:
        return sum(1 for _, _, files in os.walk(folder) for f in files if f.lower().endswith(IMAGE_SUFFIXES))

    return count(root / data["train_split"]), count(root / data["val_split"])


def measure_throughput(model_cfg: Any, train_cfg: Any, device: torch.device, batch: int,
                       seconds: float = 2.0) -> Throughput:
    """Training and evaluation images/s of the configured model on random images: on a GPU one
    warm-up iteration, then timed ones for ``seconds`` (at least two); on a CPU, where a
    ResNet-50 iteration takes seconds, one timed training iteration and one timed forward pass
    (a first CPU iteration costs little more than the next ones)."""
    from robustlab.pruning.models import ModelSpec, create_model

    spec = ModelSpec(name=model_cfg["name"], num_classes=int(model_cfg["num_classes"]),
                     img_size=int(model_cfg["img_size"]), in_chans=int(model_cfg.get("in_chans", 3)),
                     kwargs=dict(model_cfg.get("kwargs") or {}))
    model = create_model(spec).to(device)
    cuda = device.type == "cuda"
    amp = cuda and bool(train_cfg.get("amp", True))
    fmt = torch.channels_last if cuda and train_cfg.get("channels_last", True) else torch.contiguous_format
    model = model.to(memory_format=fmt)
    x = torch.randn(batch, spec.in_chans, spec.img_size, spec.img_size, device=device).contiguous(memory_format=fmt)
    y = torch.randint(spec.num_classes, (batch,), device=device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def train_once() -> None:
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    @torch.no_grad()
    def evaluate_once() -> None:
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
            model(x)

    calls, warm = (2, True) if cuda else (1, False)
    model.train()
    train = batch / _time_per_call(train_once, device, seconds if cuda else 0.0, calls, warmup=warm)
    model.eval()
    evaluate = batch / _time_per_call(evaluate_once, device, seconds if cuda else 0.0, calls, warmup=warm)
    return Throughput(train, evaluate, str(device), batch, "bf16 autocast" if amp else "float32")


def _time_per_call(fn: Any, device: torch.device, seconds: float, calls: int, warmup: bool) -> float:
    if warmup:
        fn()
    times: list[float] = []
    while len(times) < calls or sum(times) < seconds and len(times) < 50:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


@dataclass
class JobCost:
    """The cost of one job."""

    overrides: list[str]
    label: str
    trainings: int
    epochs: tuple[int, int]
    train_size: int
    val_size: int
    sizes_from: str
    images_per_epoch: int
    batch_size: int
    eval_images: int
    suites: list[str]
    world_size: int
    throughput: Throughput
    device_note: str = ""

    @property
    def train_images(self) -> int:
        dense, retrain = self.epochs
        return self.images_per_epoch * (dense + retrain * (self.trainings - 1))

    @property
    def device_hours(self) -> float:
        seconds = (self.train_images / self.throughput.train
                   + self.trainings * self.eval_images / self.throughput.evaluate)
        return seconds / 3600.0

    @property
    def wall_hours(self) -> float:
        return self.device_hours / self.world_size


def job_cost(cfg: Any, overrides: list[str], world_size: int, measured: dict[tuple, Throughput]) -> JobCost:
    """The cost of one composed job config (``measured`` caches throughputs between jobs)."""
    from robustlab.pruning.sweep_spec import resolve_device

    train, data, ev = cfg["train"], cfg["data"], cfg["eval"]
    n_train, n_val, source = split_sizes(data)
    batch = int(train["batch_size"])
    per_epoch = n_train // batch
    if train.get("max_batches_per_epoch") is not None:
        per_epoch = min(per_epoch, int(train["max_batches_per_epoch"]))
    retrain = train.get("retrain_epochs")
    asked = str(cfg.get("device", "auto"))
    # CUDA asked for but absent here: measure what this machine has.
    device = resolve_device(asked if torch.cuda.is_available() or not asked.startswith("cuda") else "cpu")
    local = max(1, batch // world_size)
    probe = min(local, 2) if device.type == "cpu" else local
    key = (str(cfg["model"]), str(train), str(device), probe)
    if key not in measured:
        measured[key] = measure_throughput(cfg["model"], train, device, probe)
    eval_images = n_val if ev.get("max_images") is None else min(n_val, int(ev["max_images"]))
    return JobCost(overrides=overrides, label=str(cfg["model"].get("label") or cfg["model"]["name"]),
                   trainings=int(cfg["method"]["steps"]) + 1,
                   epochs=(int(train["epochs"]), int(retrain if retrain is not None else train["epochs"])),
                   train_size=n_train, val_size=n_val, sizes_from=source, images_per_epoch=per_epoch * batch,
                   batch_size=batch, eval_images=eval_images, suites=sorted((ev.get("suites") or {}).keys()),
                   world_size=world_size, throughput=measured[key],
                   device_note="" if str(cfg.get("device")) in ("auto", device.type, str(device)) else
                   f"; device={cfg.get('device')} is not available here")


def _launcher_devices(launcher: Any) -> int:
    target = str((launcher or {}).get("_target_", ""))
    if "submitit" in target:
        return int(launcher.get("nodes", 1)) * int(launcher.get("tasks_per_node", 1))
    return 1


def format_job(job: JobCost) -> str:
    """The cost of one job, as printed."""
    t = job.throughput
    dense, retrain = job.epochs
    lines = [
        f"  data: {job.train_size:,} training / {job.val_size:,} held-out images ({job.sizes_from})",
        f"  trainings: {job.trainings} (dense + {job.trainings - 1} pruning steps), {dense} epochs dense, "
        f"{retrain} per retraining; {job.images_per_epoch // job.batch_size:,} steps of {job.batch_size} images "
        f"per epoch",
        f"  images per training step: {job.images_per_epoch * dense:,} dense, {job.images_per_epoch * retrain:,} "
        f"per retraining; {job.train_images:,} in all; {job.eval_images:,} evaluated per step",
        f"  measured here: {t.train:,.2f} training and {t.evaluate:,.2f} evaluation images/s on {t.device} "
        f"(batch {t.batch}, {t.precision}){job.device_note}",
        f"  estimate: {job.device_hours:,.1f} device-hours; {job.wall_hours:,.1f} h wall on {job.world_size} "
        f"device(s) (linear scaling assumed)",
    ]
    if job.suites:
        lines.append(f"  not in the estimate: the evaluation suites {', '.join(job.suites)}")
    return "\n".join(lines)


def format_slurm(launcher: Any, jobs: list[JobCost]) -> str:
    """The Slurm jobs that ``hydra/launcher=submitit_slurm`` would submit for ``jobs``."""
    limit_h = float(launcher.get("timeout_min", 0)) / 60.0
    gpus = int(launcher.get("gpus_per_node") or 0)
    lines = [f"slurm: {len(jobs)} job(s) (array parallelism {launcher.get('array_parallelism')}), each "
             f"{launcher.get('nodes')} node(s) x {launcher.get('tasks_per_node')} task(s), {gpus} GPU(s) and "
             f"{int(launcher.get('cpus_per_task') or 0) * int(launcher.get('tasks_per_node') or 1)} CPUs per node, "
             f"{launcher.get('mem_gb')} GB, partition {launcher.get('partition')}, time limit {limit_h:g} h"]
    for i, job in enumerate(jobs):
        runs = math.ceil(job.wall_hours / limit_h) if limit_h > 0 else 1
        note = "" if runs <= 1 else f"; needs {runs} runs of the time limit ({runs - 1} requeues, " \
            f"max_num_timeout={launcher.get('max_num_timeout')})"
        lines.append(f"  job {i}: {_varying(jobs, i)}: {job.wall_hours:,.1f} h wall{note}")
    return "\n".join(lines)


def _varying(jobs: list[JobCost], i: int) -> str:
    """Job ``i``'s overrides that not every job shares (all of them for a single job)."""
    shared = set.intersection(*(set(j.overrides) for j in jobs)) if len(jobs) > 1 else set()
    return " ".join(o for o in jobs[i].overrides if o not in shared) or "(no overrides)"


def expand_overrides(args: list[str]) -> list[list[str]]:
    """The jobs of a command line: Hydra's sweep overrides (``a=1,2``) expanded, as a multirun
    with the basic sweeper would (``plan=true`` and ``-m`` dropped)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    args = [a for a in args if a not in ("-m", "--multirun") and not a.replace(" ", "").lstrip("+").startswith("plan=")]
    choices = []
    for arg, o in zip(args, OverridesParser.create().parse_overrides(args), strict=True):
        if o.is_sweep_override():
            choices.append([f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()])
        else:
            choices.append([arg])
    return [list(job) for job in itertools.product(*choices)]


def print_costs(args: list[str]) -> list[JobCost]:
    """``robustlab-prune ... plan=true``: compose every job of the command, print its cost."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from robustlab.common.hydra_app import CONFIG_ENV, config_dir
    from robustlab.common.hydra_errors import composition_errors, unresolvable
    from robustlab.pruning.config import bind
    from robustlab.pruning.job_threads import apply_job_threads

    root = config_dir()
    os.environ[CONFIG_ENV] = str(root)
    warnings.filterwarnings("ignore", message=".*is validated against ConfigStore schema")
    jobs: list[JobCost] = []
    measured: dict[tuple, Throughput] = {}
    launcher: dict[str, Any] | None = None
    # an unknown option, a key not in the config, an override Hydra cannot parse: one line
    with initialize_config_dir(config_dir=str(root), version_base="1.3"), composition_errors():
        for overrides in expand_overrides(args):
            cfg = compose(config_name="pruning", overrides=overrides, return_hydra_config=True)
            launcher = cast(dict[str, Any], OmegaConf.to_container(cfg.hydra.launcher, resolve=False))
            try:
                job_cfg: dict[str, Any] = {
                    str(k): OmegaConf.to_container(cfg[k], resolve=True) if OmegaConf.is_config(cfg[k]) else cfg[k]
                    for k in cfg if k != "hydra"}
            except OmegaConfBaseException as exc:  # ${oc.env:UNSET}, ${missing.key}: one line
                raise unresolvable(cfg, exc) from exc
            bind(job_cfg)  # every value checked before anything is measured
            apply_job_threads(job_cfg.get("threads"), launcher, int(job_cfg["train"].get("num_workers") or 0))
            jobs.append(job_cost(job_cfg, overrides, _launcher_devices(launcher), measured))
    print(f"plan (nothing is trained): {len(jobs)} job(s) of: {' '.join(args)}")
    for i, job in enumerate(jobs):
        print(f"job {i}: {job.label} {_varying(jobs, i)}")
        print(format_job(job))
    total = sum(j.device_hours for j in jobs)
    print(f"total: {total:,.1f} device-hours for {len(jobs)} job(s), "
          f"{sum(j.train_images for j in jobs):,} training images")
    if launcher is not None and "SlurmLauncher" in str(launcher.get("_target_", "")):
        print(format_slurm(launcher, jobs))
    return jobs
