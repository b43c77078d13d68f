"""Rendering generated videos: frame grids (``grid.py``)."""
