"""Renderers that turn a reference photo and a motion into frames."""
