"""The training input pipeline: each rank's slice of every global batch, on-device JPEG decoding."""

import pytest
import torch
from torchvision.io import encode_jpeg

from robustlab.common.errors import ConfigError
from robustlab.pruning.data.loader import GlobalBatchSampler, LoaderOptions, TrainStream
from robustlab.pruning.data.sources import DataSpec, build_data


def test_rank_slices_make_up_the_single_process_batches():
    one = list(GlobalBatchSampler(50, 8, seed=3))
    ranks = [list(GlobalBatchSampler(50, 8, seed=3, rank=r, world_size=4)) for r in range(4)]
    assert len(one) == 6 and all(len(r) == 6 for r in ranks)
    for b, batch in enumerate(one):
        assert sum((r[b] for r in ranks), []) == batch
    sampler = GlobalBatchSampler(50, 8, seed=3)
    sampler.set_epoch(1)
    with pytest.raises(ConfigError, match="does not split over 3 ranks"):
        GlobalBatchSampler(50, 8, seed=3, world_size=3)
    epoch1 = sum(list(sampler), [])
    assert epoch1 != sum(one, []) and len(set(epoch1)) == 48 and set(epoch1) <= set(range(50))


def _jpeg_folder(root, n=12, side=40):
    g = torch.Generator().manual_seed(0)
    for i in range(n):
        folder = root / "train" / f"c{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        img = (torch.rand(3, side, side + 8 * (i % 2), generator=g) * 255).to(torch.uint8)
        (folder / f"{i}.jpg").write_bytes(encode_jpeg(img).numpy().tobytes())


def test_device_decoding_gives_normalised_crops_with_the_folder_labels(tmp_path):
    _jpeg_folder(tmp_path)
    data = build_data(DataSpec(name="imagefolder", root=str(tmp_path), img_size=16, train_split="train",
                               val_split="train"))
    cpu = torch.device("cpu")
    plain = list(TrainStream(data, 4, seed=0, device=cpu).epoch(0))
    decoded = list(TrainStream(data, 4, seed=0, device=cpu, options=LoaderOptions(gpu_decode=True)).epoch(0))
    assert len(decoded) == len(plain) == 3
    for (images, labels), (_, plain_labels) in zip(decoded, plain, strict=True):
        assert images.shape == (4, 3, 16, 16) and images.dtype == torch.float32
        assert torch.equal(labels, plain_labels)  # same order: the sampler, not the decoder, decides it
        # normalised with the ImageNet mean and std: pixel values in [0, 1] map into this range
        assert images.min() >= (0 - 0.485) / 0.229 - 1e-4 and images.max() <= (1 - 0.406) / 0.225 + 1e-4


class _Limits(torch.utils.data.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        from robustlab.common.threads import current_limits

        return current_limits()


def test_loader_workers_run_one_thread_in_each_pool(tmp_path):
    from robustlab.pruning.data.sources import worker_loader

    seen = list(worker_loader(_Limits(), batch_size=None, num_workers=2))
    assert len(seen) == 4
    for limits in seen:
        assert limits["torch"] == 1 and limits["blas"] in (0, 1) and limits["openmp"] in (0, 1)
    _jpeg_folder(tmp_path)
    data = build_data(DataSpec(name="imagefolder", root=str(tmp_path), img_size=16, train_split="train",
                               val_split="train"))
    stream = TrainStream(data, 4, seed=0, device=torch.device("cpu"), options=LoaderOptions(num_workers=1))
    assert stream.loader.worker_init_fn is not None and len(list(stream.epoch(0))) == 3
