"""The procedural shapes-on-textures dataset: determinism, masks, boxes, texture correlation."""

import pytest
import torch

from robustlab.pruning.data.shapes import SHAPES, ShapesOnTextures


def test_deterministic_per_seed_and_independent_of_batch():
    a = ShapesOnTextures(num_classes=5, img_size=32, size=16, seed=3)
    b = ShapesOnTextures(num_classes=5, img_size=32, size=16, seed=3)
    images, masks, boxes = a.render_indices(torch.arange(16))
    images_b, _, _ = b.render_indices(torch.arange(16))
    assert torch.equal(images, images_b)
    item = a[7]
    assert torch.allclose(item["image"], images[7], atol=1e-6)
    assert torch.equal(item["mask"], masks[7])
    other = ShapesOnTextures(num_classes=5, img_size=32, size=16, seed=4)
    assert not torch.equal(other.render_indices(torch.arange(16))[0], images)
    val = ShapesOnTextures(num_classes=5, img_size=32, size=16, seed=3, split="val")
    assert not torch.equal(val.render_indices(torch.arange(16))[0], images)



def test_redrawn_is_another_deterministic_set_of_the_split():
    ds = ShapesOnTextures(num_classes=5, img_size=32, size=16, seed=3)
    images = ds.render_indices(torch.arange(16))[0]
    again = ShapesOnTextures(num_classes=5, img_size=32, size=16, seed=3).redrawn(1)
    first = ds.redrawn(1).render_indices(torch.arange(16))[0]
    assert torch.equal(again.render_indices(torch.arange(16))[0], first)
    assert not torch.equal(first, images)
    assert not torch.equal(ds.redrawn(2).render_indices(torch.arange(16))[0], first)
    assert torch.equal(ds.redrawn(0).render_indices(torch.arange(16))[0], images)
    assert (len(again), again.classes, again.split) == (16, ds.classes, "train")

def test_masks_boxes_and_ranges():
    ds = ShapesOnTextures(num_classes=len(SHAPES), img_size=48, size=24, seed=0)
    images, masks, boxes = ds.render_indices(torch.arange(24))
    assert images.shape == (24, 3, 48, 48) and images.dtype == torch.float32
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    assert masks.dtype == torch.bool and masks.shape == (24, 48, 48)
    area = masks.float().mean(dim=(1, 2))
    assert bool((area > 0.01).all()) and bool((area < 0.6).all())
    for m, (x0, y0, x1, y1) in zip(masks, boxes.long().tolist(), strict=True):
        ys, xs = torch.nonzero(m, as_tuple=True)
        assert (x0, y0, x1, y1) == (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


def test_any_resolution_and_cache_agree():
    ds = ShapesOnTextures(num_classes=3, img_size=37, size=5, seed=1, cache=True)
    plain = ShapesOnTextures(num_classes=3, img_size=37, size=5, seed=1)
    cached, _, _ = ds.render_indices(torch.arange(5))
    fresh, _, _ = plain.render_indices(torch.arange(5))
    assert cached.shape == (5, 3, 37, 37)
    assert float((cached - fresh).abs().max()) <= 0.5 / 255 + 1e-6


@pytest.mark.parametrize("corr", [0.0, 1.0])
def test_texture_correlation(corr):
    ds = ShapesOnTextures(num_classes=4, img_size=16, size=400, seed=0, texture_correlation=corr)
    agree = float((ds.labels == ds.textures).float().mean())
    expected = corr + (1 - corr) / 4
    assert abs(agree - expected) < 0.06


def test_render_cue_conflict_uses_the_class_texture():
    ds = ShapesOnTextures(num_classes=4, img_size=32, size=4, seed=0, texture_correlation=1.0)
    im_a, mask_a, _ = ds.render([0, 0], [1, 2], seed=5)
    im_b, mask_b, _ = ds.render([3, 3], [1, 2], seed=5)
    assert torch.equal(ds.render([0, 0], [1, 2], seed=5)[0], im_a)
    # Same seed and texture, another shape: identical pixels where both shapes cover the image
    # and outside both (the background); another texture changes the common fill.
    both = mask_a[0] & mask_b[0]
    neither = ~mask_a[0] & ~mask_b[0]
    assert int(both.sum()) > 0
    assert torch.allclose(im_a[0][:, both], im_b[0][:, both])
    assert torch.allclose(im_a[0][:, neither], im_b[0][:, neither])
    common = mask_a[0] & mask_a[1]
    assert not torch.allclose(im_a[0][:, common], im_a[1][:, common])


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="num_classes"):
        ShapesOnTextures(num_classes=99)
    with pytest.raises(ValueError, match="texture_correlation"):
        ShapesOnTextures(texture_correlation=1.5)
    with pytest.raises(ValueError, match="split"):
        ShapesOnTextures(split="training")
    with pytest.raises(ValueError, match="draw"):
        ShapesOnTextures(draw=-1)
    ds = ShapesOnTextures(num_classes=3, img_size=16, size=2)
    with pytest.raises(ValueError, match="texture_classes"):
        ds.render([0], [5], seed=0)


def test_rendering_threads_change_no_pixel_and_are_given_back(monkeypatch):
    from robustlab.pruning.data import shapes

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        ds = ShapesOnTextures(num_classes=6, img_size=24, size=12, seed=3)
        monkeypatch.setattr(shapes, "RENDER_THREADS", None)
        two = ds.render_indices(torch.arange(12))
        monkeypatch.setattr(shapes, "RENDER_THREADS", 1)
        one = ds.render_indices(torch.arange(12))
        assert all(torch.equal(a, b) for a, b in zip(one, two, strict=True))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_rendered_splits_are_cached_on_disk_by_spec_and_renderer_version(tmp_path, monkeypatch):
    from robustlab.pruning.data import shapes

    kwargs = dict(num_classes=4, img_size=16, size=6, seed=0, cache=True, cache_dir=tmp_path)
    first = ShapesOnTextures(**kwargs).render_indices(torch.arange(6))
    folders = list(tmp_path.glob("shapes-*"))
    assert len(folders) == 1 and not list(tmp_path.glob(".*tmp*"))
    assert sorted(f.name for f in folders[0].iterdir()) == ["boxes.npy", "images.npy", "masks.npy"]
    monkeypatch.setattr(shapes.ShapesOnTextures, "_render_all",
                        lambda self: (_ for _ in ()).throw(AssertionError("rendered again")))
    again = ShapesOnTextures(**kwargs).render_indices(torch.arange(6))  # read from the file
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    monkeypatch.undo()
    ShapesOnTextures(**{**kwargs, "seed": 1})  # another spec: another file
    monkeypatch.setattr(shapes, "CACHE_VERSION", shapes.CACHE_VERSION + 1)
    ShapesOnTextures(**kwargs)  # another renderer version: another file
    assert len(list(tmp_path.glob("shapes-*"))) == 3
