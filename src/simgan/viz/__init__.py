"""Visualization: image grids (synthetic / refined / difference / real), curves, embeddings, the report.

Import from the submodules (``simgan.viz.grids``, ...).
"""
