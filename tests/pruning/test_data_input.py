"""On-disk data that used to be taken quietly: files ImageFolder does not list, class folders
that differ between the splits, a single class."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from robustlab.common.errors import DataError
from robustlab.pruning.data.sources import DataSpec, build_data


def spec(root, **kw):
    return DataSpec(name="imagefolder", root=str(root), img_size=32, **kw)


def test_a_gif_among_jpegs_is_read_not_left_out(tmp_path, image_folder):
    root = image_folder(tmp_path / "data", n=2)
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(root / "val" / "bees" / "2.gif")
    data = build_data(spec(root), progress=False)
    assert len(data.val) == 7 and len(data.train) == 6
    paths = [p for p, _ in data.val.folder.samples]
    assert str(root / "val" / "bees" / "2.gif") in paths
    item = data.val[paths.index(str(root / "val" / "bees" / "2.gif"))]
    assert item["label"] == data.classes.index("bees") and tuple(item["image"].shape) == (3, 32, 32)


def test_a_file_that_is_no_image_is_named_or_listed_as_skipped(tmp_path, image_folder):
    root = image_folder(tmp_path / "data", n=2)
    notes = root / "train" / "ants" / "notes.txt"
    notes.write_text("collected in 2024")
    (root / "train" / "ants" / ".DS_Store").write_bytes(b"\0")  # hidden files are not data
    with pytest.raises(DataError, match=rf"ImageFolder 'train' split: {notes} cannot be decoded"):
        build_data(spec(root), progress=False)
    data = build_data(spec(root, skip_bad_images=True), report_dir=tmp_path, progress=False)
    assert len(data.train) == 6
    assert pd.read_csv(tmp_path / "bad_images.csv")["path"].tolist() == [str(notes)]


def test_class_folders_that_differ_between_the_splits_are_named(tmp_path, image_folder):
    root = image_folder(tmp_path / "data", n=1)
    (root / "val" / "wasps").rename(root / "val" / "hornets")
    with pytest.raises(DataError, match=r"the train and val splits have different class folders: only in train "
                                        r"\(wasps\); only in val \(hornets\); give both splits the same classes"):
        build_data(spec(root), progress=False)


def test_a_single_class_is_refused(tmp_path, image_folder):
    root = image_folder(tmp_path / "data", n=1)
    for split in ("train", "val"):
        for cls in ("bees", "wasps"):
            for f in (root / split / cls).iterdir():
                f.unlink()
            (root / split / cls).rmdir()
    with pytest.raises(DataError, match=r"one class folder \(ants\); a classifier needs at least 2 "
                                        r"\(with one, top-1 is 1\.0 by construction\)"):
        build_data(spec(root), progress=False)
