"""JPEG decoding and training augmentation on the device (nvJPEG on a GPU).

The loader workers only read the files' bytes; :class:`GpuAugment` decodes a whole batch with
``torchvision.io.decode_jpeg(..., device=...)``, then takes a random-resized crop of each image
(torchvision's ``RandomResizedCrop.get_params``: scale (0.08, 1), ratio (3/4, 4/3)), resizes it
to ``img_size`` (bilinear, antialiased), flips half of them and normalises. On a CPU the same
code runs with ``device="cpu"`` (the tests and the bench use it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset


def _read_bytes(path: str) -> bytes:
    return Path(path).read_bytes()


class EncodedImageFolder(Dataset):
    """An ImageFolder split whose items are the raw file bytes and the label.

    Workers hand plain ``bytes`` back (one copy through the queue), not tensors: thousands of
    small shared-memory tensors per second exhaust the file descriptors torch shares them by.
    """

    def __init__(self, root: str | Path, split: str):
        from torchvision.datasets import ImageFolder

        self.folder = ImageFolder(str(Path(root).expanduser() / split), loader=_read_bytes)

    @classmethod
    def from_bundle(cls, bundle: Any) -> EncodedImageFolder:
        """The training split of an ImageFolder :class:`DataBundle`.

        Raises:
            ValueError: the data is not an ImageFolder (GPU decoding reads JPEG folders only).
        """
        if bundle.spec.name != "imagefolder":
            raise ValueError(f"train.gpu_decode=true reads JPEG ImageFolder data; data.name={bundle.spec.name!r}")
        return cls(bundle.spec.root, bundle.spec.train_split)

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, index: int) -> dict[str, Any]:
        data, label = self.folder[index]
        return {"data": data, "label": int(label)}


def collate_encoded(items: list[dict[str, Any]]) -> dict[str, Any]:
    """A batch of encoded images (a list: their lengths differ) and their labels."""
    return {"data": [it["data"] for it in items], "label": torch.tensor([it["label"] for it in items])}


def decode_batch(data: list[bytes], device: torch.device) -> list[torch.Tensor]:
    """Decode JPEG bytes to RGB ``(3, H, W)`` uint8 tensors on ``device``, all at once.

    A batch that the batched decoder refuses (a CMYK or non-JPEG file among the JPEGs, as a few
    ImageNet files are) is decoded file by file, falling back to the CPU decoder for the odd ones.
    """
    from torchvision.io import ImageReadMode, decode_image, decode_jpeg

    encoded = [torch.frombuffer(bytearray(d), dtype=torch.uint8) for d in data]
    try:
        return list(decode_jpeg(encoded, mode=ImageReadMode.RGB, device=device))
    except RuntimeError:
        out = []
        for d in encoded:
            try:
                out.append(decode_jpeg(d, mode=ImageReadMode.RGB, device=device))
            except RuntimeError:
                out.append(decode_image(d, mode=ImageReadMode.RGB).to(device))
        return out


class GpuAugment:
    """Decode, random-resized-crop, flip and normalise a batch of JPEG bytes on a device.

    Args:
        img_size: output side in pixels.
        mean, std: normalisation per channel.
        seed: seeds the crops and flips (one generator for the run).
        scale, ratio: the crop's area fraction and aspect-ratio ranges (torchvision's defaults).
    """

    def __init__(self, img_size: int, mean: tuple[float, ...], std: tuple[float, ...], seed: int = 0,
                 scale: tuple[float, float] = (0.08, 1.0), ratio: tuple[float, float] = (3 / 4, 4 / 3)):
        self.img_size, self.mean, self.std = img_size, mean, std
        self.scale, self.ratio = scale, ratio
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, data: list[bytes], device: torch.device) -> torch.Tensor:
        from torchvision.transforms import RandomResizedCrop

        images = decode_batch(data, device)
        s = self.img_size
        out = torch.empty(len(images), 3, s, s, device=device)
        # get_params draws from torch's global generator: fork it and seed it from ours.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(2**62, (1,), generator=self.generator)))
            for i, img in enumerate(images):
                top, left, h, w = RandomResizedCrop.get_params(img, list(self.scale), list(self.ratio))
                crop = img[None, :, top: top + h, left: left + w].float()
                crop = F.interpolate(crop, size=(s, s), mode="bilinear", antialias=True, align_corners=False)
                out[i] = crop[0].flip(-1) if bool(torch.rand(()) < 0.5) else crop[0]
        mean = torch.tensor(self.mean, device=device).view(1, 3, 1, 1) * 255.0
        std = torch.tensor(self.std, device=device).view(1, 3, 1, 1) * 255.0
        return (out - mean) / std
