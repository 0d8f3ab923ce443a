"""Jinja2 prompt templates, one file per prompt family, with a stable fixed prefix."""
