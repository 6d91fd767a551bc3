"""robustlab-prune-fixtures: the four layouts, read back by the study's own readers."""

from __future__ import annotations

import json

from robustlab.pruning.data.fixtures import main


def test_every_layout_is_written_and_read_back(tmp_path, capsys):
    from robustlab.pruning.alignment.modelvshuman import list_stimuli, read_trials
    from robustlab.pruning.data.voc import read_annotation, voc_folder

    assert main([str(tmp_path / "fx")]) == 0
    assert main([str(tmp_path / "fx")]) == 0  # a second run replaces the files
    fx = tmp_path / "fx"
    out = capsys.readouterr().out
    assert f"coco: {fx / 'coco'}" in out and f"model-vs-human: {fx / 'model-vs-human'}" in out
    for split in ("train", "val"):
        classes = sorted(p.name for p in (fx / "imagefolder" / split).iterdir())
        assert len(classes) == 16 and classes[0] == "airplane"
        assert all(len(list((fx / "imagefolder" / split / c).glob("*.png"))) == 1 for c in classes)
    size, objects = read_annotation(voc_folder(fx / "voc", 2012) / "Annotations" / "2012_000001.xml")
    assert size == (30, 20) and len(objects) == 2
    listed = (fx / "coco" / "coco_20k_filenames.txt").read_text().split()
    assert len(listed) == 3 and all((fx / "coco" / "train2014" / name).exists() for name in listed)
    assert len(json.loads((fx / "coco" / "instances_train2014.json").read_text())["images"]) == 4
    assert len(list_stimuli(fx / "model-vs-human" / "datasets", "sketch")) == 3
    trials = read_trials([fx / "model-vs-human" / "raw-data"], "sketch")
    assert len(trials) == 3 and trials["correct"].all() and set(trials["subj"]) == {"subject-01"}
