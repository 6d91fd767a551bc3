"""Radiomic feature robustness: which MRI radiomic features can be trusted.

``robustlab.radiomics.pipeline.run_study`` runs a study file end to end (validation, cached
parallel pyradiomics extraction, ICC/CCC comparisons, shape dependence, the voxel-shuffling
texture test, the robust feature list, outputs and report); ``robustlab-radiomics`` is its
command line (``robustlab.radiomics.cli``). The digital phantom that writes simulated studies
lives in ``robustlab.radiomics.phantom``.
"""
