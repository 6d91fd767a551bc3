"""One design simulated over many seeds: the spread of its results, not one draw.

A seed draws everything random in the digital phantom: its textures, the set-up poses, each
scanner's receive-array rotation, non-uniformity and off-resonance maps, the operators' ROI
offsets and the noise. :func:`run_seeds` simulates a protocol at each seed and analyses it
with :func:`robustlab.radiomics.pipeline.run_study` (one process per seed, ``n_jobs`` seeds
at once, each lowered in priority by ``nice``); every seed's tables are written atomically
under ``out_dir/seed<k>`` with the hash of what produced them, so an interrupted run resumes
and an unchanged seed is read back, and images and features come from the shared caches.

- :func:`calibration_table`: per published figure, the median and the 5th and 95th
  percentiles over seeds of the same share of excellent features, beside the figure (used to
  calibrate the scanner files, ``scripts/calibrate_phantom.py``).
- :mod:`robustlab.radiomics.planner` turns the same runs into a study plan.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from robustlab.common.errors import RunLockedError
from robustlab.common.hashing import json_hash
from robustlab.common.io import read_table, write_json, write_table
from robustlab.common.runlock import RunLock

log = logging.getLogger(__name__)

#: The tables kept per seed (stem, columns of the run's table kept; None: every column).
SEED_TABLES: tuple[tuple[str, tuple[str, ...] | None], ...] = (
    ("summary", ("comparison", "group", "statistic", "n_rois", "n_features", "n_excellent",
                 "pct_excellent", "family")),
    ("per_feature", ("comparison", "group", "feature", "image_type", "feature_class", "value",
                     "excellent")),
    ("selection", ("family", "feature", "robust")),
)
CALIBRATION_COLUMNS = ["group", "figure", "published", "n_seeds", "median", "p5", "p95", "inside",
                       "median_ok"]
#: A single published figure is met by a median within this many points of it.
MEDIAN_TOLERANCE = 3.0


def published_only(protocol: Mapping[str, Any]) -> dict[str, Any]:
    """``protocol`` with only the comparisons of a published group and the acquisitions they use.

    The other acquisitions draw from their own random streams (the noise by acquisition id,
    the pose by session), so leaving them out changes nothing in the ones kept.
    """
    published = set(protocol.get("published") or {})
    comparisons = [c for c in protocol.get("comparisons", []) if c.get("group") in published]
    used = {a for c in comparisons for a in [*c.get("acquisitions", []),
                                             *(x for p in c.get("pairs", []) for x in p)]}
    acquisitions = dict(protocol["acquisitions"])
    used |= {acquisitions[a]["mask_from"] for a in used if acquisitions[a].get("mask_from")}
    return {**protocol, "comparisons": comparisons,
            "acquisitions": {k: v for k, v in acquisitions.items() if k in used}}


def resolve_scanners(protocol: Mapping[str, Any]) -> dict[str, Any]:
    """``protocol`` with every scanner written out (a name or ``{base: ...}`` replaced by the
    scanner file's content), so that a hash of it changes when a scanner file does."""
    from robustlab.radiomics.phantom import get_scanner

    scanners = {}
    for key, ref in dict(protocol.get("scanners") or {}).items():
        if isinstance(ref, str):
            scanners[key] = get_scanner(ref)
        else:
            ref = dict(ref)
            base = ref.pop("base", None)
            scanners[key] = {**(get_scanner(str(base)) if base is not None else {}), **ref}
    return {**protocol, "scanners": scanners}


def _lower_priority(nice: int) -> None:
    """Raise this process's niceness to at least ``nice`` (``os.nice`` adds to it)."""
    if hasattr(os, "nice"):
        current = os.nice(0)
        if nice > current:
            os.nice(nice - current)


def run_seed(protocol: Mapping[str, Any], phantom: Mapping[str, Any], seed: int, out_dir: Path,
             cache_dir: Path, options: Mapping[str, Any], nice: int = 10) -> Path:
    """Simulate and analyse ``protocol`` at ``seed``; its tables go to ``out_dir/seed<seed>``.

    Nothing is computed when the folder holds the tables of the same protocol, phantom,
    options and seed (``done.json`` records their hash; it is written last). The seed folder
    and the simulated study (:func:`study_folder`) are locked while they are written: two
    plans or calibrations sharing them take turns.
    """
    from robustlab.radiomics.phantom import simulate_study
    from robustlab.radiomics.pipeline import run_study

    key = json_hash({"protocol": dict(protocol), "phantom": dict(phantom), "seed": seed,
                     "options": dict(options)}, length=16, compact=False)
    folder = Path(out_dir) / f"seed{seed}"
    done = folder / "done.json"
    with RunLock(folder, what="seed folder", wait=True):
        if done.is_file() and read_done(done) == key:
            return folder
        _lower_priority(nice)
        study_dir = study_folder(Path(cache_dir), protocol, phantom, seed)
        with RunLock(study_dir, what="simulated study", wait=True):
            _start_from_sibling(study_dir)
            study = simulate_study(dict(protocol), dict(phantom), study_dir, seed, n_jobs=1, progress=False)
            result = run_study(study, folder / "run", n_jobs=1, cache_dir=cache_dir, seed=seed,
                               progress=False, **{"report": False, **options})
        for stem, columns in SEED_TABLES:
            table = getattr(result, "selection" if stem == "selection" else stem)
            write_table(table[list(columns)] if columns else table, folder / stem, ("parquet",))
        write_json(done, {"key": key, "seed": seed})
    return folder


def study_folder(cache_dir: Path, protocol: Mapping[str, Any], phantom: Mapping[str, Any], seed: int) -> Path:
    """``cache_dir/phantoms/seeds/<name>-<hash>-seed<seed>``: the simulated study of one protocol
    (scanners written out, :func:`resolve_scanners`) and phantom at one seed, named by the hash
    of their content: two designs of one ``name`` never share a folder."""
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in str(protocol.get("name", "study")))
    digest = json_hash({"protocol": dict(protocol), "phantom": dict(phantom)}, length=12, compact=False)
    return cache_dir / "phantoms" / "seeds" / f"{name}-{digest}-seed{seed}"


def _start_from_sibling(study_dir: Path) -> None:
    """Start a new study folder from the newest finished one of the same name and seed.

    Its images, masks and sidecars are linked (hard links; copied where the file system has
    none): :func:`~robustlab.radiomics.phantom.simulate_study` keeps each acquisition whose
    sidecar holds the digest of its configuration, so a tuned scanner simulates only its own
    acquisitions again. Files are replaced atomically, never written in place, so a link never
    changes the folder it came from. A sibling in use by another process is not read.
    """
    if (study_dir / "study.yaml").exists():
        return
    name, _, seed = study_dir.name.rpartition("-seed")
    stem = name.rsplit("-", 1)[0]
    siblings = sorted((p for p in study_dir.parent.glob(f"{stem}-*-seed{seed}")
                       if p != study_dir and (p / "study.yaml").is_file()),
                      key=lambda p: (p / "study.yaml").stat().st_mtime)
    if not siblings:
        return
    try:
        with RunLock(siblings[-1], what="simulated study"):
            for sub in ("images", "masks"):
                shutil.copytree(siblings[-1] / sub, study_dir / sub, dirs_exist_ok=True,
                                copy_function=_link_or_copy)
    except (RunLockedError, OSError) as exc:
        log.debug("%s: not started from %s (%s)", study_dir, siblings[-1], exc)


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def read_done(path: Path) -> str | None:
    """The hash recorded in a seed's ``done.json`` (None when unreadable)."""
    import json

    try:
        return str(json.loads(path.read_text(encoding="utf-8"))["key"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run_seeds(protocol: Mapping[str, Any], phantom: Mapping[str, Any], seeds: Sequence[int],
              out_dir: Path, cache_dir: Path, options: Mapping[str, Any] | None = None,
              n_jobs: int = 2, nice: int = 10, progress: bool = False) -> list[Path]:
    """:func:`run_seed` for every seed, ``n_jobs`` at once (joblib's process pool).

    Args:
        progress: a line per seed done: done/total, elapsed, time left, rate
            (:func:`robustlab.common.progress.progress`; a seed read back counts as done).

    Returns:
        The seed folders, in the order of ``seeds``.
    """
    from joblib import Parallel, delayed

    from robustlab.common.progress import progress as progress_bar

    options = dict(options or {})
    protocol = resolve_scanners(protocol)
    args = [(protocol, phantom, s, out_dir, cache_dir, options, nice) for s in seeds]
    if n_jobs == 1 or len(seeds) == 1:
        runs: Any = (run_seed(*a) for a in args)
    else:  # results in the order of the seeds, each as soon as it and those before it are done
        runs = Parallel(n_jobs=n_jobs, return_as="generator")(delayed(run_seed)(*a) for a in args)
    folders = []
    # a seed takes minutes: every one is worth a line, also in a log
    with progress_bar(len(seeds), f"{protocol.get('name', 'study')} seeds", unit="seed",
                      enabled=progress, mininterval=0, delay=0) as bar:
        for folder in runs:
            folders.append(folder)
            bar.update(1)
    return folders


def load_seeds(folders: Sequence[Path], stem: str) -> pd.DataFrame:
    """One table (``summary``, ``per_feature`` or ``selection``) of every seed, with a ``seed`` column."""
    frames = []
    for folder in folders:
        table = read_table(Path(folder) / f"{stem}.parquet")
        table.insert(0, "seed", int(Path(folder).name.removeprefix("seed")))
        frames.append(table)
    return pd.concat(frames, ignore_index=True)


def calibration_table(summary: pd.DataFrame, published: Mapping[str, Sequence[float]]) -> pd.DataFrame:
    """Per published group: the spread over seeds of the share of excellent features.

    A published figure is a statistic of one study: a single comparison's share (``figure``
    ``value``), or, for a group reported as a range over its comparisons (three scanners,
    eight TE pairs), the lowest and the highest of them. Each is simulated as the same
    statistic of each seed (the group's smallest and largest comparison at that seed; a
    pairwise comparison's pairs count, its combined row does not), and ``median``, ``p5``,
    ``p95`` are its 50th, 5th and 95th percentiles over the seeds. ``inside``: the published
    figure lies in ``[p5, p95]``; ``median_ok``: the median lies within
    :data:`MEDIAN_TOLERANCE` points of a single figure, or inside a published range.
    """
    combined = {c.split("/", 1)[0] for c in summary["comparison"] if "/" in c}
    kept = summary[~summary["comparison"].isin(combined)]
    rows = []
    for group, (low, high) in published.items():
        mine = kept[kept["group"] == group]
        if not len(mine):
            continue
        per_seed = mine.groupby("seed")["pct_excellent"]
        figures = ([("value", low, per_seed.mean())] if low == high and mine.groupby("seed").size().max() == 1
                   else [("lowest", low, per_seed.min()), ("highest", high, per_seed.max())])
        for figure, target, values in figures:
            p5, median, p95 = np.percentile(values.to_numpy(np.float64), [5, 50, 95])
            ok = abs(median - target) <= MEDIAN_TOLERANCE if low == high else low <= median <= high
            rows.append({"group": group, "figure": figure, "published": float(target),
                         "n_seeds": len(values), "median": median, "p5": p5, "p95": p95,
                         "inside": bool(p5 <= target <= p95), "median_ok": bool(ok)})
    return pd.DataFrame(rows, columns=CALIBRATION_COLUMNS)
