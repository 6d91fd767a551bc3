"""Extraction with pyradiomics: work items, worker processes, cache, settings."""
