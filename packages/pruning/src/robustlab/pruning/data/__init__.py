"""Datasets of the sweep: procedural shapes on textures, ImageFolder and Pascal VOC."""
