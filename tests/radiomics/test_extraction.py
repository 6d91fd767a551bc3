"""The bundled parameter files, sharding, and the work items."""

from __future__ import annotations

import pytest
from robustlab.radiomics.extract import shard_items, work_items
from robustlab.radiomics.pipeline import run_study
from robustlab.radiomics.study import list_extractions, load_study, validate_study


@pytest.mark.parametrize(("name", "expected"), [("paper2d", 944), ("paper3d", 1316)])
def test_bundled_parameter_files_feature_counts(image_study, tmp_path, name, expected):
    assert {"paper2d", "paper3d"} <= set(list_extractions())
    study = image_study(n_acquisitions=2, n_rois=1, extraction=name, size=40, slices=5)
    res = run_study(study, tmp_path / "out", n_jobs=2, cache_dir=tmp_path / "cache",
                    progress=False, texture=False, report=False)
    assert res.counts == {"cached": 0, "extracted": 2, "failed": 0}
    per_roi = res.features.groupby(["acquisition", "roi"]).size()
    assert (per_roi == expected).all(), per_roi
    types = set(res.features["image_type"])
    n_types = 10 if name == "paper2d" else 14
    assert len(types) == n_types, sorted(types)
    shape = res.features[res.features["feature_class"] == "shape"]
    assert shape.groupby(["acquisition", "roi"]).size().eq(14).all()


def test_shards_partition_the_items(image_study):
    validated = validate_study(load_study(image_study(n_acquisitions=3)))
    items = work_items(validated, shuffle=["rep1"], seed=0)
    assert len(items) == 3 * 4 + 4
    shards = [shard_items(items, (i, 3)) for i in range(3)]
    keys = [it.key for s in shards for it in s]
    assert sorted(keys) == sorted(it.key for it in items) and len(set(keys)) == len(keys)
    assert [it.key for it in shard_items(items, (1, 3))] == [it.key for it in shards[1]]
    with pytest.raises(ValueError, match="0 <= i < n"):
        shard_items(items, (3, 3))
