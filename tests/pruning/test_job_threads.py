"""A sweep job's threads: its cores shared with the launcher's parallel jobs, torchrun's ranks and
its DataLoader workers; ``threads=`` and ``ROBUSTLAB_THREAD_POLICY=torch`` as the user's choices."""

from __future__ import annotations

import pytest

from robustlab.common.threads import POLICY_ENV
from robustlab.pruning.job_threads import apply_job_threads, job_threads, launcher_share

BASIC = {"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"}
JOBLIB = {"_target_": "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher", "n_jobs": 2}
SUBMITIT = {"_target_": "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher",
            "cpus_per_task": 3}


@pytest.mark.parametrize("launcher, environ, expected", [
    (None, {}, (1, 8)), (BASIC, {}, (1, 8)), (JOBLIB, {}, (2, 8)),
    ({**JOBLIB, "n_jobs": -1}, {}, (8, 8)), ({**JOBLIB, "n_jobs": -3}, {}, (6, 8)),
    (SUBMITIT, {}, (1, 3)), (BASIC, {"LOCAL_WORLD_SIZE": "4"}, (4, 8))])
def test_launcher_share(launcher, environ, expected):
    assert launcher_share(launcher, environ, cores=8) == expected


@pytest.fixture
def eight_cores(monkeypatch):
    monkeypatch.setattr("robustlab.pruning.job_threads.available_cores", lambda: 8)
    monkeypatch.delenv(POLICY_ENV, raising=False)


def test_job_threads_divide_the_cores(eight_cores):
    assert job_threads(None, BASIC, 0, {})[0] == 8
    assert job_threads(None, JOBLIB, 0, {})[0] == 4
    n, why = job_threads(None, JOBLIB, 1, {})
    assert n == 3 and why.startswith("3 (8 core(s) available, 2 process(es) at once, 1 loader worker(s)")
    assert job_threads(None, BASIC, 0, {"LOCAL_WORLD_SIZE": "4"})[0] == 2


def test_threads_key_omp_num_threads_and_torch_policy_are_the_users_choice(eight_cores, monkeypatch):
    assert job_threads(2, JOBLIB, 1, {}) == (2, "2 (threads=2)")
    assert job_threads(None, JOBLIB, 1, {"OMP_NUM_THREADS": "5"}) == (5, "5 (OMP_NUM_THREADS=5)")
    assert job_threads(2, JOBLIB, 1, {"OMP_NUM_THREADS": "5"})[0] == 2
    assert job_threads(None, JOBLIB, 1, {"OMP_NUM_THREADS": ""})[0] == 3
    monkeypatch.setenv(POLICY_ENV, "torch")
    assert job_threads(None, JOBLIB, 1, {}) == (None, "torch default (ROBUSTLAB_THREAD_POLICY=torch)")
    assert job_threads(2, JOBLIB, 1, {})[0] == 2


def test_apply_sets_torchs_pool_and_blas(eight_cores):
    import torch
    from threadpoolctl import threadpool_info

    from robustlab.common.threads import limited_threads

    with limited_threads(torch.get_num_threads()):  # restored afterwards for the other tests
        assert apply_job_threads(1, BASIC, 0) == "threads: 1 (threads=1)"
        assert torch.get_num_threads() == 1
        assert all(lib["num_threads"] == 1 for lib in threadpool_info())
