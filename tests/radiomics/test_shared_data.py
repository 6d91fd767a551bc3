"""Real data: the published test-retest feature tables, and pyradiomics' own baseline cases."""

from __future__ import annotations

import ast

import numpy as np
import pandas as pd
import pytest
import yaml

from robustlab.radiomics.pipeline import run_study


def test_size_dependency_reproduces_repeatable_features(shared_data, tmp_path):
    src = shared_data / "radiomics" / "size_dependency"
    acquisitions, comparisons = {}, []
    for scanner in "ABC":
        for rep in ("test", "retest"):
            acquisitions[f"{scanner}_{rep}"] = {
                "features": str(src / f"output_pyradiomics_{scanner}_{rep}.csv"), "scanner": scanner}
        comparisons.append({"name": f"repeat_{scanner}", "statistic": "icc",
                            "acquisitions": [f"{scanner}_test", f"{scanner}_retest"]})
    study = tmp_path / "size_dependency.yaml"
    study.write_text(yaml.safe_dump({"name": "size_dependency", "threshold": 0.9,
                                     "acquisitions": acquisitions, "comparisons": comparisons}))
    res = run_study(study, tmp_path / "out", n_jobs=1, cache_dir=tmp_path / "cache", progress=False)
    summary = pd.read_csv(tmp_path / "out" / "summary.csv").set_index("comparison")
    per_feature = pd.read_parquet(tmp_path / "out" / "per_feature.parquet")
    expected_counts = {"A": 883, "B": 864, "C": 742}
    for scanner, count in expected_counts.items():
        published = pd.read_csv(src / f"repeatable_features_{scanner}.csv", index_col=0)
        want = {c.replace(".", "-") for c in published.columns}
        rows = per_feature[per_feature["comparison"] == f"repeat_{scanner}"]
        got = set(rows.loc[rows["excellent"], "feature"])
        assert len(want) == count
        assert got == want, (scanner, sorted(got ^ want)[:5])
        assert summary.loc[f"repeat_{scanner}", "n_excellent"] == count
        assert summary.loc[f"repeat_{scanner}", "n_features"] == 944
        assert summary.loc[f"repeat_{scanner}", "n_rois"] == 18
        assert (rows["statistic"] == "ICC(A,1)").all()
    # the robust list only holds features repeatable on every scanner
    robust = set(pd.read_csv(tmp_path / "out" / "robust_features.csv")["feature"])
    excellent_everywhere = set.intersection(*[
        set(per_feature.loc[(per_feature["comparison"] == f"repeat_{s}") & per_feature["excellent"],
                            "feature"]) for s in "ABC"])
    assert robust and robust <= excellent_everywhere
    assert res.texture is None  # feature tables have no images to shuffle


CLASSES = ("firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm", "shape")
# The baselines were computed by pyradiomics 1.3 (their diagnostics_Versions_PyRadiomics row);
# the mesh-based shape features were computed differently before 2.0 (marching cubes of the
# mask), so for brain1 they differ by up to 0.1 % from 3.0.1, as they do when pyradiomics 3.0.1
# is called directly with the same settings. They are held to rtol 1e-3, everything else 1e-6.
MESH_FEATURES = {"original_shape_MeshVolume", "original_shape_SurfaceArea",
                 "original_shape_Sphericity", "original_shape_SurfaceVolumeRatio"}


def baseline(cases_dir, case):
    """Baseline values of ``case`` and the settings/image types pyradiomics used for them."""
    values, settings, types = {}, None, None
    for cls in CLASSES:
        table = pd.read_csv(cases_dir / f"baseline_{cls}.csv", index_col=0)
        column = table[case]
        s = ast.literal_eval(column["diagnostics_Configuration_Settings"])
        t = ast.literal_eval(column["diagnostics_Configuration_EnabledImageTypes"])
        assert settings in (None, s) and types in (None, t)
        settings, types = s, t
        feats = column[~column.index.str.startswith("diagnostics_")]
        values.update(pd.to_numeric(feats, errors="coerce").dropna().to_dict())
    return values, settings, types


@pytest.mark.parametrize("case", ["breast1", "brain1"])
def test_extraction_matches_pyradiomics_baseline(shared_data, tmp_path, case):
    cases_dir = shared_data / "radiomics" / "pyradiomics_cases"
    want, settings, types = baseline(cases_dir, case)
    # None means "pyradiomics' default"; its parameter-file schema wants the key left out
    params = {"setting": {k: v for k, v in settings.items() if v is not None},
              "imageType": types, "featureClass": {c: None for c in CLASSES}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    label = int(settings.get("label", 1))
    acq = {"image": str(cases_dir / f"{case}_image.nrrd"), "mask": str(cases_dir / f"{case}_label.nrrd"),
           "labels": [label]}
    (tmp_path / "study.yaml").write_text(yaml.safe_dump({
        "extraction": "params.yaml", "acquisitions": {"a": acq, "b": dict(acq)},
        "comparisons": [{"name": "same", "statistic": "icc", "acquisitions": ["a", "b"]}]}))
    res = run_study(tmp_path / "study.yaml", tmp_path / "out", n_jobs=1,
                    cache_dir=tmp_path / "cache", progress=False, texture=False, report=False)
    assert res.counts["extracted"] == 1  # the same content is extracted once
    got = res.features[res.features["acquisition"] == "a"].set_index("feature")["value"]
    common = sorted(set(want) & set(got.index))
    # every baseline feature is compared (107: 14 shape, 18 first order, 75 texture)
    assert len(common) == 107, len(common)
    loose = MESH_FEATURES if case == "brain1" else set()
    exact = [f for f in common if f not in loose]
    mesh = [f for f in common if f in loose]
    np.testing.assert_allclose(got[exact].to_numpy(), [want[f] for f in exact], rtol=1e-6,
                               err_msg=case)
    np.testing.assert_allclose(got[mesh].to_numpy(), [want[f] for f in mesh], rtol=1e-3,
                               err_msg=case)


def test_bundled_size_dependency_study_points_at_the_shared_tables(shared_data):
    from robustlab.radiomics.study import list_studies, load_study

    assert "size_dependency" in list_studies()
    study = load_study("size_dependency")
    src = (shared_data / "radiomics" / "size_dependency").resolve()
    assert {a.features for a in study.acquisitions.values()} == {
        src / f"output_pyradiomics_{s}_{r}.csv" for s in "ABC" for r in ("test", "retest")}
    assert [c.name for c in study.comparisons] == ["repeat_A", "repeat_B", "repeat_C"]
